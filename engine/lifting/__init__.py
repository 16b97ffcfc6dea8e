"""3D pose lifters: 2D keypoint sequences (H36M17, HoT-normalised) → root-relative 3D joints.

Every lifter maps ``keypoints`` (B, T, 17, C) to joints (B, T, 17, 3) in metres, camera frame,
pelvis at the origin. The input's channels (:data:`INPUT_CHANNELS`): normalised x, y and
confidence, which every lifter reads, then the detector's own 3D guess of the joint, its world
landmark (x, y, z metres, hip-centred, the camera's axes) and whether there is one (1, else 0
with the coordinates 0), which only a lifter trained on them reads (its ``in_chans``; the
others take the first three, :func:`fit_channels`). The lifters are named in
:mod:`engine.lifting.registry`; ``load_lifter(name)`` builds one for whole sequences, and
:mod:`engine.lifting.streaming` lifts a clip that is still growing. Importing this package
does not import torch (the server and ``Settings`` read the registry).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import numpy as np
from scipy.ndimage import gaussian_filter1d

from engine.body.joints import H36M17
from engine.geometry import procrustes_align
from engine.keypoints import blazepose_to_h36m17

if TYPE_CHECKING:
    import torch

    from engine.lifting.inference import SequenceLifter

INPUT_CHANNELS = 7  # x, y, confidence; world x, y, z, world present
WORLD = slice(3, 7)  # the world landmark's channels
Array = TypeVar("Array", np.ndarray, "torch.Tensor")
# averaged_with_detector's shares of the way to the detector's 3D (knees and ankles, elbows and
# wrists) and its smoothing (frames)
LEG_SHARE, ARM_SHARE, DETECTOR_SIGMA = 0.3, 0.5, 2.0
LIMBS = [H36M17.index(f"{side}_{joint}") for side in "lr" for joint in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist")]  # H36M17
# averaged_with_detector moves the limbs' outer joints; the hips and shoulders frame the trunk,
# whose lean gives gravity and the floor (engine.pipeline.world), and stay the lifter's.
OUTER = [i for i, joint in enumerate(LIMBS) if H36M17.names[joint].endswith(("knee", "ankle", "elbow", "wrist"))]
_OUTER_ARMS = np.array([H36M17.names[LIMBS[i]].endswith(("elbow", "wrist")) for i in OUTER])  # else a knee or ankle


def world_channels(world_landmarks: np.ndarray) -> np.ndarray:
    """BlazePose world landmarks (T, 33, 3 or 4; NaN rows where nobody was found) as the
    lifter's world channels (T, 17, 4): H36M17 joints made as from the 2D landmarks, then 1
    where the frame has them, else zeros throughout."""
    xyz = np.asarray(world_landmarks, np.float64)[..., :3]
    present = np.isfinite(xyz).all(axis=(1, 2))
    joints = blazepose_to_h36m17(np.concatenate([np.nan_to_num(xyz), np.ones_like(xyz[..., :1])], -1))
    return np.where(present[:, None, None], joints, 0.0)


def fit_channels(keypoints: Array, channels: int) -> Array:
    """``keypoints`` (..., C) with the ``channels`` a model reads: the first ones, or zeros
    added (no world landmarks) when it reads more than there are."""
    missing = channels - keypoints.shape[-1]
    if missing <= 0:
        return keypoints[..., :channels]
    if isinstance(keypoints, np.ndarray):
        return np.pad(keypoints, [(0, 0)] * (keypoints.ndim - 1) + [(0, missing)])
    import torch

    return torch.nn.functional.pad(keypoints, (0, missing))


def mirrored(x: Array) -> Array:
    """The mirror image of lifter input or output (..., 17, C): left and right joints swapped,
    x → −x (the normalised image x, and the world landmark's x where there is one)."""
    x = x[..., H36M17.flip_permutation, :]
    x[..., 0] *= -1
    if x.shape[-1] > WORLD.start:
        x[..., WORLD.start] *= -1
    return x


def averaged_with_detector(
    lifted: np.ndarray, keypoints: np.ndarray, legs: float = LEG_SHARE, arms: float = ARM_SHARE, sigma: float = DETECTOR_SIGMA
) -> np.ndarray:
    """The lifter's answer ``lifted`` (..., 17, 3) to ``keypoints`` (..., 17, C) with the
    limbs' outer joints moved part of the way to the detector's world landmarks of the same
    frame (knees and ankles ``legs`` of the way, elbows and wrists ``arms``), those first moved
    onto the answer's limb joints (hips and shoulders too) by the similarity (turn, scale, shift)
    that fits them best; the move smoothed over time (Gaussian, ``sigma`` frames) where ``lifted``
    has a time axis (..., T, 17, 3; a single-frame lifter's batches of frames, (B, 1, 17, 3), are
    not smoothed). Frames without world landmarks, and input without their channels, are left as
    they are (but for the smoothing reaching them from their neighbours).

    Why: the lifter reads the world landmarks beside the 2D, yet, trained on a few hundred
    rendered clips, trusts them less than it could; the two answers' errors differ, so their
    average is closer than either. On the 16 rendered validation clips (`hot` and the decoder)
    PA-MPJPE went from 85.2 to 79.7 mm; on the 32 test clips from 70.6 to 67.9. A lifter's model
    card may give shares of its own (``detector_shares``, read by
    :func:`~engine.lifting.streaming.run_model`): `hot-free`, weaker, moves its arms 0.9 of the way
    (validation 89.3 mm at 0.5, 87.2 at 0.9; test 82.4 before any average, 74.7 now). The
    defaults were chosen for `hot` on the validation clips: the shares (every limb joint 0.3 /
    0.4 / 0.5 of the way: 81.1 / 80.9 / 81.5 mm; the outer joints 0.3: 80.7; then legs 0.2 / 0.5
    with arms 0.3: 80.8 / 81.0; arms 0.5 / 0.7 / 0.9 with legs 0.3: 79.7 / 79.6 / 79.8, jitter
    61 / 63 / 65 m/s³) and the smoothing (the landmarks shake: jitter 72 m/s³ unsmoothed, 65 at
    sigma 2, 63 at 4, 59 before; every limb joint at 0.3). Moving the hips and shoulders too tilted the trunk, and with
    it the floor: a standing foot of the leg-stretch clip floated 26 cm (tests/test_upright.py).
    The turn, size and place of the pose stay the lifter's (docs/evaluation.md)."""
    if keypoints.shape[-1] < WORLD.stop or not (legs or arms):
        return lifted
    present = keypoints[..., 0, WORLD.stop - 1] > 0.5
    if not present.any():
        return lifted
    answer, world = lifted[present][:, LIMBS], keypoints[present][:, LIMBS, WORLD.start : WORLD.stop - 1].astype(np.float64)
    gap = np.zeros((*lifted.shape[:-2], len(LIMBS), 3))
    gap[present] = procrustes_align(world, answer) - answer
    if sigma and lifted.ndim > 3:
        gap = gaussian_filter1d(gap, sigma, axis=-3, mode="nearest")
    averaged = lifted.copy()
    share = np.where(_OUTER_ARMS, arms, legs)[:, None]
    averaged[..., [LIMBS[i] for i in OUTER], :] += share * gap[..., OUTER, :]
    return averaged


def normalise_screen(uv: np.ndarray, width: float, height: float) -> np.ndarray:
    """HoT's 2D normalisation of full-image pixels: ``uv / w * 2 - [1, h / w]`` (both axes
    divided by the width, so x spans [-1, 1] and y keeps the aspect ratio)."""
    return uv / width * 2 - np.array([1.0, height / width])


def screen_pixels(normalised: np.ndarray, width: float, height: float) -> np.ndarray:
    """Full-image pixels of :func:`normalise_screen`'s ``normalised`` 2D (its inverse)."""
    return (normalised + np.array([1.0, height / width])) * width / 2


def load_lifter(name: str) -> SequenceLifter:
    """The registered lifter ``name`` (:data:`~engine.lifting.registry.LIFTERS`) with its
    shipped weights, for whole sequences; KeyError lists the known names."""
    from engine.lifting.inference import SequenceLifter
    from engine.lifting.weights import load_shipped

    return SequenceLifter(load_shipped(name), name)
