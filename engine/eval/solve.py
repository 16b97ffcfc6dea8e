"""``engine eval lift --solver NAME``: how well a solver turns a lifter's joints into SMPL motion.

Each test window's lifted joints (camera frame, root-relative) are put in the world with the
window's true camera rotation and true root (a lifter gives no root; the solvers use its
velocity), and solved as a whole clip on a rest skeleton fitted to them, as a capture does
(:func:`engine.body.ik.fit_rest_skeleton`). Joint errors are of the solved rotations posing the
default skeleton, the one the ground-truth rotations pose (``engine data prepare``), so that
they measure the rotations and not the two skeletons' proportions. On real, glitch-free frames:

- ``rotation_error_deg``: the mean geodesic angle between solved and true local rotations:
  ``all`` joints but the leaves (toes and hands: no joint position shows them), ``ankles_wrists``,
  and ``limb_twist``, the turn about the bone alone of hips, knees, shoulders and elbows
  (:func:`engine.decoding.representation.to_representation`'s twist);
- ``mpjpe_mm``, ``pa_mpjpe_mm`` and ``accel_error_mm`` of the solved SMPL24 joints (root-relative)
  against the true ones, beside ``raw_accel_error_mm``, the lifter's own (H36M17);
- ``fk_consistency_mm``: FK of the solved rotations against the joints the solver aimed at, for
  a solver that says (``targets``: the decoder's decoded points); the IK aims at the lifted
  joints and reaches them by construction;
- ``contact_f1`` against the mocap's heel and toe contacts, for a solver that tells contacts;
  ``capture_contact_f1``, of the contacts a capture keeps
  (:func:`engine.pipeline.world.heel_and_toe_contacts`): the world stage's planted ankles, found
  from the window's lifted joints in its camera and its 2D keypoints, as a capture finds them
  (:func:`engine.pipeline.world.to_world`), and among them the solver's, when it tells them;
- ``foot_skate_cm_s``: the solved heels' and toes' horizontal speed where the mocap says they stand
  (no foot locking here: the capture's locking comes after the solver), beside
  ``foot_skate_truth_cm_s``, the true rotations' on the default skeleton at the same root.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from engine.body.ik import fit_rest_skeleton
from engine.body.joints import SMPL24
from engine.body.kinematics import forward_kinematics_np
from engine.body.skeleton import default_rest_joints
from engine.decoding.representation import LEAF_JOINTS, TWIST_JOINTS, to_representation
from engine.eval import metrics
from engine.lifting import screen_pixels
from engine.pipeline.world import heel_and_toe_contacts, to_world
from engine.solving import make_solver

MM = 1000.0
_S = SMPL24.index
ROTATED = [j for j in range(len(SMPL24)) if j not in LEAF_JOINTS]
ANKLES_WRISTS = [_S(n) for n in ("l_ankle", "r_ankle", "l_wrist", "r_wrist")]
LIMBS = [_S(f"{s}_{j}") for s in "lr" for j in ("hip", "knee", "shoulder", "elbow")]
HEELS_TOES = [_S(n) for n in ("l_ankle", "l_foot", "r_ankle", "r_foot")]  # the contacts' order


def _local(poses: np.ndarray) -> np.ndarray:
    return Rotation.from_rotvec(poses.reshape(-1, 3)).as_matrix().reshape(*poses.shape[:-1], 24, 3, 3)


def _f1(predicted: np.ndarray, truth: np.ndarray) -> float:
    hits = (predicted & truth).sum()
    return float(2 * hits / max(predicted.sum() + truth.sum(), 1))


def evaluate_solver(name: str, lifted: np.ndarray, truth: dict[str, np.ndarray], mask: np.ndarray, fps: float = 30.0) -> dict:
    """The module docstring's metrics of solver ``name`` on ``lifted`` windows (N, T, 17, 3:
    camera frame, root-relative), against ``truth`` (``MocapWindows(rotations=True)``'s
    ``poses``, ``contacts``, ``world_root``, ``camera_rotation``, and the ``keypoints`` and
    ``camera`` the lifter saw when known, stacked), over ``mask`` (N, T)."""
    rest = default_rest_joints()
    solved = {"poses": [], "joints": [], "contacts": [], "targets": []}
    kept = []  # the contacts a capture keeps
    for index, (window, rotation, root) in enumerate(zip(lifted.astype(np.float64), truth["camera_rotation"], truth["world_root"])):
        world = window @ rotation + root[:, None]
        answer = make_solver(name, fit_rest_skeleton(world, rest), fps).extend(world, complete=True)
        for key in solved:
            if key in answer:
                solved[key].append(answer[key])
        camera_joints = window + (root @ rotation.T)[:, None]  # in the window's camera
        pixels = intrinsics = None
        if "keypoints" in truth:
            intrinsics, (width, height) = truth["camera"][index][:4], truth["camera"][index][4:]
            pixels = truth["keypoints"][index].astype(np.float64)
            pixels[..., :2] = screen_pixels(pixels[..., :2], width, height)
        planted = to_world(camera_joints, fps, keypoints=pixels, intrinsics=intrinsics).contacts
        kept.append(heel_and_toe_contacts(planted, answer.get("contacts")))
    local, true_local = _local(np.stack(solved["poses"])), _local(truth["poses"].astype(np.float64))
    placed = np.stack(solved["joints"])  # on the fitted skeletons, in the world
    joints, true_joints = (forward_kinematics_np(r, rest, rep="matrix")[0] for r in (local, true_local))
    angles = metrics.rotation_angle_deg(local, true_local)[mask]  # (frames, 24)
    twists = to_representation(local[mask], rest)[1]
    true_twists = to_representation(true_local[mask], rest)[1]
    limb = [TWIST_JOINTS.index(j) for j in LIMBS]
    turn = np.arctan2(twists[:, limb, 1], twists[:, limb, 0]) - np.arctan2(true_twists[:, limb, 1], true_twists[:, limb, 0])
    twist_error = np.abs(np.angle(np.exp(1j * turn)))  # wrapped to [0, pi]
    p, t = metrics.root_relative(joints), metrics.root_relative(true_joints)
    whole = mask.all(axis=1)
    results = {
        "solver": name,
        "rotation_error_deg": {
            "all": float(angles[:, ROTATED].mean()),
            "ankles_wrists": float(angles[:, ANKLES_WRISTS].mean()),
            "limb_twist": float(np.degrees(twist_error).mean()),
        },
        "mpjpe_mm": metrics.mpjpe(p[mask], t[mask]) * MM,
        "pa_mpjpe_mm": metrics.pa_mpjpe(p[mask], t[mask]) * MM,
        "accel_error_mm": metrics.accel_error(p[whole], t[whole]) * MM if whole.any() else float("nan"),
        "fk_consistency_mm": float(np.linalg.norm(placed - np.stack(solved["targets"]), axis=-1)[mask].mean() * MM)
        if solved["targets"]
        else None,
        "contact_f1": _f1(np.stack(solved["contacts"])[mask] > 0.5, truth["contacts"][mask] > 0.5) if solved["contacts"] else None,
        "capture_contact_f1": _f1(np.stack(kept)[mask] > 0.5, truth["contacts"][mask] > 0.5),
        "foot_skate_cm_s": 100 * metrics.foot_skate(joints[whole], truth["contacts"][whole], HEELS_TOES, fps)
        if whole.any()
        else float("nan"),
    }
    return results
