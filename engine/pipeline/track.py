"""Detections over time: short gaps bridged, long gaps marked, variable frame rates made uniform.

The capture runs while the video is still being decoded, so each function that looks ahead
says how far: a ``*_settled`` companion gives how many leading frames of its answer are final,
that is, would not change if more frames were appended.
"""

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


def trailing_run_start(flags: np.ndarray) -> int:
    """Where the trailing run of False in ``flags`` starts (``len(flags)`` when the last is True)."""
    true = np.flatnonzero(flags)
    return int(true[-1]) + 1 if len(true) else 0


def bridge_settled(detected: np.ndarray, times: np.ndarray, max_gap_s: float = MAX_BRIDGED_GAP_S) -> int:
    """How many leading frames of :func:`bridge_gaps`' answer are final: all but a trailing
    run of missed frames that is not yet known to be long."""
    start = trailing_run_start(detected)
    if start in (0, len(detected)) or times[-1] - times[start - 1] > max_gap_s:
        return len(detected)
    return start


def fill_gaps(values: np.ndarray, known: np.ndarray, horizon: int) -> np.ndarray:
    """``values`` (T, ...) with the frames not ``known`` (T,) filled from the known ones, looking
    at most ``horizon`` frames ahead: an unknown frame holds the last known value and, over the
    ``horizon`` frames before the next known one, moves linearly onto it (so gaps up to
    ``horizon`` long are interpolated). Leading unknown frames take the first known value when
    it is within ``horizon``; frames with nothing known in reach keep their values."""
    out = np.array(values, dtype=np.float64)
    frames = np.arange(len(values))
    if known.all() or not known.any():
        return out
    before = np.maximum.accumulate(np.where(known, frames, -1))
    after = np.minimum.accumulate(np.where(known, frames, len(values))[::-1])[::-1]
    unknown = ~known
    reach = unknown & (after < len(values)) & (after - frames <= horizon)
    hold = unknown & ~reach & (before >= 0)
    out[hold] = out[before[hold]]
    lead = reach & (before < 0)
    out[lead] = out[after[lead]]
    blend = reach & (before >= 0)
    start = np.maximum(before, after - horizon)[blend]
    fraction = ((frames[blend] - start) / (after[blend] - start)).reshape((-1,) + (1,) * (out.ndim - 1))
    out[blend] = out[before[blend]] + fraction * (out[after[blend]] - out[before[blend]])
    return out


def fill_settled(known: np.ndarray, horizon: int) -> int:
    """How many leading frames of :func:`fill_gaps`' answer are final."""
    start = trailing_run_start(known)
    return max(start, len(known) - horizon)


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
