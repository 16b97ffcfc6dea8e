"""Batched forward kinematics on any joint tree, in torch (roma) and numpy (scipy).

Conventions (DESIGN.md): rotations are parent-relative, the first joint's rotation is the
global orientation, and a joint's rotation turns the bones that hang below it. Posed joint
``j`` sits at ``p_parent + G_parent @ (rest_j - rest_parent)`` with ``G_j = G_parent @ R_j``;
the root sits at ``rest_0 + trans``, exactly as in SMPL.
"""

from __future__ import annotations

from typing import Callable, Literal, Sequence, TypeVar

import numpy as np
import roma
import torch
from scipy.spatial.transform import Rotation

from engine.body.joints import SMPL24

Rep = Literal["axis_angle", "6d", "matrix"]
Array = TypeVar("Array", np.ndarray, torch.Tensor)


def rotmats_from(rotations: torch.Tensor, rep: Rep) -> torch.Tensor:
    """Rotation matrices (..., J, 3, 3) from per-joint rotations.

    ``axis_angle``: (..., J, 3) rotation vectors. ``6d``: (..., J, 6), the first two columns
    of the rotation matrix, i.e. ``R[..., :, :2]`` flattened row-major (Zhou et al. 2019),
    orthonormalised by Gram-Schmidt. ``matrix``: (..., J, 3, 3), returned as is.
    """
    if rep == "axis_angle":
        return roma.rotvec_to_rotmat(rotations)
    if rep == "6d":
        return roma.special_gramschmidt(rotations.unflatten(-1, (3, 2)))
    if rep == "matrix":
        return rotations
    raise ValueError(f"unknown rotation representation {rep!r}")


def _chain(rotmats: Array, rest_joints: Array, parents: Sequence[int], stack: Callable[..., Array]) -> tuple[Array, Array]:
    """The FK recursion, shared by torch and numpy (both speak ``@``, indexing and stack)."""
    if len(parents) != rotmats.shape[-3] or len(parents) != rest_joints.shape[-2]:
        raise ValueError(
            f"{len(parents)} joints in the tree, rotations for {rotmats.shape[-3]}, rest positions for {rest_joints.shape[-2]}"
        )
    global_rot = [rotmats[..., 0, :, :]]
    # "+ 0 * ..." gives the root the batch shape of the rotations, in torch and numpy alike.
    positions = [rest_joints[..., 0, :] + 0 * rotmats[..., 0, :, 0]]
    for j in range(1, len(parents)):
        p = parents[j]
        bone = rest_joints[..., j, :] - rest_joints[..., p, :]
        positions.append(positions[p] + (global_rot[p] @ bone[..., None])[..., 0])
        global_rot.append(global_rot[p] @ rotmats[..., j, :, :])
    return stack(positions, -2), stack(global_rot, -3)


def forward_kinematics(
    rotations: torch.Tensor,
    rest_joints: torch.Tensor,
    trans: torch.Tensor | None = None,
    parents: Sequence[int] = SMPL24.parents,
    rep: Rep = "axis_angle",
) -> tuple[torch.Tensor, torch.Tensor]:
    """World joint positions (..., J, 3) and global rotations (..., J, 3, 3), in torch.

    ``rest_joints`` (J, 3) or (..., J, 3) are the rest-pose joint positions, ``trans``
    (..., 3) the root translation; see :func:`rotmats_from` for ``rotations`` and ``rep``.
    """
    rotmats = rotmats_from(rotations, rep)
    joints, global_rot = _chain(rotmats, rest_joints.to(rotmats), parents, torch.stack)
    if trans is not None:
        joints = joints + trans[..., None, :]
    return joints, global_rot


def forward_kinematics_np(
    rotations: np.ndarray,
    rest_joints: np.ndarray,
    trans: np.ndarray | None = None,
    parents: Sequence[int] = SMPL24.parents,
    rep: Literal["axis_angle", "matrix"] = "axis_angle",
) -> tuple[np.ndarray, np.ndarray]:
    """The numpy twin of :func:`forward_kinematics` (float64 inside; no 6D, a network-only format)."""
    rotations = np.asarray(rotations, dtype=np.float64)
    if rep == "axis_angle":
        rotmats = Rotation.from_rotvec(rotations.reshape(-1, 3)).as_matrix()
        rotmats = rotmats.reshape(rotations.shape[:-1] + (3, 3))
    elif rep == "matrix":
        rotmats = rotations
    else:
        raise ValueError(f"unknown rotation representation {rep!r} for numpy FK")
    joints, global_rot = _chain(rotmats, np.asarray(rest_joints, np.float64), parents, np.stack)
    if trans is not None:
        joints = joints + np.asarray(trans, np.float64)[..., None, :]
    return joints, global_rot


def positions_from_offsets(offsets: np.ndarray, parents: Sequence[int]) -> np.ndarray:
    """Joint positions (..., J, 3) of an unrotated tree from parent-relative offsets (..., J, 3)."""
    positions = np.array(offsets, dtype=np.float64)
    for j in range(1, len(parents)):
        positions[..., j, :] += positions[..., parents[j], :]
    return positions


def posing_rest(local: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """The rest skeleton (24, 3; pelvis at the origin) whose forward kinematics with local
    rotations ``local`` (T, 24, 3, 3) best gives SMPL24 ``joints`` (T, 24, 3): each joint's
    offset from its parent in the parent's frame, averaged over the frames."""
    _, world = forward_kinematics_np(local, np.zeros((len(SMPL24), 3)), rep="matrix")
    rest = np.zeros((len(SMPL24), 3))
    for j, parent in enumerate(SMPL24.parents):
        if parent >= 0:
            rest[j] = rest[parent] + np.einsum("tji,tj->ti", world[:, parent], joints[:, j] - joints[:, parent]).mean(0)
    return rest
