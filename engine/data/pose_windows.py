"""Training windows of body motion for the decoder's pose prior: SMPL rotations → representation.

Each sample is one window of a prepared split's SMPL rotations (``poses``) and foot contacts,
turned into the decoder's representation (:mod:`engine.decoding.representation`) on a rest
skeleton, as ``motion`` (T, FEATURES: :mod:`engine.decoding.features`). The rest skeleton is
the default one (``skeleton="default"``) or the clip's own rig (``"own"``: the skeleton that
poses its rotations into its prepared SMPL24 joints, :func:`~engine.body.kinematics.posing_rest`).
The rigs' arms are not the default skeleton's: the Bandai rigs' forearms are 1.29 times as
long, their upper arms 0.90; a prior that only saw the default's answered the lifter's long
forearms with short ones (FK consistency about 20 mm, mostly the arms: docs/decoder.md). The window is turned
about the vertical so that its first frame faces +z: a pose prior has no reason to know where
the camera was.

With ``augment`` (training), each window is drawn with, independently:

- **proportions**: the rest skeleton's bone groups scaled (``engine.data.proportions``);
- **mirroring** (half the windows): left and right swapped, x → −x;
- **time reversal** (half the windows);
- **time warping**: played at 0.8-1.25× its speed (points and twists interpolated linearly
  between frames, contacts from the nearer frame), so 25 and 30 fps clips and slower and
  quicker people look alike.

With ``conditions`` (the decoder's denoiser), each sample also has ``conditions`` (T,
:data:`CONDITIONS`): the window's H36M17 joints (as the default skeleton carries them,
:func:`engine.body.ik.h36m_from_smpl`) made to look lifted (:func:`lifted_like`: scale, bias,
drift, jitter, lean, their sizes times ``noise``; frames and windows missing), relative to their pelvis, and a flag per
frame (1 where the joints are there): ``engine.decoding.features.window_conditions``, as the decoder solver makes them. The
window is turned so that the conditions' first frame faces +z; the motion turns with it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d
from scipy.spatial.transform import Rotation
from torch.utils.data import Dataset

from engine.body.ik import h36m_from_smpl
from engine.body.joints import H36M17, SMPL24, JointSet
from engine.body.kinematics import forward_kinematics_np, posing_rest
from engine.body.skeleton import default_rest_joints
from engine.data.dataset import sample_rng, split_clips
from engine.data.proportions import random_bone_factors, scale_rest_skeleton
from engine.decoding.features import FEATURES, heading_turn, motion_features, split_features, window_conditions
from engine.decoding.representation import LEAF_JOINTS, to_representation
from engine.geometry import rotvec_to_matrix

WARP = (0.8, 1.25)
_MIRROR = np.diag([-1.0, 1.0, 1.0])
_TORSO = [SMPL24.index(n) for n in ("l_hip", "r_hip", "l_shoulder", "r_shoulder")]
SKELETONS = ("default", "own")  # PoseWindows' rest skeletons (module docstring)
RIG_FRAMES = 60  # frames of a clip its own rig is found from (posing_rest is exact to a millimetre or two)


SCALE, LEAN_DEG, BIAS_M, DRIFT_M, JITTER_M = 0.03, 3.0, 0.012, 0.012, 0.006  # lifted_like's error sizes


def lifted_like(h36m: np.ndarray, rng: np.random.Generator, noise: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """H36M17 joints (T, 17, 3) with a lifter's kinds of error, relative to their pelvis, and
    which frames (T,) are there: the whole pose scaled (``SCALE``), leaned about a level axis
    (``LEAN_DEG``), each joint off by a bias (``BIAS_M`` a coordinate), a slow drift (``DRIFT_M``,
    over about 5 frames) and jitter (``JITTER_M``), every size times ``noise``; a tenth of the
    windows have no joints at all, and others miss runs of frames. Together 45 mm from the joints on the validation
    windows, below ``hot``'s 52 mm on the test split: a decoder trained on conditions noisier
    than its lifter's answers learns to trust them less than it should (at 72 mm, the first
    pairs' sizes, it held real dancers' legs in the prior's standing pose and landed 26 mm
    further from the motion than the lifter)."""
    frames = len(h36m)
    axis = np.array([np.cos(angle := rng.uniform(0, 2 * np.pi)), 0.0, np.sin(angle)])
    lean = Rotation.from_rotvec(axis * np.radians(rng.normal(0.0, noise * LEAN_DEG))).as_matrix()
    joints = (h36m - h36m[:, :1]) @ lean.T * np.exp(rng.normal(0.0, noise * SCALE))
    joints = joints + rng.normal(0.0, noise * BIAS_M, (1, len(H36M17), 3)) + rng.normal(0.0, noise * JITTER_M, joints.shape)
    # Gaussian-filtered white noise of this size has a standard deviation of DRIFT_M.
    joints = joints + gaussian_filter1d(rng.normal(0.0, noise * DRIFT_M * np.sqrt(2 * np.sqrt(np.pi) * 5), joints.shape), 5.0, axis=0)
    present = np.ones(frames, bool)
    if rng.random() < 0.1:
        present[:] = False
    else:
        for _ in range(rng.poisson(1.0)):
            start = rng.integers(frames)
            present[start : start + rng.integers(1, frames // 4 + 2)] = False
    return joints - joints[:, :1], present


def mirror_pose(points: np.ndarray, joints: JointSet) -> np.ndarray:
    """Points (..., J, 3) of the joint set ``joints`` as the mirror image shows them (x → −x,
    left and right swapped)."""
    return (points @ _MIRROR)[..., joints.flip_permutation, :]


def mirrored(local: np.ndarray, contacts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local rotations (T, 24, 3, 3) and contacts (T, 4) of the mirror image (x → −x)."""
    local = (_MIRROR @ local @ _MIRROR)[:, SMPL24.flip_permutation]
    return local, contacts[:, [2, 3, 0, 1]]


class PoseWindows(Dataset):
    """Windows of ``frames`` frames of a prepared split (``engine data prepare``) as
    ``{"motion": (T, FEATURES), "mask": (T,)}`` float32/bool tensors (module docstring).
    Short clips are padded with their last frame, masked out."""

    def __init__(
        self,
        root: str | Path,
        split: str,
        frames: int = 81,
        stride: int | None = None,
        augment: bool = False,
        conditions: bool = False,
        noise: float = 1.0,
        licences: tuple[str, ...] | None = None,
        seed: int = 0,
        skeleton: str = "default",
    ) -> None:
        if skeleton not in SKELETONS:
            raise ValueError(f"skeleton must be one of {', '.join(SKELETONS)}, got {skeleton!r}")
        root = Path(root)
        clips = split_clips(root, split, licences)
        self.clips, self.frames, self.augment, self.conditions, self.noise, self.seed = clips, frames, augment, conditions, noise, seed
        self.poses = np.load(root / split / "poses.npy", mmap_mode="r")
        self.contacts = np.load(root / split / "contacts.npy", mmap_mode="r")
        self.valid = np.load(root / split / "valid.npy", mmap_mode="r")
        stride = stride or max(frames // 3, 1)
        self.windows = [(c["start"], c["frames"], s) for c in clips for s in range(0, max(c["frames"] - frames, 0) + 1, stride)]
        self.rests = {c["start"]: default_rest_joints() for c in clips}  # clip start → its rest skeleton
        if skeleton == "own":
            joints = np.load(root / split / "smpl_joints.npy", mmap_mode="r")
            for c in clips:
                picks = slice(c["start"], c["start"] + min(c["frames"], RIG_FRAMES))
                local = rotvec_to_matrix(np.asarray(self.poses[picks], np.float64).reshape(-1, 24, 3))
                self.rests[c["start"]] = posing_rest(local, np.asarray(joints[picks], np.float64))

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = sample_rng(not self.augment, self.seed, index)
        clip_start, length, offset = self.windows[index]
        rate = np.exp(rng.uniform(*np.log(WARP))) if self.augment else 1.0
        span = min(int(np.ceil((self.frames - 1) * rate)) + 1, length - offset)
        picks = clip_start + offset + np.arange(span)
        local = Rotation.from_rotvec(np.asarray(self.poses[picks], np.float64).reshape(-1, 3)).as_matrix().reshape(span, 24, 3, 3)
        local[:, list(LEAF_JOINTS)] = np.eye(3)  # the representation does not carry them
        contacts, valid = np.asarray(self.contacts[picks], np.float64), np.asarray(self.valid[picks])
        rest = self.rests[clip_start]
        if self.augment:
            rest = scale_rest_skeleton(rest, random_bone_factors(rng))
            if rng.random() < 0.5:
                local, contacts = mirrored(local, contacts)
                rest = mirror_pose(rest, SMPL24)
        points, twists = to_representation(local, rest)
        motion = motion_features(points, twists, contacts)
        if self.conditions:  # the H36M17 joints ride along, resampled with the rest
            joints, world = forward_kinematics_np(local, rest, rep="matrix")
            motion = np.concatenate([motion, h36m_from_smpl(joints, world, rest).reshape(span, -1)], axis=1)
        # Resample at the warped rate (1: the frames as they are); past the clip's end, its last frame.
        times = np.arange(self.frames) * rate
        real = times <= span - 1
        times = np.minimum(times, span - 1)
        below = np.floor(times).astype(int)
        above, weight = np.minimum(below + 1, span - 1), (times - below)[:, None]
        motion = (1 - weight) * motion[below] + weight * motion[above]
        motion[:, FEATURES - 4 : FEATURES] = np.where(weight < 0.5, contacts[below], contacts[above])
        mask = real & valid[below] & valid[above]
        if self.augment and rng.random() < 0.5:
            motion, mask = motion[::-1], mask[::-1]
        points, twists, contacts = split_features(motion[:, :FEATURES])
        sample = {"mask": torch.from_numpy(mask.copy())}
        if self.conditions:
            lifted, present = lifted_like(motion[:, FEATURES:].reshape(self.frames, len(H36M17), 3), rng, self.noise)
            flat, turn = window_conditions(lifted, present)
            if not present.any():
                turn = heading_turn(points[0, _TORSO])
            sample["conditions"] = torch.from_numpy(flat.astype(np.float32))
        else:
            turn = heading_turn(points[0, _TORSO])
        sample["motion"] = torch.from_numpy(motion_features(points @ turn.T, twists, contacts).astype(np.float32))
        return sample
