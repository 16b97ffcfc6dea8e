"""Analytic inverse kinematics: H36M17 joint positions → SMPL24 local rotations.

The lifters give 17 joints; SMPL needs 24 rotations. Each is solved in closed form, parents
first (world rotations ``W``, then ``local = W_parentᵀ W``):

- **pelvis** and **chest** orientations from the hips' and the shoulders' left-right axes
  and the mid-hips → thorax up axis (each against the same axes of the rest skeleton); the
  torso's twist between them is shared equally by spine1, spine2 and spine3;
- **collars**, **hips**, **shoulders**: the smallest rotation that points the bone at the
  observed joint; hips and shoulders then turn about the bone so that the knee's or elbow's
  hinge lies square to the plane the limb bends in (twist is determined only when the limb
  bends: below ``MIN_BEND`` it stays zero);
- **knees**, **elbows**: a hinge, turned by the observed bend;
- **neck** and **head**: the neck points at the ear midpoint, the head turns so the nose
  is where it is seen;
- **ankles**, **wrists**, **feet**, **hands**: zero (H36M17 says nothing of them).

Bone lengths are fitted once per clip (:func:`fit_rest_skeleton`), so FK of the result puts
every observed limb along its observed direction. :func:`reach_with_leg` then bends a leg so
its ankle reaches a given point (two-bone IK), which foot locking uses to pin planted feet.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from engine.body.correspondence import head_points
from engine.body.joints import H36M17, SMPL24
from engine.body.kinematics import forward_kinematics_np
from engine.geometry import axes, smallest_rotations, unit

MIN_BEND = np.radians(10.0)
_S, _H = SMPL24.index, H36M17.index
# Limbs as (upper, hinge, end, leaf) joint names, the same in SMPL24 and H36M17 but the leaf,
# which only SMPL24 has.
_LIMBS = [
    tuple(f"{s}_{j}" for j in chain) for s in "lr" for chain in (("hip", "knee", "ankle", "foot"), ("shoulder", "elbow", "wrist", "hand"))
]
# Which way each hinge folds in the rest pose: knees bend the shin back, elbows the forearm forward.
_FOLD = {"knee": np.array([0.0, 0.0, -1.0]), "elbow": np.array([0.0, 0.0, 1.0])}


def _torso(h36m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pelvis and chest frames (..., 3, 3) (:func:`axes`): the hips' and the shoulders'
    left-right axes about the one up axis H36M17 shows, mid-hips → thorax."""
    j = lambda name: h36m[..., _H(name), :]  # noqa: E731
    up = j("thorax") - j("pelvis")
    return axes(j("l_hip") - j("r_hip"), up), axes(j("l_shoulder") - j("r_shoulder"), up)


def h36m_of_rest(rest: np.ndarray) -> np.ndarray:
    """H36M17 positions (..., 17, 3) of SMPL24 joints (..., 24, 3) as :mod:`engine.keypoints`
    defines them, the nose and ears placed on the torso as on an upright one's."""
    at = {n: rest[..., _S(n), :] for n in SMPL24.names}
    nose, ears = head_points(at["l_hip"], at["r_hip"], at["l_shoulder"], at["r_shoulder"])
    mid_hips, thorax = (at["l_hip"] + at["r_hip"]) / 2, (at["l_shoulder"] + at["r_shoulder"]) / 2
    named = {**at, "pelvis": mid_hips, "thorax": thorax, "spine": (mid_hips + thorax) / 2, "neck": nose, "head": ears}
    return np.stack([named[n] for n in H36M17.names], axis=-2)


def h36m_from_smpl(joints: np.ndarray, world_rotations: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """H36M17 positions (T, 17, 3) of posed SMPL24 joints (T, 24, 3) with world rotations
    (T, 24, 3, 3): nose and ears carried by the head joint, the rest as in :func:`h36m_of_rest`."""
    out = h36m_of_rest(joints)
    offsets = h36m_of_rest(rest)[[_H("neck"), _H("head")]] - rest[_S("head")]
    out[:, [_H("neck"), _H("head")]] = joints[:, None, _S("head")] + np.einsum("tij,kj->tki", world_rotations[:, _S("head")], offsets)
    return out


def fit_rest_skeleton(h36m: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """``rest`` (24, 3) with its limbs, hip and shoulder widths and torso scaled to the median
    (left and right averaged) of the clip's H36M17 joints (T, 17, 3)."""

    def length(a: str, b: str) -> float:
        return float(np.median(np.linalg.norm(h36m[:, _H(a)] - h36m[:, _H(b)], axis=-1)))

    ours = h36m_of_rest(rest)

    def ratio(a: str, b: str) -> float:
        """The clip's length of bone a → b over ours, left and right averaged."""
        return float(
            np.mean([length(f"{s}{a}", f"{s}{b}") / np.linalg.norm(ours[_H(f"{s}{a}")] - ours[_H(f"{s}{b}")]) for s in ("l_", "r_")])
        )

    torso = length("pelvis", "thorax") / np.linalg.norm(ours[_H("pelvis")] - ours[_H("thorax")])
    scales = np.full(len(SMPL24), torso)
    widths = {
        "hip": length("l_hip", "r_hip") / np.linalg.norm(ours[_H("l_hip")] - ours[_H("r_hip")]),
        "shoulder": length("l_shoulder", "r_shoulder") / np.linalg.norm(ours[_H("l_shoulder")] - ours[_H("r_shoulder")]),
    }
    for s in "lr":
        scales[_S(f"{s}_hip")], scales[_S(f"{s}_shoulder")] = widths["hip"], widths["shoulder"]
        scales[[_S(f"{s}_knee")]] = ratio("hip", "knee")
        scales[[_S(f"{s}_ankle"), _S(f"{s}_foot")]] = ratio("knee", "ankle")
        scales[_S(f"{s}_elbow")] = ratio("shoulder", "elbow")
        scales[[_S(f"{s}_wrist"), _S(f"{s}_hand")]] = ratio("elbow", "wrist")
    bones = rest - rest[[max(p, 0) for p in SMPL24.parents]]
    fitted = bones * scales[:, None]
    fitted[0] = rest[0]
    for j in range(1, len(SMPL24)):
        fitted[j] += fitted[SMPL24.parents[j]]
    return fitted


def _twist_to_hinge(world: np.ndarray, bone: np.ndarray, hinge_rest: np.ndarray, bend_normal: np.ndarray, bends: np.ndarray) -> np.ndarray:
    """Turn ``world`` (T, 3, 3) about ``bone`` (T, 3) so its hinge axis lies along ``bend_normal``."""
    hinge = world @ hinge_rest
    hinge = unit(hinge - bone * np.sum(hinge * bone, -1, keepdims=True))
    target = unit(bend_normal - bone * np.sum(bend_normal * bone, -1, keepdims=True))
    angle = np.arctan2(np.sum(np.cross(hinge, target) * bone, -1), np.sum(hinge * target, -1))
    twist = Rotation.from_rotvec(bone * np.where(bends, angle, 0.0)[:, None]).as_matrix()
    return twist @ world


def solve_ik(h36m: np.ndarray, rest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SMPL24 local rotation matrices (T, 24, 3, 3) and root translation (T, 3) posing ``rest``
    (24, 3; from :func:`fit_rest_skeleton`) like the H36M17 joints (T, 17, 3)."""
    frames = len(h36m)
    rest_h36m = h36m_of_rest(rest)
    world = np.broadcast_to(np.eye(3), (frames, len(SMPL24), 3, 3)).copy()
    pelvis_obs, chest_obs = _torso(h36m)
    pelvis_rest, chest_rest = _torso(rest_h36m)
    world[:, _S("pelvis")] = pelvis_obs @ pelvis_rest.T
    chest = chest_obs @ chest_rest.T
    share = Rotation.from_matrix(np.swapaxes(world[:, 0], -1, -2) @ chest).as_rotvec() / 3
    for k, name in enumerate(("spine1", "spine2", "spine3")):
        world[:, _S(name)] = world[:, 0] @ Rotation.from_rotvec(share * (k + 1)).as_matrix()

    def from_pelvis(joint: int) -> np.ndarray:
        """Where ``joint`` is (T, 3), relative to the pelvis, with the rotations solved so far."""
        local = np.swapaxes(world[:, [max(p, 0) for p in SMPL24.parents]], -1, -2) @ world
        local[:, 0] = world[:, 0]
        joints = forward_kinematics_np(local, rest, rep="matrix")[0]
        return joints[:, joint] - joints[:, 0]

    # The SMPL pelvis sits where the rest skeleton has it relative to the hips.
    pelvis = h36m[:, _H("pelvis")] + world[:, 0] @ (rest[0] - rest_h36m[_H("pelvis")])
    observed = h36m - pelvis[:, None]  # relative to the SMPL pelvis
    for s in "lr":
        collar, shoulder = _S(f"{s}_collar"), _S(f"{s}_shoulder")
        world[:, collar] = world[:, _S("spine3")]
        aim = observed[:, _H(f"{s}_shoulder")] - from_pelvis(collar)
        world[:, collar] = smallest_rotations(world[:, collar] @ (rest[shoulder] - rest[collar]), aim) @ world[:, collar]
    for upper, hinge, end, leaf in _LIMBS:
        u, h, e = _S(upper), _S(hinge), _S(end)
        parent = SMPL24.parents[u]
        world[:, u] = world[:, parent]
        bone_rest, lower_rest = rest[h] - rest[u], rest[e] - rest[h]
        bone, lower = observed[:, _H(hinge)] - observed[:, _H(upper)], observed[:, _H(end)] - observed[:, _H(hinge)]
        world[:, u] = smallest_rotations(world[:, u] @ bone_rest, bone) @ world[:, u]
        hinge_rest = unit(np.cross(bone_rest, _FOLD[hinge.split("_")[1]]))
        normal = np.cross(unit(bone), unit(lower))
        bend = np.arctan2(np.linalg.norm(normal, axis=-1), np.sum(unit(bone) * unit(lower), -1))
        world[:, u] = _twist_to_hinge(world[:, u], unit(bone), hinge_rest, normal, bend > MIN_BEND)
        # The hinge: the lower limb, straight in the rest pose, folds about the hinge axis.
        world[:, h] = smallest_rotations(world[:, u] @ lower_rest, lower) @ world[:, u]
        world[:, e] = world[:, h]
        world[:, _S(leaf)] = world[:, h]
    neck, head = _S("neck"), _S("head")
    world[:, neck] = world[:, _S("spine3")]
    ears_rest, nose_rest = rest_h36m[_H("head")], rest_h36m[_H("neck")]
    world[:, neck] = (
        smallest_rotations(world[:, neck] @ (ears_rest - rest_h36m[_H("thorax")]), h36m[:, _H("head")] - h36m[:, _H("thorax")])
        @ world[:, neck]
    )
    world[:, head] = (
        smallest_rotations(world[:, neck] @ (nose_rest - ears_rest), h36m[:, _H("neck")] - h36m[:, _H("head")]) @ world[:, neck]
    )
    local = np.swapaxes(world[:, [max(p, 0) for p in SMPL24.parents]], -1, -2) @ world
    local[:, 0] = world[:, 0]
    return local, pelvis - rest[0]


def reach_with_leg(
    local: np.ndarray, rest: np.ndarray, trans: np.ndarray, side: str, target: np.ndarray, ankle_world: np.ndarray | None = None
) -> np.ndarray:
    """``local`` rotations (T, 24, 3, 3) with the ``side`` ("l" or "r") hip and knee turned so
    that the ankle reaches ``target`` (T, 3, world), as near as the leg's length allows: the
    knee bends in the plane of the hip, the target and the knee as it was (two-bone IK). The
    ankle keeps its world orientation, or takes ``ankle_world`` (T, 3, 3) when given."""
    hip, knee, ankle = (_S(f"{side}_{j}") for j in ("hip", "knee", "ankle"))
    joints, world = forward_kinematics_np(local, rest, trans, rep="matrix")
    thigh, shin = (np.linalg.norm(rest[b] - rest[a]) for a, b in ((hip, knee), (knee, ankle)))
    to_target = target - joints[:, hip]
    reach = np.clip(np.linalg.norm(to_target, axis=-1), abs(thigh - shin) + 1e-6, thigh + shin - 1e-6)
    along = to_target / np.maximum(np.linalg.norm(to_target, axis=-1, keepdims=True), 1e-9)
    # The knee: a distance ``a`` along the hip → target line, ``h`` out towards where it was.
    a = (thigh**2 - shin**2 + reach**2) / (2 * reach)
    h = np.sqrt(np.maximum(thigh**2 - a**2, 0.0))
    pole = joints[:, knee] - joints[:, hip]
    out = pole - np.sum(pole * along, -1, keepdims=True) * along
    out /= np.maximum(np.linalg.norm(out, axis=-1, keepdims=True), 1e-9)
    new_knee = joints[:, hip] + a[:, None] * along + h[:, None] * out
    new_ankle = joints[:, hip] + reach[:, None] * along
    turn_thigh = smallest_rotations(joints[:, knee] - joints[:, hip], new_knee - joints[:, hip])
    hip_world = turn_thigh @ world[:, hip]
    shin_now = np.einsum("tij,tj->ti", turn_thigh, joints[:, ankle] - joints[:, knee])
    knee_world = smallest_rotations(shin_now, new_ankle - new_knee) @ turn_thigh @ world[:, knee]
    out_local = local.copy()
    out_local[:, hip] = np.swapaxes(world[:, SMPL24.parents[hip]], -1, -2) @ hip_world
    out_local[:, knee] = np.swapaxes(hip_world, -1, -2) @ knee_world
    # The foot does not swing with the shin.
    out_local[:, ankle] = np.swapaxes(knee_world, -1, -2) @ (world[:, ankle] if ankle_world is None else ankle_world)
    return out_local
