"""SMPL24 rotations from a mocap skeleton's rotations, by rotation transfer with rest alignment.

Each SMPL joint is driven by one source joint (the first one its correspondence names):
its world rotation is the driver's world rotation times a fixed alignment ``A_j``, the
smallest rotation taking SMPL's rest bone direction onto the source's rest bone direction
(joints with one child; identity otherwise). Bones then point where the source's bones
point, and twist follows the driver.

Assumes the source's zero pose is a rest pose in SMPL's world frame (y up, facing +z), as
in the CMU 31-joint files; skeletons whose zero pose is not need their own rest alignment.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from engine.body.correspondence import Correspondence, map_positions
from engine.body.joints import SMPL24
from engine.body.kinematics import forward_kinematics_np, positions_from_offsets
from engine.io.bvh import Bvh


def _alignments(source_rest: np.ndarray, target_rest: np.ndarray) -> np.ndarray:
    """Per-joint rotation matrices (24, 3, 3) taking target rest bones onto source rest bones."""
    aligned = np.broadcast_to(np.eye(3), (len(SMPL24), 3, 3)).copy()
    for j, kids in enumerate(SMPL24.children):
        if len(kids) == 1:
            rotation, _ = Rotation.align_vectors(
                [source_rest[kids[0]] - source_rest[j]], [target_rest[kids[0]] - target_rest[j]]
            )
            aligned[j] = rotation.as_matrix()
    return aligned


def retarget_bvh(
    bvh: Bvh, correspondence: Correspondence, rest_joints: np.ndarray, unit_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """SMPL poses (T, 72) axis-angle and trans (T, 3) metres from a BVH clip.

    ``rest_joints`` (24, 3) is the SMPL rest skeleton to drive, ``unit_m`` the file's unit
    in metres. The pelvis follows the source's pelvis position.
    """
    drivers = [bvh.names.index(correspondence[name][0][0]) for name in SMPL24.names]
    rest_source = positions_from_offsets(bvh.offsets, bvh.parents)
    align = _alignments(map_positions(rest_source, bvh.names, correspondence), rest_joints)

    source_joints, source_global = forward_kinematics_np(
        bvh.local_rotations(), positions_from_offsets(bvh.local_offsets(), bvh.parents), parents=bvh.parents, rep="matrix"
    )
    world = source_global[:, drivers] @ align  # (T, 24, 3, 3)
    parent_world = world[:, [max(p, 0) for p in SMPL24.parents]]
    local = np.swapaxes(parent_world, -1, -2) @ world
    local[:, 0] = world[:, 0]
    poses = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_rotvec().reshape(len(local), -1)
    pelvis = map_positions(source_joints, bvh.names, correspondence)[:, 0] * unit_m
    return poses.astype(np.float32), (pelvis - rest_joints[0]).astype(np.float32)
