"""Rotations and frames from vectors and point sets, in plain numpy.

The one home for the geometry every stage shares: the smallest rotation between directions,
the best rotation between vector sets (Kabsch) and the best similarity between point sets
(Procrustes), quaternion sign continuity and a body's left/up/forward frames and heading. Only
numpy is imported, because the Blender add-on carries a copy of this file (``engine addon
build``) and Blender's Python has neither scipy nor torch.
"""

from __future__ import annotations

import numpy as np


def unit(v: np.ndarray) -> np.ndarray:
    """``v`` (..., 3) scaled to unit length (zero vectors stay zero)."""
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def rotvec_to_matrix(rotvecs: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) of axis-angle vectors (..., 3) (Rodrigues); keeps the dtype."""
    angle = np.linalg.norm(rotvecs, axis=-1, keepdims=True)
    axis = rotvecs / np.maximum(angle, 1e-12)
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(rotvecs.shape[:-1] + (3, 3))
    sin, cos = np.sin(angle)[..., None], np.cos(angle)[..., None]
    return np.eye(3, dtype=rotvecs.dtype) + sin * k + (1 - cos) * (k @ k)


def smallest_rotations(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) taking directions ``u`` onto ``v`` (..., 3) by the
    smallest angle (about ``u × v``); opposite directions turn about an arbitrary axis."""
    u, v = unit(np.asarray(u, np.float64)), unit(np.asarray(v, np.float64))
    u, v = np.broadcast_arrays(u, v)
    axis = np.cross(u, v)
    sin, cos = np.linalg.norm(axis, axis=-1, keepdims=True), np.sum(u * v, axis=-1, keepdims=True)
    opposite = (sin < 1e-9) & (cos < 0)
    fallback = np.cross(u, np.where(np.abs(u[..., :1]) < 0.9, [1.0, 0, 0], [0, 1.0, 0]))
    axis = np.where(opposite, fallback, axis)
    return rotvec_to_matrix(unit(axis) * np.arctan2(sin, cos))


def best_rotations(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Proper rotations ``R`` (..., 3, 3) minimising ``Σ_k |R u_k − v_k|²`` for vector sets
    ``u``, ``v`` (..., K, 3), K ≥ 2 (Kabsch; a reflection is never returned)."""
    U, _, Vt = np.linalg.svd(np.swapaxes(u, -1, -2) @ v)
    V, Ut = np.swapaxes(Vt, -1, -2), np.swapaxes(U, -1, -2)
    fix = np.ones(U.shape[:-1])
    fix[..., -1] = np.sign(np.linalg.det(V @ Ut))
    return V @ (fix[..., None] * Ut)


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``pred`` point sets (..., J, 3), J ≥ 3 not all on one line, each moved onto ``gt``'s
    (same shape) by the similarity transform (rotation, uniform scale, translation) that
    minimises the squared distances (Umeyama 1991). The rotation is proper (det = +1): a
    mirrored pose is not un-mirrored, so a left/right swap still shows."""
    mu_pred, mu_gt = pred.mean(axis=-2, keepdims=True), gt.mean(axis=-2, keepdims=True)
    p, g = pred - mu_pred, gt - mu_gt
    turned = p @ np.swapaxes(best_rotations(p, g), -1, -2)  # row vectors: R p_j is p_j @ Rᵀ
    scale = (turned * g).sum(axis=(-2, -1)) / (p * p).sum(axis=(-2, -1))
    return scale[..., None, None] * turned + mu_gt


def continuous_quaternions(quaternions: np.ndarray, previous: np.ndarray | None = None) -> np.ndarray:
    """Quaternions (T, ..., 4) with signs flipped so each is within 90° of the one before
    (``previous``: the one just before the first, e.g. the last already keyed), so that
    interpolating between neighbours never takes the long way round."""
    before = np.concatenate([quaternions[:1] if previous is None else previous[None], quaternions[:-1]])
    flips = np.where(np.sum(quaternions * before, -1, keepdims=True) < 0, -1.0, 1.0)
    return quaternions * np.cumprod(flips, axis=0)


def axes(left: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Frames (..., 3, 3) with columns (left, up, forward): ``up`` normalised, ``left`` made
    square to it, forward = left × up (a body's facing in SMPL's convention)."""
    up = up / np.linalg.norm(up, axis=-1, keepdims=True)
    left = left - up * np.sum(left * up, axis=-1, keepdims=True)
    left = left / np.linalg.norm(left, axis=-1, keepdims=True)
    return np.stack([left, up, np.cross(left, up)], axis=-1)


def torso_frame(l_hip: np.ndarray, r_hip: np.ndarray, l_shoulder: np.ndarray, r_shoulder: np.ndarray) -> np.ndarray:
    """A torso's frame (..., 3, 3) (see :func:`axes`): up from mid-hips to mid-shoulders, left
    from right to left across hips and shoulders together."""
    return axes(l_shoulder - r_shoulder + l_hip - r_hip, l_shoulder + r_shoulder - l_hip - r_hip)


def torso_heading(l_hip: np.ndarray, r_hip: np.ndarray, l_shoulder: np.ndarray, r_shoulder: np.ndarray) -> np.ndarray:
    """A torso's heading (..., radians): its turn about the vertical (+y) from facing +z, from
    its left across hips and shoulders (as :func:`torso_frame`) alone, so that leaning or
    bending over does not change it (forward = left × up, as in :func:`axes`)."""
    left = l_shoulder - r_shoulder + l_hip - r_hip
    return np.arctan2(-left[..., 2], left[..., 0])
