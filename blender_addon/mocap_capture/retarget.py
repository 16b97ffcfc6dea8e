"""SMPL rotations onto an armature's bones, through rest matrices (numpy only, no bpy).

For a bone ``j`` whose rest orientation in armature space is ``B_j`` (its ``matrix_local``'s
rotation) and an SMPL local rotation ``R_j`` (parent-relative, SMPL's y-up frame), the pose
bone's own rotation is ``B_j⁻¹ · C · R_j · Cᵀ · B_j`` with ``C`` turning SMPL's y-up frame
into Blender's z-up one. Derivation: Blender poses a bone at ``M_parent · B_parent⁻¹ · B_j ·
basis_j``; asking that to equal the SMPL world rotation applied to the rest bone,
``C · W_j · Cᵀ · B_j`` with ``W_j = W_parent · R_j``, gives the formula, whatever the bones'
rolls. It assumes the armature's rest pose is SMPL's (T-pose); rigs posed otherwise at rest
need a per-bone rest offset (not yet here).
"""

from __future__ import annotations

import numpy as np

# SMPL (x, y, z) is Blender (x, -z, y): y up becomes z up, facing +z becomes facing -y.
SMPL_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def rotvec_to_matrix(rotvecs: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) of axis-angle vectors (..., 3) (Rodrigues)."""
    angle = np.linalg.norm(rotvecs, axis=-1, keepdims=True)
    axis = rotvecs / np.maximum(angle, 1e-12)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(rotvecs.shape[:-1] + (3, 3))
    sin, cos = np.sin(angle)[..., None], np.cos(angle)[..., None]
    return np.eye(3) + sin * k + (1 - cos) * (k @ k)


def matrix_to_quaternion(matrices: np.ndarray) -> np.ndarray:
    """Unit quaternions (..., 4: w, x, y, z) of rotation matrices (..., 3, 3), w ≥ 0."""
    m = matrices
    trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    candidates = np.stack([
        np.stack([1 + trace, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1),
        np.stack([m[..., 2, 1] - m[..., 1, 2], 1 + 2 * m[..., 0, 0] - trace, m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0]], -1),
        np.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0], 1 + 2 * m[..., 1, 1] - trace, m[..., 1, 2] + m[..., 2, 1]], -1),
        np.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1], 1 + 2 * m[..., 2, 2] - trace], -1),
    ], -2)  # fmt: skip
    # The candidate with the largest leading term is the numerically safe one.
    best = np.argmax(np.stack([1 + trace, 1 + 2 * m[..., 0, 0] - trace, 1 + 2 * m[..., 1, 1] - trace, 1 + 2 * m[..., 2, 2] - trace], -1), -1)
    q = np.take_along_axis(candidates, best[..., None, None], -2)[..., 0, :]
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    return q * np.where(q[..., :1] < 0, -1.0, 1.0)


def continuous(quaternions: np.ndarray, previous: np.ndarray | None = None) -> np.ndarray:
    """Quaternions (T, ..., 4) with signs flipped so each is within 90° of the one before
    (``previous``: the last one already keyed), so interpolation never takes the long way."""
    out = quaternions.copy()
    last = previous
    for t in range(len(out)):
        if last is not None:
            out[t] *= np.where(np.sum(out[t] * last, -1, keepdims=True) < 0, -1.0, 1.0)
        last = out[t]
    return out


def bone_rotations(poses: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Pose-bone quaternions (T, J, 4) for SMPL local axis-angle ``poses`` (T, J, 3) on bones
    whose armature-space rest rotations are ``rest`` (J, 3, 3) (module docstring)."""
    local = rotvec_to_matrix(poses)
    c = SMPL_TO_BLENDER
    basis = np.swapaxes(rest, -1, -2) @ (c @ local @ c.T) @ rest
    return matrix_to_quaternion(basis)


def root_locations(trans: np.ndarray, smpl_root: np.ndarray, head: np.ndarray, rest: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Pose-bone locations (T, 3) of the root bone (rest head ``head``, rest rotation ``rest``
    (3, 3), armature space) putting it where SMPL's root is: ``smpl_root`` (3,: the rest
    skeleton's pelvis) plus ``trans`` (T, 3), times ``scale`` (the rig's size over the clip's)."""
    target = (scale * (trans + smpl_root)) @ SMPL_TO_BLENDER.T
    return (target - head) @ rest
