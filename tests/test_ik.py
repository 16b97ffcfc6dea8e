"""Analytic IK: H36M17 positions → SMPL24 rotations whose FK points every limb where it was seen."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from engine.body.ik import fit_rest_skeleton, h36m_from_smpl, solve_ik
from engine.body.joints import H36M17, SMPL24
from engine.body.kinematics import forward_kinematics_np

S = SMPL24.index
HINGES = {"l_knee": [1.0, 0, 0], "r_knee": [1.0, 0, 0], "l_elbow": [0, -1.0, 0], "r_elbow": [0, 1.0, 0]}


def _reachable_poses(frames: int, seed: int = 0) -> np.ndarray:
    """Random SMPL poses (T, 24, 3) a body can take: knees and elbows only fold, by 0.3-2 rad."""
    rng = np.random.default_rng(seed)
    poses = rng.normal(0, 0.15, (frames, 24, 3))
    poses[:, 0] = Rotation.random(frames, random_state=seed).as_rotvec()
    for joint in ("l_hip", "r_hip", "l_shoulder", "r_shoulder"):
        poses[:, S(joint)] = rng.normal(0, 0.6, (frames, 3))
    for joint, axis in HINGES.items():
        poses[:, S(joint)] = np.outer(rng.uniform(0.3, 2.0, frames), axis)
    return poses


def _bones(joints: np.ndarray, names: list[tuple[str, str]]) -> np.ndarray:
    return np.stack([joints[:, H36M17.index(b)] - joints[:, H36M17.index(a)] for a, b in names], 1)


def test_ik_points_every_limb_where_it_was_seen(rest_joints):
    poses = _reachable_poses(200)
    joints, world = forward_kinematics_np(poses, rest_joints)
    seen = h36m_from_smpl(joints, world, rest_joints)
    fitted = fit_rest_skeleton(seen, rest_joints)

    local, trans = solve_ik(seen, fitted)
    again, again_world = forward_kinematics_np(local, fitted, trans, rep="matrix")
    back = h36m_from_smpl(again, again_world, fitted)
    limbs = [
        (f"{s}_{a}", f"{s}_{b}") for s in "lr" for a, b in (("hip", "knee"), ("knee", "ankle"), ("shoulder", "elbow"), ("elbow", "wrist"))
    ]
    a, b = _bones(back, limbs), _bones(seen, limbs)
    cos = np.sum(a * b, -1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 1.0
    torso = [("pelvis", "thorax"), ("r_hip", "l_hip"), ("r_shoulder", "l_shoulder"), ("thorax", "head"), ("head", "neck")]
    a, b = _bones(back, torso), _bones(seen, torso)
    cos = np.sum(a * b, -1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    print(f"\ntorso bone directions: mean {np.degrees(np.arccos(np.clip(cos, -1, 1))).mean():.2f}°")
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))).mean() < 3.0


def test_knees_and_elbows_come_back_as_pure_hinges(rest_joints):
    poses = _reachable_poses(100, seed=1)
    joints, world = forward_kinematics_np(poses, rest_joints)
    local, _ = solve_ik(h36m_from_smpl(joints, world, rest_joints), rest_joints)
    for joint, axis in HINGES.items():
        rotvec = Rotation.from_matrix(local[:, S(joint)]).as_rotvec()
        np.testing.assert_allclose(rotvec, np.outer(np.linalg.norm(rotvec, axis=1), axis), atol=1e-6)
        np.testing.assert_allclose(np.linalg.norm(rotvec, axis=1), np.linalg.norm(poses[:, S(joint)], axis=1), atol=1e-4)


def test_bone_lengths_are_fitted_to_the_clip(rest_joints):
    poses = _reachable_poses(50, seed=2)
    bigger = rest_joints * 1.1
    joints, world = forward_kinematics_np(poses, bigger)
    fitted = fit_rest_skeleton(h36m_from_smpl(joints, world, bigger), rest_joints)
    limbs = [S(f"{s}_{j}") for s in "lr" for j in ("knee", "ankle", "elbow", "wrist")]
    lengths = lambda rest: np.linalg.norm(rest[limbs] - rest[[SMPL24.parents[j] for j in limbs]], axis=-1)  # noqa: E731
    np.testing.assert_allclose(lengths(fitted), lengths(bigger), rtol=1e-6)  # limbs exactly
    # The torso bends from frame to frame, so its length is a median: within 2 %.
    np.testing.assert_allclose(fitted[S("neck")] - fitted[0], bigger[S("neck")] - bigger[0], rtol=0.02, atol=0.005)


def test_a_leg_reaches_a_target_in_reach_exactly_and_nothing_else_moves(rest_joints):
    from engine.body.ik import reach_with_leg

    rng = np.random.default_rng(0)
    pose = rng.normal(scale=0.3, size=(100, 24, 3))
    pose[:, SMPL24.index("l_knee")] = [0.8, 0.0, 0.0]  # bent, so nearby targets are in reach
    local = Rotation.from_rotvec(pose.reshape(-1, 3)).as_matrix().reshape(100, 24, 3, 3)
    trans = rng.normal(size=(100, 3))
    joints, world = forward_kinematics_np(local, rest_joints, trans, rep="matrix")
    ankle = SMPL24.index("l_ankle")
    target = joints[:, ankle] + rng.normal(scale=0.03, size=(100, 3))
    moved, moved_world = forward_kinematics_np(reach_with_leg(local, rest_joints, trans, "l", target), rest_joints, trans, rep="matrix")
    hip, knee = SMPL24.index("l_hip"), SMPL24.index("l_knee")
    leg = np.linalg.norm(rest_joints[knee] - rest_joints[hip]) + np.linalg.norm(rest_joints[ankle] - rest_joints[knee])
    reachable = np.linalg.norm(target - joints[:, hip], axis=-1) < leg - 1e-3
    assert reachable.sum() > 90
    np.testing.assert_allclose(moved[reachable, ankle], target[reachable], atol=1e-9)
    untouched = [j for j in range(24) if j not in (SMPL24.index("l_knee"), ankle, SMPL24.index("l_foot"))]
    np.testing.assert_allclose(moved[:, untouched], joints[:, untouched], atol=1e-12)
    np.testing.assert_allclose(moved_world[:, ankle], world[:, ankle], atol=1e-12)  # the foot keeps its orientation
