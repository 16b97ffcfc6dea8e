"""Windows of rendered corpora as lifter training samples: what the real detector saw in, the
rendered body's joints out.

A sample is a window of ``frames`` consecutive frames of one rendered clip (``engine data
render``; its shards, :mod:`engine.data.render.shards`), in the form
:class:`~engine.data.dataset.MocapWindows` gives, with the lifter's full input:
``keypoints`` (T, 17, 7) the detector's 2D landmarks as H36M17, HoT-normalised, with
confidence, unsure joints filled as the pipeline fills them, then the detector's world landmarks
(:func:`~engine.lifting.world_channels`); ``joints`` (T, 17, 3) the rendered body's H36M17
joints in the camera, pelvis at the origin; ``mask`` (T,) true on frames with ground truth.
With ``world_dropout`` a window's world landmarks are left out (zeros) at that rate, so that a
lifter trained on them still lifts without them. Windows start every ``stride`` frames, as
:class:`~engine.data.dataset.MocapWindows`' do. With ``size`` every clip's joints are scaled
to that :func:`skeleton_size`: the rendered bodies range from 0.9 to 1.65 times the mocap's
size, which no 2D view can tell apart from distance, so a lifter trained on them as they are
learns an average size of its own, not the mocap's. Clips shorter than a window are padded by
repeating their edge frames, and the padding is masked out.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from engine.body.joints import H36M17
from engine.data.dataset import sample_rng, window_starts
from engine.data.render.shards import to_camera
from engine.keypoints import detected_keypoints
from engine.lifting import WORLD, normalise_screen, world_channels
from engine.lifting.inference import fill_unsure_joints

ARRAYS = ("landmarks", "world_landmarks", "h36m", "valid", "extrinsics")


def skeleton_size(h36m: np.ndarray) -> float:
    """The mean over frames of the summed lengths of H36M17's 16 bones, metres, of joints (T, 17, 3)."""
    parents = np.array(H36M17.parents[1:])
    return float(np.linalg.norm(h36m[:, 1:] - h36m[:, parents], axis=-1).sum(-1).mean())


class RenderedWindows(Dataset):
    """Windows (module docstring) of the ``split`` clips of every corpus folder in ``corpora``,
    only those whose licence starts with one of ``licences`` when given."""

    def __init__(
        self,
        corpora: list[str | Path],
        split: str = "train",
        frames: int = 81,
        stride: int | None = None,
        licences: tuple[str, ...] | None = None,
        world_dropout: float = 0.0,
        size: float | None = None,
        fixed: bool = False,
        seed: int = 0,
    ) -> None:
        self.frames, self.world_dropout, self.fixed, self.seed = frames, world_dropout, fixed, seed
        stride = stride or max(frames // 3, 1)
        self.corpora, self.clips, self.windows = [], [], []  # windows: (corpus, first row, clip length, start in clip, scale)
        for folder in map(Path, corpora):
            if not (folder / split / "h36m.npy").is_file():
                raise FileNotFoundError(f"{folder}: no packed {split} split (engine data render ... --split {split})")
            settings = json.loads((folder / "render.json").read_text())["settings"]
            arrays = {key: np.load(folder / split / f"{key}.npy", mmap_mode="r") for key in ARRAYS}
            self.corpora.append((arrays, settings["width"], settings["height"]))
            for clip in json.loads((folder / "clips.json").read_text()):
                if clip["split"] != split or (licences and not clip["licence"].startswith(licences)):
                    continue
                self.clips.append(clip)
                rows = slice(clip["start"], clip["start"] + clip["frames"])
                scale = size / skeleton_size(np.asarray(arrays["h36m"][rows])) if size else 1.0
                starts = window_starts(clip["frames"], frames, stride)
                self.windows += [(len(self.corpora) - 1, clip["start"], clip["frames"], s, scale) for s in starts]
        if not self.windows:
            raise ValueError(f"no {split} clips in {', '.join(map(str, corpora))}" + (f" with licences {licences}" if licences else ""))

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        corpus, first, length, offset, scale = self.windows[index]
        arrays, width, height = self.corpora[corpus]
        picks = first + np.clip(np.arange(offset, offset + self.frames), 0, length - 1)
        real = np.arange(offset, offset + self.frames) < length
        seen = {key: np.asarray(arrays[key][picks], np.float64) for key in ARRAYS}
        pixels = detected_keypoints(seen["landmarks"])
        keypoints = np.concatenate(
            [normalise_screen(pixels[..., :2], width, height), pixels[..., 2:], world_channels(seen["world_landmarks"])], -1
        )
        keypoints = fill_unsure_joints(keypoints)
        if sample_rng(self.fixed, self.seed, index).random() < self.world_dropout:
            keypoints[..., WORLD] = 0.0
        cam = to_camera(seen["h36m"], seen["extrinsics"])
        sample = {"keypoints": keypoints, "joints": scale * (cam - cam[:, :1]), "mask": real & (seen["valid"] > 0)}
        return {k: torch.from_numpy(np.asarray(v, np.float32 if k != "mask" else bool)) for k, v in sample.items()}
