"""The decoder's pose representation, and the analytic IK that turns it into SMPL rotations.

Per frame (HybrIK-style, FastHMR §3.3): where the joints are, plus one twist angle per bone.

- **Points** (25, 3): the SMPL24 joints and the nose, relative to the pelvis. The nose is the
  head joint's child here (H36M17's nose, carried by the head: :func:`engine.body.ik.h36m_of_rest`),
  so the head's turn is in the representation as the other joints' are.
- **Twists** (18, 2) as (cos, sin): for each joint with one child (:data:`TWIST_JOINTS`), the
  turn of its rotation about its rest bone (joint → child). A joint's local rotation is
  ``swing @ twist``: the twist turns about the rest bone, and the swing, the smallest rotation
  that points the rest bone where the child is seen, is read off the points.

The pelvis and the chest (spine3), which hold three children each, are fitted to all of them
(:func:`engine.geometry.best_rotations`), so they need no twist. The leaves (toes, hands) have
no child to point at, and stay unrotated: no joint position shows them.

:func:`to_representation` makes it from rotations; :func:`solve_representation` (the IK) goes
back, parents first. Round trip on the default skeleton: exact but for float error.
"""

from __future__ import annotations

import numpy as np

from engine.body.ik import h36m_of_rest
from engine.body.joints import H36M17, SMPL24
from engine.body.kinematics import forward_kinematics_np
from engine.geometry import best_rotations, rotvec_to_matrix, smallest_rotations, unit

NOSE = len(SMPL24)  # the points' last row
POINT_PARENTS = (*SMPL24.parents, SMPL24.index("head"))
_CHILDREN = [[c for c, p in enumerate(POINT_PARENTS) if p == j] for j in range(len(SMPL24))]
TWIST_JOINTS = tuple(j for j in range(len(SMPL24)) if len(_CHILDREN[j]) == 1)
FITTED_JOINTS = tuple(j for j in range(len(SMPL24)) if len(_CHILDREN[j]) > 1)  # pelvis, spine3
LEAF_JOINTS = tuple(j for j in range(len(SMPL24)) if not _CHILDREN[j])


def rest_points(rest: np.ndarray) -> np.ndarray:
    """The (25, 3) rest positions of an SMPL24 rest skeleton ``rest`` (24, 3) and its nose."""
    return np.concatenate([rest, h36m_of_rest(rest)[None, H36M17.index("neck")]])


def posed_points(local: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Pelvis-relative points (T, 25, 3) of local rotations (T, 24, 3, 3) on ``rest`` (24, 3)."""
    joints, world = forward_kinematics_np(local, rest, rep="matrix")
    nose = joints[:, SMPL24.index("head")] + world[:, SMPL24.index("head")] @ (rest_points(rest)[NOSE] - rest[SMPL24.index("head")])
    points = np.concatenate([joints, nose[:, None]], axis=1)
    return points - points[:, :1]


def _bone(rest: np.ndarray, joint: int) -> np.ndarray:
    """The rest direction (3,) from ``joint`` to its one child, on the points ``rest`` (25, 3)."""
    return unit(rest[_CHILDREN[joint][0]] - rest[joint])


def to_representation(local: np.ndarray, rest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points (T, 25, 3) and twists (T, 18, 2) of local rotations (T, 24, 3, 3) on ``rest``."""
    points = rest_points(rest)
    bones = np.stack([_bone(points, j) for j in TWIST_JOINTS])  # (18, 3)
    rotations = local[:, list(TWIST_JOINTS)]
    swing = smallest_rotations(bones, np.einsum("tkij,kj->tki", rotations, bones))
    twist = np.swapaxes(swing, -1, -2) @ rotations  # turns about the bones
    # Their angles: how far each turns a direction square to its bone.
    square = unit(np.cross(bones, np.where(np.abs(bones[:, :1]) < 0.9, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])))
    turned = np.einsum("tkij,kj->tki", twist, square)
    twists = np.stack([np.sum(turned * square, -1), np.sum(np.cross(square, turned) * bones, -1)], -1)
    return posed_points(local, rest), twists


def solve_representation(points: np.ndarray, twists: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Local rotations (T, 24, 3, 3) that pose ``rest`` (24, 3) like ``points`` (T, 25, 3; any
    origin) with ``twists`` (T, 18, 2; need not be unit): parents first, each fitted joint to
    all its children, each twist joint swung at its child and turned about its bone."""
    frames = len(points)
    rest_all = rest_points(rest)
    world = np.broadcast_to(np.eye(3), (frames, len(SMPL24), 3, 3)).copy()
    local = world.copy()
    twist_of = dict(zip(TWIST_JOINTS, np.arctan2(twists[..., 1], twists[..., 0]).T))
    for j in range(len(SMPL24)):
        parent = np.broadcast_to(np.eye(3), (frames, 3, 3)) if j == 0 else world[:, SMPL24.parents[j]]
        if j in FITTED_JOINTS:
            seen = np.stack([points[:, c] - points[:, j] for c in _CHILDREN[j]], 1)  # (T, C, 3)
            seen_by_parent = np.einsum("tji,tcj->tci", parent, seen)
            rest_offsets = np.stack([rest_all[c] - rest_all[j] for c in _CHILDREN[j]])
            local[:, j] = best_rotations(np.broadcast_to(rest_offsets, seen.shape), seen_by_parent)
        elif j in TWIST_JOINTS:
            bone = _bone(rest_all, j)
            seen = points[:, _CHILDREN[j][0]] - points[:, j]
            swing = smallest_rotations(bone, np.einsum("tji,tj->ti", parent, seen))
            local[:, j] = swing @ rotvec_to_matrix(bone * twist_of[j][:, None])
        world[:, j] = parent @ local[:, j]
    return local
