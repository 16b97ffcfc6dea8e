"""SMPL rotations onto an armature's bones, through rest matrices (numpy only, no bpy).

For a bone ``j`` whose rest orientation in armature space is ``B_j`` (its ``matrix_local``'s
rotation) and an SMPL local rotation ``R_j`` (parent-relative, SMPL's y-up frame), the pose
bone's own rotation is ``B_j⁻¹ · C · R_j · Cᵀ · B_j`` with ``C`` turning SMPL's y-up frame
into Blender's z-up one. Derivation: Blender poses a bone at ``M_parent · B_parent⁻¹ · B_j ·
basis_j``; asking that to equal the SMPL world rotation applied to the rest bone,
``C · W_j · Cᵀ · B_j`` with ``W_j = W_parent · R_j``, gives the formula, whatever the bones'
rolls. A rig whose rest pose is not SMPL's T-pose (A-pose arms, a bent spine) gets a per-bone
rest offset ``O_j``, the rotation from SMPL's rest direction of the joint to the rig's:
``G_j = C · W_j · Cᵀ · O_j⁻¹`` is then bone ``j``'s turn from its rest in armature space, and
``basis_j = B_j⁻¹ · G_parent⁻¹ · G_j · B_j`` (which is the formula above when ``O = I``).
The root moves as SMPL's pelvis does, scaled by the rig's leg length over the clip's.
The SMPL24 table and the rotation helpers are the engine's own (``link/joints.py``,
``link/geometry.py``, copied in by ``engine addon build``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .link.geometry import best_rotations, smallest_rotations, unit
from .link.joints import SMPL24

# SMPL (x, y, z) is Blender (x, -z, y): y up becomes z up, facing +z becomes facing -y.
SMPL_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def matrix_to_quaternion(matrices: np.ndarray) -> np.ndarray:
    """Unit quaternions (..., 4: w, x, y, z) of rotation matrices (..., 3, 3), w ≥ 0."""
    m = matrices.reshape(-1, 3, 3)
    m00, m11, m22 = m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]
    # Each row is solved from its largest diagonal term (Shepperd), which keeps it exact.
    leads = np.stack([m00 + m11 + m22, m00, m11, m22], -1)
    branch = np.argmax(leads, -1)
    q = np.empty((len(m), 4), m.dtype)
    for k in range(4):
        rows = np.flatnonzero(branch == k)
        r = m[rows]
        if k == 0:
            s = 2 * np.sqrt(1 + r[:, 0, 0] + r[:, 1, 1] + r[:, 2, 2])
            q[rows] = np.stack([s / 4, (r[:, 2, 1] - r[:, 1, 2]) / s, (r[:, 0, 2] - r[:, 2, 0]) / s, (r[:, 1, 0] - r[:, 0, 1]) / s], -1)
        elif k == 1:
            s = 2 * np.sqrt(1 + r[:, 0, 0] - r[:, 1, 1] - r[:, 2, 2])
            q[rows] = np.stack([(r[:, 2, 1] - r[:, 1, 2]) / s, s / 4, (r[:, 0, 1] + r[:, 1, 0]) / s, (r[:, 0, 2] + r[:, 2, 0]) / s], -1)
        elif k == 2:
            s = 2 * np.sqrt(1 - r[:, 0, 0] + r[:, 1, 1] - r[:, 2, 2])
            q[rows] = np.stack([(r[:, 0, 2] - r[:, 2, 0]) / s, (r[:, 0, 1] + r[:, 1, 0]) / s, s / 4, (r[:, 1, 2] + r[:, 2, 1]) / s], -1)
        else:
            s = 2 * np.sqrt(1 - r[:, 0, 0] - r[:, 1, 1] + r[:, 2, 2])
            q[rows] = np.stack([(r[:, 1, 0] - r[:, 0, 1]) / s, (r[:, 0, 2] + r[:, 2, 0]) / s, (r[:, 1, 2] + r[:, 2, 1]) / s, s / 4], -1)
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    q *= np.where(q[:, :1] < 0, -1.0, 1.0)
    return q.reshape(matrices.shape[:-2] + (4,))


@dataclass
class Retarget:
    """How SMPL motion lands on one rig (module docstring), worked out once from its rest pose.

    ``smpl[b]`` is the SMPL joint bone ``b`` follows (-1: none; it then keeps its rest pose
    relative to its parent), ``parents[b]`` its parent bone (-1: none), ``rest[b]`` its
    armature-space rest rotation, ``offset[b]`` the rotation from SMPL's rest direction of
    that joint to the rig's (A-pose arms, for example); ``root`` the bone following the pelvis,
    its rest ``head`` and ``scale``, the rig's leg length over the clip's.
    """

    smpl: np.ndarray
    parents: np.ndarray
    rest: np.ndarray
    offset: np.ndarray
    root: int
    head: np.ndarray
    scale: float

    @classmethod
    def build(cls, smpl: list[int], parents: list[int], rest: np.ndarray, heads: np.ndarray, smpl_rest: np.ndarray) -> Retarget:
        """From the rig's bones (hierarchy order: parents first) with their SMPL joints, rest
        rotations (B, 3, 3) and rest heads (B, 3) in armature space, and the clip's SMPL rest
        joints (24, 3)."""
        smpl, parents = np.asarray(smpl), np.asarray(parents)
        where = {int(j): b for b, j in enumerate(smpl) if j >= 0}
        source = smpl_rest @ SMPL_TO_BLENDER.T
        offset = np.broadcast_to(np.eye(3), (len(smpl), 3, 3)).copy()
        for b, j in enumerate(smpl):
            if j < 0:
                continue
            children = [c for c in SMPL24.children[j] if c in where]
            if not children:  # a leaf: turned like its parent joint
                parent = next((where[p] for p in _ancestors(int(j)) if p in where), None)
                offset[b] = offset[parent] if parent is not None else np.eye(3)
                continue
            ours = np.array([heads[where[c]] - heads[b] for c in children])
            theirs = np.array([source[c] - source[j] for c in children])
            # directions only, so each child counts alike: the vectors are made unit first
            offset[b] = smallest_rotations(theirs[0], ours[0]) if len(children) == 1 else best_rotations(unit(theirs), unit(ours))
        root = where[0]
        leg = lambda points, a, b, c: np.linalg.norm(points[b] - points[a]) + np.linalg.norm(points[c] - points[b])  # noqa: E731
        rig_leg = np.mean(
            [leg(heads, where[h], where[k], where[a]) for h, k, a in ((1, 4, 7), (2, 5, 8)) if {h, k, a} <= set(where)] or [np.nan]
        )
        clip_leg = np.mean([leg(source, h, k, a) for h, k, a in ((1, 4, 7), (2, 5, 8))])
        scale = float(rig_leg / clip_leg) if np.isfinite(rig_leg) else 1.0
        return cls(smpl, parents, np.asarray(rest, np.float64), offset, root, np.asarray(heads[root], np.float64), scale)

    @cached_property
    def _offset_quaternions(self) -> np.ndarray:
        return _quaternions(self.offset)

    @cached_property
    def _rest_quaternions(self) -> np.ndarray:
        return _quaternions(self.rest)

    def pose(self, poses: np.ndarray, trans: np.ndarray, smpl_rest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pose-bone quaternions (T, B, 4; w ≥ 0) and the root bone's location (T, 3) for SMPL
        ``poses`` (T, 72 or T, 24, 3; axis-angle) and ``trans`` (T, 3)."""
        # The module docstring's products, done on quaternions laid out components first (4, B, T):
        # each product is then 16 multiplications over long contiguous rows, which is what makes
        # 10,000 frames cheap; float32 because 1e-7 is plenty.
        rotvecs = np.asarray(poses, np.float32).reshape(len(poses), 24, 3).transpose(2, 1, 0)
        local = rotvec_to_quaternion(rotvecs)
        world = np.empty_like(local)
        world[:, 0] = local[:, 0]
        for j in range(1, 24):
            world[:, j] = quaternion_multiply(world[:, SMPL24.parents[j]], local[:, j])
        # C · W · Cᵀ turns W's axis by C: (x, y, z) -> (x, -z, y).
        blender = world[[0, 1, 3, 2]] * np.array([1, 1, -1, 1], np.float32)[:, None, None]
        # G: each bone's turn from its rest, in armature space; unmapped bones ride on their parent.
        identity = np.array([1, 0, 0, 0], np.float32)[:, None]
        mapped = self.smpl >= 0
        turn = np.empty((4, len(self.smpl), len(poses)), np.float32)
        turn[:, mapped] = quaternion_multiply(blender[:, self.smpl[mapped]], _conjugate(self._offset_quaternions[:, mapped, None]))
        for b in np.flatnonzero(~mapped):  # parents come first
            turn[:, b] = turn[:, self.parents[b]] if self.parents[b] >= 0 else identity
        above = turn[:, np.maximum(self.parents, 0)]
        above[:, self.parents < 0] = identity[:, None]
        rest = self._rest_quaternions[:, :, None]
        basis = quaternion_multiply(quaternion_multiply(_conjugate(rest), quaternion_multiply(_conjugate(above), turn)), rest)
        basis = basis.transpose(2, 1, 0) / np.sqrt(np.sum(basis * basis, 0)).T[..., None]
        basis *= np.where(basis[..., :1] < 0, -1, 1).astype(np.float32)
        target = (self.scale * (np.asarray(trans, np.float64) + smpl_rest[0])) @ SMPL_TO_BLENDER.T
        location = (target - self.head) @ self.rest[self.root]
        return basis, location


def rotvec_to_quaternion(rotvecs: np.ndarray) -> np.ndarray:
    """Unit quaternions (4: w, x, y, z, ...) of axis-angle vectors (3, ...), components first."""
    angle = np.sqrt(np.sum(rotvecs * rotvecs, 0))
    # sin(θ/2) / θ written with sinc, which is exact at θ = 0
    return np.concatenate([np.cos(angle / 2)[None], rotvecs * (0.5 * np.sinc(angle / (2 * np.pi)))[None]])


def quaternion_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton products ``a ⊗ b`` of quaternions (4: w, x, y, z, ...), components first
    (broadcast over the rest): the rotation ``b`` then ``a``."""
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ]
    )


def _conjugate(q: np.ndarray) -> np.ndarray:
    return q * np.array([1, -1, -1, -1], q.dtype).reshape((4,) + (1,) * (q.ndim - 1))


def _quaternions(matrices: np.ndarray) -> np.ndarray:
    """Rotation matrices (B, 3, 3) as float32 quaternions, components first (4, B)."""
    return matrix_to_quaternion(matrices).T.astype(np.float32)


def _ancestors(joint: int) -> list[int]:
    out = []
    while SMPL24.parents[joint] >= 0:
        joint = SMPL24.parents[joint]
        out.append(joint)
    return out
