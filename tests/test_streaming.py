"""Streaming: what a step calls final on the frames so far never changes when more frames come.

Each step of the capture says how many leading frames of its answer are final
(``*_settled``); the server streams those frames before the clip ends, so this is what makes
a streamed capture equal to ``engine mocap``'s.
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.lifting.hot import HoT, HoTConfig
from engine.lifting.inference import lift_sequence
from engine.lifting.streaming import WindowedLifting
from engine.pipeline.track import bridge_gaps, bridge_settled
from engine.pipeline.world import foot_lock_correction, lock_settled
from engine.timeseries import fill_gaps, fill_settled, hold_gaps

flags = st.lists(st.booleans(), min_size=2, max_size=80)


@settings(max_examples=200, deadline=None)
@given(known=flags, cut=st.floats(0.05, 1.0), horizon=st.integers(0, 12))
def test_filled_frames_called_final_stay_the_same(known, cut, horizon):
    known = np.array(known)
    values = np.random.default_rng(len(known)).normal(size=(len(known), 2))
    prefix = max(int(cut * len(known)), 1)
    settled = fill_settled(known[:prefix], horizon)
    early = fill_gaps(values[:prefix], known[:prefix], horizon)[:settled]
    np.testing.assert_array_equal(early, fill_gaps(values, known, horizon)[:settled])


def test_filling_interpolates_short_gaps_and_holds_then_eases_into_long_ones():
    values = np.arange(12.0)
    known = np.array([1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1], bool)
    filled = fill_gaps(values, known, horizon=3)
    np.testing.assert_allclose(filled[:5], [0, 1, 2, 3, 4])  # a 2-frame gap: interpolated
    np.testing.assert_allclose(filled[5:], [5, 5, 5, 5, 7, 9, 11])  # held, then 3 frames onto 11


def test_holding_keeps_the_last_seen_value_and_the_first_before_it():
    values = np.arange(8.0)
    known = np.array([0, 0, 1, 1, 0, 0, 1, 0], bool)
    np.testing.assert_array_equal(hold_gaps(values, known), [2, 2, 2, 3, 3, 3, 6, 6])


@settings(max_examples=200, deadline=None)
@given(detected=flags, cut=st.floats(0.05, 1.0))
def test_bridged_frames_called_final_stay_the_same(detected, cut):
    detected = np.array(detected)
    times = np.arange(len(detected)) / 10.0  # 10 fps: gaps up to 0.5 s are 4 missed frames
    keypoints = np.random.default_rng(len(detected)).uniform(size=(len(detected), 17, 3))
    keypoints[~detected] = 0.0
    prefix = max(int(cut * len(detected)), 1)
    settled = bridge_settled(detected[:prefix], times[:prefix])
    early = bridge_gaps(keypoints[:prefix], times[:prefix])
    late = bridge_gaps(keypoints, times)
    np.testing.assert_array_equal(early[0][:settled], late[0][:settled])
    np.testing.assert_array_equal(early[1][:settled], late[1][:settled])


def test_lifted_frames_called_final_stay_the_same_and_match_one_call():
    torch.manual_seed(0)
    model = HoT(HoTConfig(frames=27, dim=32, depth=2, heads=4, mlp_dim=64, prune_layer=1, n_tokens=9)).eval()
    keypoints = np.random.default_rng(0).uniform(-1, 1, size=(100, 17, 3))
    keypoints[..., 2] = 1.0
    lifting, finals = WindowedLifting(model), []
    for end in range(10, 101, 13):  # the last prefix is 88 frames long
        finals.append(lifting.extend(keypoints[:end]))
    whole = lifting.extend(keypoints, complete=True)
    assert len(finals[-1]) == 88 - 27  # a frame is final once a window's length after it has come
    for early in finals:
        np.testing.assert_allclose(early, whole[: len(early)], atol=1e-6)
    np.testing.assert_allclose(whole, lift_sequence(model, keypoints), atol=1e-5)


@settings(max_examples=100, deadline=None)
@given(planted=st.lists(st.tuples(st.booleans(), st.booleans()), min_size=3, max_size=60), cut=st.floats(0.1, 1.0))
def test_foot_lock_corrections_called_final_stay_the_same(planted, cut):
    planted = np.array(planted)
    feet = np.random.default_rng(len(planted)).normal(scale=0.05, size=(len(planted), 2, 3)).cumsum(axis=0)
    prefix = max(int(cut * len(planted)), 2)
    settled = lock_settled(planted[: prefix - 1], horizon=5)  # the last frame's contact is not final yet
    early = foot_lock_correction(feet[:prefix], planted[:prefix], 1.0, horizon=5)[:settled]
    np.testing.assert_allclose(early, foot_lock_correction(feet, planted, 1.0, horizon=5)[:settled], atol=1e-12)
