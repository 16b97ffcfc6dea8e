"""Pose and motion metrics, each against a case worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from engine.body.joints import H36M17, SMPL24
from engine.eval.metrics import (
    accel_error,
    bone_length_std,
    end_joint_mpjpe,
    foot_skate,
    jitter,
    mpjpe,
    n_mpjpe,
    pa_mpjpe,
    per_joint_error,
    root_relative,
)

# A two-joint skeleton: root at the origin, child 1 m above it; three frames.
TWO_JOINTS = np.tile([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]], (3, 1, 1))


def random_poses(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 0.3, (*shape, 3))


def test_mpjpe_of_a_translated_copy_is_the_translation_length():
    assert mpjpe(TWO_JOINTS + [0.03, 0.04, 0.0], TWO_JOINTS) == pytest.approx(0.05)


def test_mpjpe_mask_drops_missing_joints_and_weights_the_rest():
    pred = TWO_JOINTS.copy()
    pred[:, 1] += [0.0, 0.0, 0.2]
    assert mpjpe(pred, TWO_JOINTS) == pytest.approx(0.1)
    assert mpjpe(pred, TWO_JOINTS, mask=np.tile([True, False], (3, 1))) == 0.0
    assert mpjpe(pred, TWO_JOINTS, mask=np.tile([1.0, 3.0], (3, 1))) == pytest.approx(0.15)
    with pytest.raises(ValueError):
        mpjpe(pred, TWO_JOINTS, mask=np.zeros((3, 2)))


def test_metrics_reject_mismatched_shapes():
    with pytest.raises(ValueError):
        mpjpe(TWO_JOINTS, TWO_JOINTS[:2])


def test_root_relative_moves_the_root_to_the_origin():
    shifted = root_relative(TWO_JOINTS + [1.0, 2.0, 3.0])
    np.testing.assert_allclose(shifted, TWO_JOINTS)


def test_n_mpjpe_ignores_scale_but_not_shape():
    gt = random_poses((4, 17))
    assert mpjpe(0.8 * gt, gt) > 0.01
    assert n_mpjpe(0.8 * gt, gt) == pytest.approx(0.0, abs=1e-12)
    # Least-squares scale <pred, gt> / <pred, pred> = 2 / 4 maps pred to (1,0,0), (0,0,0).
    pred = np.array([[[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]]])
    gt = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    assert n_mpjpe(pred, gt) == pytest.approx(0.5)


def test_pa_mpjpe_is_zero_for_a_per_frame_rotated_scaled_translated_copy():
    gt = random_poses((2, 5, 17))
    rotations = Rotation.random(10, random_state=1).as_matrix().reshape(2, 5, 1, 3, 3)
    scales = np.linspace(0.5, 2.0, 10).reshape(2, 5, 1, 1)
    translations = np.random.default_rng(2).normal(0.0, 1.0, (2, 5, 1, 3))
    pred = scales * (rotations @ gt[..., None])[..., 0] + translations
    assert mpjpe(pred, gt) > 0.1
    assert pa_mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-9)


def test_pa_mpjpe_does_not_undo_a_mirror_image():
    # Joints on the axes at +-3, +-2, +-1 m, mirrored in x. The best proper rotation turns the
    # z axis over (the smallest extent); the least-squares scale is then
    # (18 + 8 - 2) / (18 + 8 + 2) = 6/7, giving errors (1/7) * 3, (1/7) * 2 and (13/7) * 1
    # for the x, y and z pairs: mean (6 + 4 + 26) / 7 / 6 = 6/7.
    gt = np.array([[[3, 0, 0], [-3, 0, 0], [0, 2, 0], [0, -2, 0], [0, 0, 1], [0, 0, -1]]], dtype=float)
    mirrored = gt * [-1.0, 1.0, 1.0]
    assert pa_mpjpe(mirrored, gt) == pytest.approx(6 / 7)


def test_per_joint_error_averages_each_joint_over_frames():
    gt = np.zeros((2, 3, 3))
    pred = gt.copy()
    pred[0, 1, 0], pred[1, 1, 2] = 0.1, 0.3
    np.testing.assert_allclose(per_joint_error(pred, gt), [0.0, 0.2, 0.0])


@pytest.mark.parametrize(("joint_set", "ends"), [(H36M17, [3, 6, 13, 16]), (SMPL24, [7, 8, 20, 21])], ids=["H36M17", "SMPL24"])
def test_end_joint_mpjpe_sees_only_wrists_and_ankles(joint_set, ends):
    gt = random_poses((3, len(joint_set)))
    pred = gt + [1.0, 0.0, 0.0]
    pred[:, ends] = gt[:, ends] + [0.0, 0.04, 0.0]
    assert end_joint_mpjpe(pred, gt, joint_set) == pytest.approx(0.04)


def test_accel_error_of_constant_acceleration_against_constant_velocity_is_the_acceleration():
    t = np.arange(6.0)[:, None, None]
    gt = TWO_JOINTS[:1] + t * [0.1, 0.0, 0.0]  # constant velocity: zero acceleration
    pred = gt + 0.5 * 0.02 * t**2 * [0.0, 0.0, 1.0]  # 0.02 m/frame^2 along z
    assert accel_error(pred, gt) == pytest.approx(0.02)
    assert accel_error(pred, gt, fps=30.0) == pytest.approx(0.02 * 900)
    assert accel_error(pred + t * [0.0, 0.5, 0.0], pred) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError):
        accel_error(pred[:2], gt[:2])


def test_bone_length_std_of_a_bone_alternating_between_two_lengths():
    # Bone 0-1 stays 0.5 m while it swings; bone 1-2 alternates 1.0 / 1.2 m: stds 0 and 0.1.
    angles = np.linspace(0.0, 1.0, 6)
    swing = np.stack([np.sin(angles), np.cos(angles), np.zeros(6)], axis=-1)
    lengths = np.array([1.0, 1.2] * 3)[:, None]
    hip = 0.5 * swing
    joints = np.stack([np.zeros((6, 3)), hip, hip + lengths * swing], axis=1)
    assert bone_length_std(joints, (-1, 0, 1)) == pytest.approx(0.05)


def sliding_feet(velocity: list[float], fps: float = 30.0, frames: int = 5) -> np.ndarray:
    """Joints (T, 3, 3): joint 0 static, joint 1 (foot) moving at ``velocity`` m/s, joint 2 static foot."""
    joints = np.zeros((frames, 3, 3))
    joints[:, 1] = np.arange(frames)[:, None] / fps * np.asarray(velocity)
    joints[:, 2] = [0.2, 0.0, 0.0]
    return joints


def test_foot_skate_of_a_foot_sliding_at_one_metre_per_second_in_contact():
    contacts = np.tile([1.0, 0.0], (5, 1))
    assert foot_skate(sliding_feet([1.0, 0.0, 0.0]), contacts, [1, 2], fps=30.0) == pytest.approx(1.0)
    both_planted = np.ones((5, 2), dtype=bool)
    assert foot_skate(sliding_feet([1.0, 0.0, 0.0]), both_planted, [1, 2], fps=30.0) == pytest.approx(0.5)


def test_foot_skate_ignores_a_sliding_foot_that_is_lifted():
    contacts = np.tile([0.2, 0.9], (5, 1))  # sliding foot in the air, static foot planted
    assert foot_skate(sliding_feet([1.0, 0.0, 0.0]), contacts, [1, 2], fps=30.0) == 0.0


def test_foot_skate_measures_only_horizontal_speed():
    contacts = np.tile([1.0, 0.0], (5, 1))
    assert foot_skate(sliding_feet([0.6, 2.0, 0.8]), contacts, [1, 2], fps=30.0) == pytest.approx(1.0)


def test_foot_skate_is_nan_without_contact_frames():
    assert np.isnan(foot_skate(sliding_feet([1.0, 0.0, 0.0]), np.zeros((5, 2)), [1, 2], fps=30.0))


def test_jitter_of_a_cubic_trajectory_is_its_constant_jerk():
    fps = 10.0
    t = np.arange(8.0)[:, None, None] / fps
    cubic = TWO_JOINTS[:1] + t**3 * [0.0, 0.0, 1.0]  # z = t^3: jerk 6 m/s^3
    assert jitter(cubic, fps) == pytest.approx(6.0)
    parabola = TWO_JOINTS[:1] + t**2 * [1.0, 0.0, 0.0]
    assert jitter(parabola, fps) == pytest.approx(0.0, abs=1e-9)
