"""Lifting sequences of any length with a fixed-window model (HoT, MixSTE).

A clip longer than the model's window is cut into overlapping windows; each window's output
is weighted by a triangle that fades out towards its edges, so overlapping windows cross-fade
and no seam shows. A clip shorter than the window is padded by repeating its first and last
frames. Windows go through the model in batches, optionally mirrored as well (flip test-time
augmentation: x → −x with left and right swapped, the answer mirrored back and averaged).
Joints the detector is unsure of (confidence below ``min_confidence``) are first filled in by
linear interpolation from the same joint's confident frames, so a dropped joint's guessed
position, or a missed frame's zeros, never reach the model as if they were seen.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.body.joints import H36M17
from engine.lifting.hot import HoT

FLIP = H36M17.flip_permutation


def fill_unsure_joints(keypoints: np.ndarray, min_confidence: float = 0.2) -> np.ndarray:
    """Keypoints (T, J, 3) with each joint's unsure frames interpolated from its sure ones
    (held at the ends); joints never sure are left as they are. Confidences are kept."""
    filled = np.array(keypoints, dtype=np.float64)
    frames = np.arange(len(filled))
    for j in range(filled.shape[1]):
        sure = filled[:, j, 2] >= min_confidence
        if sure.any() and not sure.all():
            for axis in (0, 1):
                filled[~sure, j, axis] = np.interp(frames[~sure], frames[sure], filled[sure, j, axis])
    return filled


def _flip(x: torch.Tensor) -> torch.Tensor:
    x = x[..., FLIP, :].clone()
    x[..., 0] *= -1
    return x


def lift_sequence(
    model: HoT,
    keypoints: np.ndarray,
    stride: int | None = None,
    flip_test: bool = True,
    batch: int = 32,
    min_confidence: float = 0.2,
) -> np.ndarray:
    """Root-relative 3D joints (T, 17, 3) in metres for HoT-normalised keypoints (T, 17, 3)."""
    window = model.config.frames
    stride = stride or max(window // 3, 1)
    keypoints = fill_unsure_joints(keypoints, min_confidence)
    total = len(keypoints)
    if total < window:  # pad by repeating the edge frames, centred
        before = (window - total) // 2
        picks = np.clip(np.arange(window) - before, 0, total - 1)
        return lift_sequence(model, keypoints[picks], stride, flip_test, batch, min_confidence)[before : before + total]
    starts = list(range(0, total - window + 1, stride))
    if starts[-1] != total - window:
        starts.append(total - window)
    taper = np.minimum(np.arange(1, window + 1), np.arange(window, 0, -1)).astype(np.float64)
    summed, weight = np.zeros((total, keypoints.shape[1], 3)), np.zeros((total, 1, 1))
    with torch.no_grad():
        for first in range(0, len(starts), batch):
            chunk = starts[first : first + batch]
            x = torch.from_numpy(np.stack([keypoints[s : s + window] for s in chunk])).float()
            out = model(x)
            if flip_test:
                out = (out + _flip(model(_flip(x)))) / 2
            for s, pred in zip(chunk, out.numpy()):
                summed[s : s + window] += taper[:, None, None] * pred
                weight[s : s + window] += taper[:, None, None]
    return (summed / weight).astype(np.float32)


class SequenceLifter:
    """A windowed model as a lifter (see :mod:`engine.lifting`): any number of frames in."""

    def __init__(self, model: HoT, name: str, flip_test: bool = True) -> None:
        self.model, self.name, self.flip_test = model.eval(), name, flip_test

    def __call__(self, keypoints: torch.Tensor) -> torch.Tensor:
        lifted = [lift_sequence(self.model, k.numpy(), flip_test=self.flip_test) for k in keypoints]
        return torch.from_numpy(np.stack(lifted))
