"""Error metrics for 3D pose and motion, as small vectorised numpy functions.

Poses are arrays of shape (..., T, J, 3): any leading batch dimensions, then T frames of J
joints, in metres. Every metric returns a float in metres (or metres per second, per frame^2,
...) as its docstring states; callers convert to millimetres for reporting. Metrics that
average "over frames and joints" also average over the leading batch dimensions.

Definitions follow the common literature so numbers are comparable:
MPJPE, N-MPJPE and PA-MPJPE as in VideoPose3D (Pavllo et al. 2019; N-MPJPE from Rhodin et al.
2018), acceleration error as in HMR/VIBE/WHAM, jitter as in GLAMR/TRACE/WHAM.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.body.joints import JointSet
from engine.geometry import procrustes_align

# Names shared by H36M17 and SMPL24: the joints at the ends of the limbs.
END_JOINT_NAMES = ("l_wrist", "r_wrist", "l_ankle", "r_ankle")

# A contact probability above this counts as the foot being planted.
CONTACT_THRESHOLD = 0.5


def _check_pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape or pred.ndim < 2 or pred.shape[-1] != 3:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} must share one shape (..., J, 3)")
    return pred, gt


def _check_frames(joints: np.ndarray, needed: int, what: str) -> np.ndarray:
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim < 3 or joints.shape[-3] < needed:
        raise ValueError(f"{what} needs (..., T, J, 3) with T >= {needed}, got {joints.shape}")
    return joints


def rotation_angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The geodesic angle in degrees (...) between rotation matrices ``a`` and ``b`` (..., 3, 3)."""
    cos = (np.einsum("...ij,...ij->...", a, b) - 1.0) / 2.0  # trace(aᵀ b) = 1 + 2 cos θ
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def root_relative(joints: np.ndarray, root: int = 0) -> np.ndarray:
    """
    Expresses joint positions relative to a root joint.

    Args:
        joints (...xJx3 array): joint positions.
        root (int): index of the root joint (0, the pelvis, in H36M17 and SMPL24).
    Returns:
        joint positions minus the root's position (...xJx3 array); the root becomes zero.
    """
    joints = np.asarray(joints)
    return joints - joints[..., root : root + 1, :]


def mpjpe(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """
    Mean per-joint position error: the Euclidean distance between predicted and true joints,
    averaged over frames and joints. No alignment is applied; pass root-relative poses for the
    usual root-relative MPJPE.

    Args:
        pred (...xTxJx3 array): predicted joints, metres.
        gt (...xTxJx3 array): ground-truth joints, metres.
        mask (TxJ or ...xTxJ array, optional): booleans or non-negative weights, broadcast
            against (..., T, J); joints with weight 0 (e.g. missing in the ground truth) are left
            out and the mean is weighted by the rest.
    Returns:
        the (weighted) mean error in metres.
    Raises:
        ValueError: on mismatched shapes, or a mask whose weights sum to zero.
    """
    pred, gt = _check_pair(pred, gt)
    errors = np.linalg.norm(pred - gt, axis=-1)
    if mask is None:
        return float(errors.mean())
    weights = np.broadcast_to(np.asarray(mask, dtype=np.float64), errors.shape)
    total = weights.sum()
    if total <= 0:
        raise ValueError("mask leaves no joint to evaluate")
    return float((weights * errors).sum() / total)


def n_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """
    Scale-normalised MPJPE (Rhodin et al. 2018, VideoPose3D's ``n_mpjpe``): each predicted frame
    is first multiplied by the scale s minimising sum_j ||s * pred_j - gt_j||^2, that is
    s = <pred, gt> / <pred, pred> summed over the frame's joints. The scale acts about the
    origin, so pass root-relative poses (see :func:`root_relative`); an all-zero predicted
    frame has no scale and gives NaN.

    Args:
        pred (...xTxJx3 array): predicted joints, metres.
        gt (...xTxJx3 array): ground-truth joints, metres.
    Returns:
        mean error in metres after the per-frame scaling.
    """
    pred, gt = _check_pair(pred, gt)
    scale = (pred * gt).sum(axis=(-2, -1), keepdims=True) / (pred * pred).sum(axis=(-2, -1), keepdims=True)
    return mpjpe(scale * pred, gt)


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """
    Procrustes-aligned MPJPE: MPJPE after aligning each predicted frame to the ground truth by
    rotation, uniform scale and translation (:func:`procrustes_align`; reflections excluded).

    Args:
        pred (...xTxJx3 array): predicted joints, metres.
        gt (...xTxJx3 array): ground-truth joints, metres.
    Returns:
        mean error in metres after per-frame alignment.
    """
    pred, gt = _check_pair(pred, gt)
    return mpjpe(procrustes_align(pred, gt), gt)


def per_joint_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """
    Position error of each joint, averaged over frames (and batch dimensions).

    Args:
        pred (...xTxJx3 array): predicted joints, metres.
        gt (...xTxJx3 array): ground-truth joints, metres.
    Returns:
        mean Euclidean error per joint in metres (J array).
    """
    pred, gt = _check_pair(pred, gt)
    errors = np.linalg.norm(pred - gt, axis=-1)
    return errors.reshape(-1, errors.shape[-1]).mean(axis=0)


def end_joint_mpjpe(pred: np.ndarray, gt: np.ndarray, joint_set: JointSet) -> float:
    """
    MPJPE over the limb ends only: both wrists and both ankles, found by name in ``joint_set``
    (so it works for H36M17 and SMPL24 alike).

    Args:
        pred (...xTxJx3 array): predicted joints in ``joint_set`` order, metres.
        gt (...xTxJx3 array): ground-truth joints in ``joint_set`` order, metres.
        joint_set (JointSet): the joint order of both arrays.
    Returns:
        mean error in metres over the four end joints.
    """
    ends = [joint_set.index(name) for name in END_JOINT_NAMES]
    return float(per_joint_error(pred, gt)[ends].mean())


def accel_error(pred: np.ndarray, gt: np.ndarray, fps: float | None = None) -> float:
    """
    Acceleration error (HMR/VIBE/WHAM): the mean over frames and joints of ||a_pred - a_gt||,
    with the second finite difference a[t] = x[t+1] - 2 x[t] + x[t-1] over the T - 2 interior
    frames.

    Args:
        pred (...xTxJx3 array): predicted joints, metres, T >= 3.
        gt (...xTxJx3 array): ground-truth joints, metres.
        fps (float, optional): frame rate. Without it the result is in metres per frame^2 (the
            unit VIBE reports, after x1000, as mm/frame^2); with it, the result is multiplied
            by fps^2 and is in m/s^2.
    Returns:
        mean acceleration error in m/frame^2, or in m/s^2 when ``fps`` is given.
    """
    pred, gt = _check_pair(pred, gt)
    # Finite differences are linear: differencing the error equals a_pred - a_gt.
    difference = _check_frames(pred - gt, 3, "accel_error")
    error = float(np.linalg.norm(np.diff(difference, n=2, axis=-3), axis=-1).mean())
    return error if fps is None else error * fps**2


def bone_length_std(joints: np.ndarray, parents: Sequence[int]) -> float:
    """
    Bone length consistency: for each bone (joint j and its parent, root excluded) the
    population standard deviation (ddof=0) over time of its length, averaged over bones.
    Zero for a rigid skeleton.

    Args:
        joints (...xTxJx3 array): joint positions, metres.
        parents (sequence of J ints): parent index per joint, -1 for the root
            (e.g. ``JointSet.parents``).
    Returns:
        mean standard deviation of the bone lengths in metres.
    """
    joints = _check_frames(joints, 1, "bone_length_std")
    children = [j for j, p in enumerate(parents) if p >= 0]
    bones = joints[..., children, :] - joints[..., [parents[j] for j in children], :]
    return float(np.linalg.norm(bones, axis=-1).std(axis=-2).mean())


def foot_skate(joints: np.ndarray, contacts: np.ndarray, foot_indices: Sequence[int], fps: float) -> float:
    """
    Foot skating: the mean horizontal speed of the foot joints over the frames where they are
    labelled in contact with the ground. Horizontal is the x-z plane of the world frame (y up).
    Velocities use np.gradient along time: central differences (x[t+1] - x[t-1]) / 2 inside,
    one-sided differences at the first and last frames.

    Args:
        joints (...xTxJx3 array): world joint positions, metres, T >= 2.
        contacts (...xTxF array): contact probabilities or booleans for the F foot joints; a
            value above 0.5 counts as contact.
        foot_indices (sequence of F ints): indices of the foot joints in ``joints``.
        fps (float): frame rate.
    Returns:
        mean horizontal foot speed in m/s over the contact (frame, foot) pairs, or NaN when no
        foot is in contact on any frame (nothing to measure; 0.0 would read as perfect).
    """
    feet = _check_frames(joints, 2, "foot_skate")[..., list(foot_indices), :]
    in_contact = np.asarray(contacts, dtype=np.float64) > CONTACT_THRESHOLD
    if in_contact.shape != feet.shape[:-1]:
        raise ValueError(f"contacts {in_contact.shape} must have shape {feet.shape[:-1]}")
    if not in_contact.any():
        return float("nan")
    velocity = np.gradient(feet[..., [0, 2]], axis=-3) * fps
    return float(np.linalg.norm(velocity, axis=-1)[in_contact].mean())


def jitter(joints: np.ndarray, fps: float) -> float:
    """
    Jitter (GLAMR/TRACE/WHAM): the mean norm of the joints' jerk, the third time derivative of
    position, estimated by the third forward difference
    j[t] = (x[t+3] - 3 x[t+2] + 3 x[t+1] - x[t]) * fps^3 over the T - 3 windows, averaged over
    windows and joints. Exact for cubic motion; high values mean shaky motion.

    Args:
        joints (...xTxJx3 array): joint positions, metres, T >= 4.
        fps (float): frame rate.
    Returns:
        mean jerk norm in m/s^3 (WHAM's tables divide by 10, i.e. report units of 10 m/s^3).
    """
    joints = _check_frames(joints, 4, "jitter")
    return float(np.linalg.norm(np.diff(joints, n=3, axis=-3), axis=-1).mean()) * fps**3
