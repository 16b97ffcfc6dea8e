"""The causal One-Euro filter (engine.timeseries.OneEuroFilter): smoothing, lag, causality, timing."""

from __future__ import annotations

import numpy as np
import pytest

from engine.pipeline.settings import LIVE_BETA, LIVE_MIN_CUTOFF_HZ
from engine.timeseries import OneEuroFilter

FPS = 30.0


def _filtered(values: np.ndarray, min_cutoff: float = 1.0, beta: float = 0.0, times: np.ndarray | None = None) -> np.ndarray:
    times = np.arange(len(values)) / FPS if times is None else times
    euro = OneEuroFilter(min_cutoff, beta)
    return np.stack([euro(v, t) for v, t in zip(values, times)])


def test_a_still_joints_jitter_is_smoothed_away():
    rng = np.random.default_rng(0)
    still = np.array([0.1, 1.0, 3.0]) + rng.normal(0, 0.02, (300, 17, 3))  # 2 cm of jitter on 17 still joints
    jitter = still.std(axis=0).mean()
    live = _filtered(still, LIVE_MIN_CUTOFF_HZ, LIVE_BETA)[30:]  # engine live's defaults, past the first second
    assert live.shape == (270, 17, 3) and live.std(axis=0).mean() < 0.55 * jitter
    np.testing.assert_allclose(live.mean(axis=(0, 1)), [0.1, 1.0, 3.0], atol=0.005)
    assert _filtered(still, LIVE_MIN_CUTOFF_HZ, beta=0.0)[30:].std(axis=0).mean() < 0.3 * jitter  # all smoothing, no speed


def test_a_step_is_followed_with_less_lag_at_a_higher_beta():
    step = np.r_[np.zeros(30), np.ones(60)][:, None]  # a joint jumps 1 m and stays
    frames_to_90_percent = {}
    for beta in (0.0, 8.0):
        out = _filtered(step, min_cutoff=0.5, beta=beta)[30:, 0]
        frames_to_90_percent[beta] = int(np.argmax(out >= 0.9))
    assert frames_to_90_percent[8.0] <= 2 < 10 < frames_to_90_percent[0.0]


def test_a_later_input_never_changes_an_earlier_output():
    rng = np.random.default_rng(1)
    values = rng.normal(size=(50, 4))
    changed = values.copy()
    changed[30:] += rng.normal(size=(20, 4)) * 5
    np.testing.assert_array_equal(_filtered(values, 1.0, 2.0)[:30], _filtered(changed, 1.0, 2.0)[:30])


def test_the_samples_own_timestamps_weigh_them_so_a_dropped_frame_counts_as_time_passed():
    euro, late = OneEuroFilter(1.0, 0.0), OneEuroFilter(1.0, 0.0)
    euro(np.zeros(1), 0.0), late(np.zeros(1), 0.0)
    after_one_frame = euro(np.ones(1), 1 / FPS)[0]
    after_three_frames = late(np.ones(1), 3 / FPS)[0]  # two frames dropped in between: the step is further along
    assert 0 < after_one_frame < after_three_frames < 1
    assert euro(np.full(1, 5.0), 1 / FPS)[0] == after_one_frame  # a sample no later than the last changes nothing


def test_reset_forgets_the_past_and_bad_parameters_are_refused():
    euro = OneEuroFilter(1.0, 1.0)
    euro(np.zeros(3), 0.0)
    euro.reset()
    np.testing.assert_array_equal(euro(np.ones(3), 1.0), np.ones(3))  # the first sample after a reset passes through
    for bad in ({"min_cutoff": 0.0}, {"beta": -1.0}, {"d_cutoff": 0.0}):
        with pytest.raises(ValueError, match="One-Euro"):
            OneEuroFilter(**bad)
