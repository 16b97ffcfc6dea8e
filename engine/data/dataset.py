"""Training windows from prepared mocap: 2D keypoints seen by a random camera → 3D joints.

Each sample is one window of ``frames`` frames from one clip of a split (short clips are
padded by repeating their edge frames, and the padding is masked out). A camera
(``engine.data.cameras.random_camera``) and, with ``noise="realistic"``, detector noise
(``engine.data.noise.DetectorNoise``) are drawn per sample: from torch's random stream when
training (so ``torch.manual_seed`` and DataLoader workers make it reproducible), from a
fixed seed per index when ``fixed=True`` (evaluation sees the same cameras every time).
With ``proportions=True`` each window's bones are first scaled by random factors
(``engine.data.proportions``), so the lifter sees every rig's proportions. With
``camera_frames`` longer than the window, the camera is aimed as for that many frames around it
(a single-frame lifter's samples are then seen as the frames of a clip are: the person
anywhere in the picture as they move, not always at its centre). With ``rotations=True``
(scoring a solver), a sample also carries the ground truth a solver is scored against.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from engine.data.cameras import random_camera
from engine.data.noise import DetectorNoise
from engine.data.proportions import random_bone_factors, scale_bones
from engine.lifting import normalise_screen

Noise = Literal["clean", "realistic"]


def split_clips(root: Path, split: str, licences: tuple[str, ...] | None = None) -> list[dict]:
    """The clips (``clips.json`` records) of ``split`` in a prepared folder ``root``, only those
    whose licence starts with one of ``licences`` when given; ValueError when none are left."""
    clips = [c for c in json.loads((root / "clips.json").read_text()) if c["split"] == split]
    if licences is not None:
        clips = [c for c in clips if any(c["licence"].startswith(prefix) for prefix in licences)]
    if not clips:
        raise ValueError(f"{root}: no clips in split {split!r}" + (f" with licences {licences}" if licences else ""))
    return clips


def window_starts(length: int, frames: int, stride: int) -> list[int]:
    """Where the windows of ``frames`` frames of a clip of ``length`` start, every ``stride``
    frames; a last, padded window reaches the clip's end, so with ``stride == frames`` every
    frame counts once."""
    starts = list(range(0, max(length - frames, 0) + 1, stride))
    if starts[-1] + frames < length:
        starts.append(starts[-1] + stride)
    return starts


def sample_rng(fixed: bool, seed: int, index: int) -> np.random.Generator:
    """A sample's random stream: seeded by (``seed``, ``index``) when ``fixed`` (evaluation sees
    the same draws every time), else drawn from torch's stream (``torch.manual_seed`` and
    DataLoader workers make training reproducible)."""
    if fixed:
        return np.random.default_rng((seed, index))
    return np.random.default_rng(int(torch.randint(2**62, ()).item()))


class MocapWindows(Dataset):
    """Windows of a prepared split (``engine data prepare``) as lifter training samples.

    A sample is a dict of float32 tensors: ``keypoints`` (T, 17, 3) HoT-normalised 2D and
    confidence, ``joints`` (T, 17, 3) root-relative camera-frame H36M17 in metres, ``root``
    (T, 3) the camera-frame pelvis, ``mask`` (T,) true on real, glitch-free frames, and
    ``camera`` (6,) fx, fy, cx, cy, width, height. With ``rotations``: ``poses`` (T, 72) the
    SMPL rotations on the default skeleton, ``contacts`` (T, 4) left heel, left toe, right
    heel, right toe, ``world_root`` (T, 3) the world pelvis, and ``camera_rotation`` (3, 3)
    world → camera.
    """

    def __init__(
        self,
        root: str | Path,
        split: str,
        frames: int = 243,
        stride: int | None = None,
        noise: Noise = "realistic",
        fixed: bool = False,
        seed: int = 0,
        licences: tuple[str, ...] | None = None,
        proportions: bool = False,
        camera_frames: int = 0,
        rotations: bool = False,
    ) -> None:
        root = Path(root)
        self.clips = clips = split_clips(root, split, licences)
        self.h36m = np.load(root / split / "h36m.npy", mmap_mode="r")
        self.valid = np.load(root / split / "valid.npy", mmap_mode="r")
        self.truth = {key: np.load(root / split / f"{key}.npy", mmap_mode="r") for key in ("poses", "contacts")} if rotations else None
        self.frames, self.noise, self.fixed, self.seed, self.proportions = frames, noise, fixed, seed, proportions
        self.camera_frames = max(camera_frames, frames)
        self.detector = DetectorNoise.load() if noise == "realistic" else None
        stride = stride or max(frames // 3, 1)
        # (clip index, clip start, clip length, window start within the clip) for every window
        self.windows = [(i, c["start"], c["frames"], s) for i, c in enumerate(clips) for s in window_starts(c["frames"], frames, stride)]

    def __len__(self) -> int:
        return len(self.windows)

    def _window(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The window's joints (T, 17, 3) and mask (T,), and the joints the camera is aimed at
        (``camera_frames`` around the window, within its clip)."""
        _, clip_start, length, offset = self.windows[index]
        picks = np.clip(np.arange(offset, offset + self.frames), 0, length - 1)
        real = np.arange(offset, offset + self.frames) < length
        joints = np.asarray(self.h36m[clip_start + picks], np.float64)
        if self.camera_frames == self.frames:
            return joints, real & self.valid[clip_start + picks], joints
        first = int(np.clip(offset + self.frames // 2 - self.camera_frames // 2, 0, max(length - self.camera_frames, 0)))
        seen = np.asarray(self.h36m[clip_start + first : clip_start + min(first + self.camera_frames, length)], np.float64)
        return joints, real & self.valid[clip_start + picks], seen

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = sample_rng(self.fixed, self.seed, index)
        joints, mask, seen = self._window(index)
        if self.proportions:
            joints = scale_bones(joints, random_bone_factors(rng))
        camera = random_camera(rng, joints if seen is joints else np.concatenate([seen, joints]))
        uv = camera.project(joints)
        if self.detector is not None:
            uv, confidence = self.detector.apply(uv, (camera.width, camera.height), rng)
        else:
            confidence = np.ones(uv.shape[:2])
        cam = camera.to_camera(joints)
        sample = {
            "keypoints": np.concatenate([normalise_screen(uv, camera.width, camera.height), confidence[..., None]], -1),
            "joints": cam - cam[:, :1],
            "root": cam[:, 0],
            "mask": mask,
            "camera": np.array([camera.fx, camera.fy, camera.cx, camera.cy, camera.width, camera.height]),
        }
        if self.truth is not None:
            _, clip_start, length, offset = self.windows[index]
            picks = clip_start + np.clip(np.arange(offset, offset + self.frames), 0, length - 1)
            sample |= {key: self.truth[key][picks] for key in self.truth}
            sample |= {"world_root": joints[:, 0], "camera_rotation": camera.R}
        return {k: torch.from_numpy(np.asarray(v, np.float32 if k != "mask" else bool)) for k, v in sample.items()}
