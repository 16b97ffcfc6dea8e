"""Training windows of body motion for the decoder's pose prior: SMPL rotations → representation.

Each sample is one window of a prepared split's SMPL rotations (``poses``) and foot contacts,
turned into the decoder's representation (:mod:`engine.decoding.representation`) on a rest
skeleton, as ``motion`` (T, :data:`FEATURES`): the 24 non-root points relative to the pelvis
(72), the twists' cos and sin (36), and the four contacts (left heel, left toe, right heel,
right toe). The window is turned about the vertical so that its first frame faces +z: a pose
prior has no reason to know where the camera was.

With ``augment`` (training), each window is drawn with, independently:

- **proportions**: the default skeleton's bone groups scaled (``engine.data.proportions``);
- **mirroring** (half the windows): left and right swapped, x → −x;
- **time reversal** (half the windows);
- **time warping**: played at 0.8-1.25× its speed (points and twists interpolated linearly
  between frames, contacts from the nearer frame), so 25 and 30 fps clips and slower and
  quicker people look alike.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from scipy.spatial.transform import Rotation
from torch.utils.data import Dataset

from engine.body.joints import SMPL24
from engine.body.skeleton import default_rest_joints
from engine.data.proportions import random_bone_factors, scale_rest_skeleton
from engine.decoding.representation import LEAF_JOINTS, TWIST_JOINTS, to_representation
from engine.geometry import torso_heading

FEATURES = 3 * (len(SMPL24) - 1 + 1) + 2 * len(TWIST_JOINTS) + 4  # points (nose in, pelvis out), twists, contacts
WARP = (0.8, 1.25)
_MIRROR = np.diag([-1.0, 1.0, 1.0])
_TORSO = [SMPL24.index(n) for n in ("l_hip", "r_hip", "l_shoulder", "r_shoulder")]


def motion_features(points: np.ndarray, twists: np.ndarray, contacts: np.ndarray) -> np.ndarray:
    """The flat per-frame vector (T, FEATURES) of pelvis-relative ``points`` (T, 25, 3),
    ``twists`` (T, 18, 2) and ``contacts`` (T, 4)."""
    return np.concatenate([points[:, 1:].reshape(len(points), -1), twists.reshape(len(points), -1), contacts], axis=1)


def split_features(motion: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The inverse of :func:`motion_features`: points (..., 25, 3) (pelvis at the origin), twists
    (..., 18, 2) and contacts (..., 4)."""
    lead = motion.shape[:-1]
    points = motion[..., :72].reshape(*lead, 24, 3)
    points = np.concatenate([np.zeros((*lead, 1, 3), motion.dtype), points], axis=-2)
    twists = motion[..., 72 : 72 + 2 * len(TWIST_JOINTS)].reshape(*lead, len(TWIST_JOINTS), 2)
    return points, twists, motion[..., -4:]


def facing_plus_z(points: np.ndarray) -> np.ndarray:
    """``points`` (T, 25, 3) turned about +y so that the first frame's torso faces +z."""
    heading = torso_heading(*points[0, _TORSO])
    return points @ Rotation.from_rotvec([0.0, -heading, 0.0]).as_matrix().T


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
        licences: tuple[str, ...] | None = None,
        seed: int = 0,
    ) -> None:
        root = Path(root)
        clips = [c for c in json.loads((root / "clips.json").read_text()) if c["split"] == split]
        if licences is not None:
            clips = [c for c in clips if any(c["licence"].startswith(prefix) for prefix in licences)]
        if not clips:
            raise ValueError(f"{root}: no clips in split {split!r}" + (f" with licences {licences}" if licences else ""))
        self.clips, self.frames, self.augment, self.seed = clips, frames, augment, seed
        self.poses = np.load(root / split / "poses.npy", mmap_mode="r")
        self.contacts = np.load(root / split / "contacts.npy", mmap_mode="r")
        self.valid = np.load(root / split / "valid.npy", mmap_mode="r")
        stride = stride or max(frames // 3, 1)
        self.windows = [(c["start"], c["frames"], s) for c in clips for s in range(0, max(c["frames"] - frames, 0) + 1, stride)]

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng(int(torch.randint(2**62, ()).item()) if self.augment else (self.seed, index))
        clip_start, length, offset = self.windows[index]
        rate = np.exp(rng.uniform(*np.log(WARP))) if self.augment else 1.0
        span = min(int(np.ceil((self.frames - 1) * rate)) + 1, length - offset)
        picks = clip_start + offset + np.arange(span)
        local = Rotation.from_rotvec(np.asarray(self.poses[picks], np.float64).reshape(-1, 3)).as_matrix().reshape(span, 24, 3, 3)
        local[:, list(LEAF_JOINTS)] = np.eye(3)  # the representation does not carry them
        contacts, valid = np.asarray(self.contacts[picks], np.float64), np.asarray(self.valid[picks])
        rest = default_rest_joints()
        if self.augment:
            rest = scale_rest_skeleton(rest, random_bone_factors(rng))
            if rng.random() < 0.5:
                local, contacts = mirrored(local, contacts)
                rest = (rest @ _MIRROR)[SMPL24.flip_permutation]
        points, twists = to_representation(local, rest)
        motion = motion_features(points, twists, contacts)
        # Resample at the warped rate (1: the frames as they are); past the clip's end, its last frame.
        times = np.arange(self.frames) * rate
        real = times <= span - 1
        times = np.minimum(times, span - 1)
        below = np.floor(times).astype(int)
        above, weight = np.minimum(below + 1, span - 1), (times - below)[:, None]
        motion = (1 - weight) * motion[below] + weight * motion[above]
        motion[:, -4:] = np.where(weight < 0.5, contacts[below], contacts[above])
        mask = real & valid[below] & valid[above]
        if self.augment and rng.random() < 0.5:
            motion, mask = motion[::-1], mask[::-1]
        points, twists, contacts = split_features(motion)
        motion = motion_features(facing_plus_z(points), twists, contacts)
        return {"motion": torch.from_numpy(motion.astype(np.float32)), "mask": torch.from_numpy(mask.copy())}
