"""Joint sets, the default rest skeleton, kinematics and rotation transfer from mocap."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from engine.body.correspondence import SkeletonError, find_landmarks, side_and_stem
from engine.body.joints import H36M17, SMPL24
from engine.body.kinematics import forward_kinematics, forward_kinematics_np
from engine.body.retarget import bone_direction_error, retarget_bvh
from engine.decoding.representation import TWIST_JOINTS, to_representation
from engine.io.bvh import read_bvh
from tests.paths import MOCAP, needs_mocap


def test_joint_sets_follow_design_conventions():
    assert H36M17.parents == (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
    assert len(SMPL24) == 24 and SMPL24.names[12] == "neck" and SMPL24.parents[15] == 12
    for joints in (H36M17, SMPL24):
        for left, right in joints.flip_pairs:
            assert joints.names[left].replace("l_", "r_", 1) == joints.names[right]
        perm = joints.flip_permutation
        assert sorted(perm) == list(range(len(joints))) and [perm[i] for i in perm] == list(range(len(joints)))
    assert len(SMPL24.flip_pairs) == 9 and len(H36M17.flip_pairs) == 6


def test_default_skeleton_is_a_mirrored_adult_t_pose(rest_joints):
    assert rest_joints.shape == (24, 3) and not rest_joints[0].any()
    mirrored = rest_joints[SMPL24.flip_permutation] * [-1, 1, 1]
    np.testing.assert_allclose(mirrored, rest_joints, atol=1e-5)
    head_to_ankle = rest_joints[SMPL24.index("head"), 1] - rest_joints[SMPL24.index("l_ankle"), 1]
    assert 1.3 < head_to_ankle < 1.7
    arms = rest_joints[[SMPL24.index(n) for n in ("l_shoulder", "l_elbow", "l_wrist", "l_hand")]]
    assert np.ptp(arms[:, 1]) < 1e-6 and np.all(np.diff(arms[:, 0]) > 0)  # straight out to the left (+x)


def test_torch_and_numpy_fk_agree_for_every_representation(rest_joints):
    rng = np.random.default_rng(0)
    rotvecs = rng.normal(0, 0.6, (4, 8, 24, 3))
    trans = rng.normal(0, 1, (4, 8, 3))
    expected, expected_rot = forward_kinematics_np(rotvecs, rest_joints, trans)
    joints, global_rot = forward_kinematics(torch.tensor(rotvecs), torch.tensor(rest_joints), torch.tensor(trans))
    np.testing.assert_allclose(joints.numpy(), expected, atol=1e-10)
    np.testing.assert_allclose(global_rot.numpy(), expected_rot, atol=1e-10)
    matrices = global_rot.new_tensor(forward_kinematics_np(rotvecs, rest_joints, rep="axis_angle")[1])
    local = matrices.clone()
    local[..., 1:, :, :] = matrices[..., list(SMPL24.parents[1:]), :, :].transpose(-1, -2) @ matrices[..., 1:, :, :]
    as_matrix, _ = forward_kinematics(local, torch.tensor(rest_joints), torch.tensor(trans), rep="matrix")
    as_6d, _ = forward_kinematics(local[..., :2].flatten(-2), torch.tensor(rest_joints), torch.tensor(trans), rep="6d")
    np.testing.assert_allclose(as_matrix.numpy(), expected, atol=1e-9)
    np.testing.assert_allclose(as_6d.numpy(), expected, atol=1e-9)


def test_zero_pose_is_the_rest_skeleton_moved_by_trans(rest_joints):
    joints, _ = forward_kinematics_np(np.zeros((2, 24, 3)), rest_joints, np.array([[0, 0, 0], [1, 2, 3]]))
    np.testing.assert_allclose(joints[0], rest_joints)
    np.testing.assert_allclose(joints[1], rest_joints + [1, 2, 3])


def test_mismatched_tree_is_refused(rest_joints):
    with pytest.raises(ValueError, match="24 joints in the tree, rotations for 17"):
        forward_kinematics_np(np.zeros((1, 17, 3)), rest_joints)


@needs_mocap
@pytest.mark.parametrize("clip", ["cmu/02_01", "cmu/05_01", "cmu/05_02", "cmu/16_01", "bandai2/dataset-2_walk_normal_002"])
def test_retargeted_rotations_reproduce_source_bone_directions(rest_joints, clip):
    """Every skeleton variant: FK of the SMPL rotations points each bone where the source's does."""
    poses, trans, targets = retarget_bvh(read_bvh(MOCAP / f"{clip}.bvh.gz"), rest_joints, unit_m=0.01)
    ours, _ = forward_kinematics_np(poses.reshape(len(poses), 24, 3), rest_joints, trans)
    np.testing.assert_allclose(ours[:, 0], targets[:, 0], atol=1e-5)
    angles = bone_direction_error(ours, targets)
    limbs = [SMPL24.index(n) - 1 for n in ("l_knee", "r_ankle", "l_elbow", "r_wrist", "head", "neck")]
    print(f"\n{clip}: mean bone direction error {angles.mean():.2f}°")
    assert angles[:, limbs].max() < 0.01 and angles.mean() < 1.0


@needs_mocap
@pytest.mark.parametrize("clip", ["bandai2/dataset-2_run_active_001", "bandai2/dataset-2_walk_normal_024", "cmu/06_06", "cmu/02_01"])
def test_retargeted_thighs_are_not_turned_about_themselves_when_the_first_frame_faces_away(rest_joints, clip):
    """Where a skeleton's zero pose is not a person's, its first frame is the reference; a walk's
    first frame facing away once turned every frame's thighs 180° about themselves (the knees
    still bending the right way, the ankles turning the feet back)."""
    poses, _, _ = retarget_bvh(read_bvh(MOCAP / f"{clip}.bvh.gz"), rest_joints, unit_m=0.01)
    local = Rotation.from_rotvec(poses.reshape(-1, 3)).as_matrix().reshape(len(poses), 24, 3, 3)
    twists = to_representation(local, rest_joints)[1]
    for joint in ("l_hip", "r_hip", "l_ankle", "r_ankle"):
        cos, sin = twists[:, TWIST_JOINTS.index(SMPL24.index(joint))].T
        assert np.percentile(np.degrees(np.abs(np.arctan2(sin, cos))), 95) < 60, joint
    ankles = np.linalg.norm(poses.reshape(len(poses), 24, 3)[:, [SMPL24.index("l_ankle"), SMPL24.index("r_ankle")]], axis=-1)
    assert np.degrees(np.median(ankles)) < 45


def test_skeletons_are_recognised_by_their_names():
    assert side_and_stem("mixamorig:LeftForeArm") == ("l", "forearm")
    assert side_and_stem("lShin") == ("l", "shin") and side_and_stem("UpperArm_R") == ("r", "upperarm")
    assert side_and_stem("lfemur") == ("l", "femur") and side_and_stem("lowerback") == (None, "lowerback")
    names = [
        "Hips",
        "Spine",
        "Chest",
        "Neck",
        "Head",
        "LeftShoulder",
        "LeftArm",
        "LeftForeArm",
        "LeftHand",
        "RightShoulder",
        "RightArm",
        "RightForeArm",
        "RightHand",
        "LeftUpLeg",
        "LeftLeg",
        "LeftFoot",
        "LeftToeBase",
        "RightUpLeg",
        "RightLeg",
        "RightFoot",
        "RightToeBase",
    ]
    parents = [-1, 0, 1, 2, 3, 2, 5, 6, 7, 2, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19]
    lm = find_landmarks(names, parents)
    assert (lm.pelvis, lm.chest, lm.neck_base, lm.head) == (0, 2, 3, 4)
    assert lm.knee == {"l": 14, "r": 18} and lm.wrist == {"l": 8, "r": 12} and lm.collar == {"l": 5, "r": 9}
    with pytest.raises(SkeletonError, match="no joint for l elbow"):
        find_landmarks([n.replace("LeftForeArm", "LeftThing") for n in names], parents)
