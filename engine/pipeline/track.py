"""Detections over time: short gaps bridged between their neighbours, long gaps marked.

:func:`bridge_settled` says how many leading frames of :func:`bridge_gaps`' answer are final
(would not change if more frames were appended), as the capture runs while the video is still
being decoded.
"""

from __future__ import annotations

import numpy as np

from engine.timeseries import trailing_run_start

MAX_BRIDGED_GAP_S = 0.5  # longer runs of missed frames are marked, never filled with invented motion


def missed_runs(detected: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of every run of frames with no detection."""
    padded = np.r_[True, detected, True]
    starts = np.flatnonzero(padded[:-1] & ~padded[1:])
    ends = np.flatnonzero(~padded[:-1] & padded[1:])
    return list(zip(starts, ends))


def bridge_gaps(keypoints: np.ndarray, times: np.ndarray, max_gap_s: float = MAX_BRIDGED_GAP_S) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints (T, J, 3: u, v, confidence) with short runs of missed frames (all confidences
    zero) interpolated between their neighbours at half their confidence, and a mask (T,) of
    the frames left in long gaps (still zero confidence)."""
    out = keypoints.copy()
    detected = keypoints[..., 2].max(axis=1) > 0
    in_long_gap = np.zeros(len(keypoints), bool)
    for start, end in missed_runs(detected):
        inside = start > 0 and end < len(keypoints)
        if inside and times[end] - times[start - 1] <= max_gap_s:
            t = (times[start:end] - times[start - 1]) / (times[end] - times[start - 1])
            a, b = keypoints[start - 1], keypoints[end]
            out[start:end, :, :2] = a[:, :2] + t[:, None, None] * (b[:, :2] - a[:, :2])
            out[start:end, :, 2] = 0.5 * np.minimum(a[:, 2], b[:, 2])
        else:
            in_long_gap[start:end] = True
    return out, in_long_gap


def bridge_settled(detected: np.ndarray, times: np.ndarray, max_gap_s: float = MAX_BRIDGED_GAP_S) -> int:
    """How many leading frames of :func:`bridge_gaps`' answer are final: all but a trailing
    run of missed frames that is not yet known to be long."""
    start = trailing_run_start(detected)
    if start in (0, len(detected)) or times[-1] - times[start - 1] > max_gap_s:
        return len(detected)
    return start
