"""Detections over time: short gaps bridged, long gaps marked, variable frame rates made uniform."""

from __future__ import annotations

import numpy as np

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


def uniform_rate(times: np.ndarray) -> tuple[float, bool]:
    """The clip's frame rate (from the median frame interval) and whether its frames are
    already evenly spaced (within 5 % of that interval)."""
    if len(times) < 2:
        return 30.0, True
    step = float(np.median(np.diff(times)))
    return round(1.0 / step, 3), bool(np.abs(np.diff(times) - step).max() < 0.05 * step)


def interpolate(values: np.ndarray, times: np.ndarray, new_times: np.ndarray) -> np.ndarray:
    """``values`` (T, ...) given at ``times``, linearly at ``new_times`` (held beyond the ends;
    exact at the given times, unlike scipy's interp1d)."""
    flat = values.reshape(len(values), -1)
    out = np.stack([np.interp(new_times, times, flat[:, i]) for i in range(flat.shape[1])], axis=1)
    return out.reshape((len(new_times),) + values.shape[1:])


def resample(values: np.ndarray, times: np.ndarray, fps: float) -> np.ndarray:
    """``values`` (T, ...) at times ``0, 1/fps, ...`` up to the last time (linear)."""
    return interpolate(values, times, np.arange(0.0, times[-1] + 0.5 / fps, 1.0 / fps))
