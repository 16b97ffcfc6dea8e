"""Time series: gaps filled with a bounded look-ahead or held, linear resampling, a clip's frame rate,
a causal One-Euro filter for live streams.

The capture runs while the video is still being decoded, so each function that looks ahead
says how far: a ``*_settled`` companion gives how many leading frames of its answer are final,
that is, would not change if more frames were appended.
"""

from __future__ import annotations

import numpy as np


def trailing_run_start(flags: np.ndarray) -> int:
    """Where the trailing run of False in ``flags`` starts (``len(flags)`` when the last is True)."""
    true = np.flatnonzero(flags)
    return int(true[-1]) + 1 if len(true) else 0


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


def hold_gaps(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``values`` (T, ...) with every frame not ``known`` (T,) holding the last known value
    (leading ones the first known value): nothing moves where nothing was seen. Unchanged when
    nothing is known."""
    if not known.any():
        return np.array(values)
    last = np.maximum.accumulate(np.where(known, np.arange(len(known)), -1))
    last[last < 0] = np.argmax(known)
    return values[last]


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


def _smoothing(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    """The weight of a new sample in an exponential low-pass of ``cutoff`` Hz sampled ``dt`` s apart."""
    rate = 2 * np.pi * cutoff * dt
    return rate / (rate + 1)


class OneEuroFilter:
    """A causal One-Euro filter (Casiez, Roussel and Vogel, CHI 2012) over arrays of any fixed
    shape, each element filtered on its own, as in the paper.

    A low-pass whose cut-off rises with the signal's speed: ``min_cutoff`` (Hz) is the cut-off
    at rest, so a still joint's jitter is smoothed away; ``beta`` (Hz per unit/s) raises it with
    the (itself low-passed at ``d_cutoff`` Hz) speed, so a moving joint is followed with little
    lag. Each sample is weighted by its own timestamp, so uneven spacing and dropped frames are
    timed as they happened. Only samples already given shape an output: a later sample never
    changes an earlier output.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 1.0, d_cutoff: float = 1.0) -> None:
        if min_cutoff <= 0 or beta < 0 or d_cutoff <= 0:
            raise ValueError(f"One-Euro filter: min_cutoff and d_cutoff must be > 0 and beta >= 0, got {min_cutoff}, {beta}, {d_cutoff}")
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.reset()

    def reset(self) -> None:
        """Forget the past: the next sample is passed through as it is."""
        self._value: np.ndarray | None = None
        self._speed: np.ndarray | None = None
        self._time = 0.0

    def __call__(self, value: np.ndarray, time: float) -> np.ndarray:
        """The filtered ``value`` (a new array) at ``time`` seconds (later than the last sample's;
        a sample at the same time or earlier changes nothing and gets the last output)."""
        value = np.asarray(value, np.float64)
        if self._value is None:
            self._value, self._speed, self._time = value.copy(), np.zeros_like(value), time
            return value.copy()
        dt = time - self._time
        if dt <= 0:
            return self._value.copy()
        self._speed += _smoothing(self.d_cutoff, dt) * ((value - self._value) / dt - self._speed)
        cutoff = self.min_cutoff + self.beta * np.abs(self._speed)
        self._value += _smoothing(cutoff, dt) * (value - self._value)
        self._time = time
        return self._value.copy()
