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
from engine.pipeline.track import fill_gaps

FLIP = H36M17.flip_permutation


def fill_unsure_joints(keypoints: np.ndarray, min_confidence: float = 0.2, horizon: int | None = None) -> np.ndarray:
    """Keypoints (T, J, 3) with each joint's unsure frames filled from its sure ones by
    :func:`~engine.pipeline.track.fill_gaps` looking ``horizon`` frames ahead (the whole clip
    when None: plain interpolation, held at the ends); joints never sure are left as they are.
    Confidences are kept."""
    filled = np.array(keypoints, dtype=np.float64)
    for j in range(filled.shape[1]):
        sure = filled[:, j, 2] >= min_confidence
        filled[:, j, :2] = fill_gaps(filled[:, j, :2], sure, horizon or len(filled))
    return filled


def _flip(x: torch.Tensor) -> torch.Tensor:
    x = x[..., FLIP, :].clone()
    x[..., 0] *= -1
    return x


class WindowedLifting:
    """Lifting of a sequence that grows at the end, window by window (module docstring).

    Windows start every ``stride`` frames; once a clip is known to be complete, one more window
    ends at its last frame (or, for a clip shorter than a window, one padded window covers it).
    A frame is final once every window over it has run: ``window`` frames after it have arrived.
    """

    def __init__(self, model: HoT, flip_test: bool = True, batch: int = 32, stride: int | None = None) -> None:
        self.model, self.flip_test, self.batch = model, flip_test, batch
        self.window = model.config.frames
        self.stride = stride or max(self.window // 3, 1)
        self.taper = np.minimum(np.arange(1, self.window + 1), np.arange(self.window, 0, -1)).astype(np.float64)[:, None, None]
        self.summed, self.weight = np.zeros((0, 17, 3)), np.zeros((0, 1, 1))
        self.next_start = 0

    def _lift(self, windows: list[np.ndarray]) -> np.ndarray:
        out = []
        with torch.no_grad():
            for first in range(0, len(windows), self.batch):
                x = torch.from_numpy(np.stack(windows[first : first + self.batch])).float()
                y = self.model(x)
                if self.flip_test:
                    y = (y + _flip(self.model(_flip(x)))) / 2
                out.append(y.numpy().astype(np.float64))
        return np.concatenate(out) if out else np.zeros((0, self.window, 17, 3))

    def _grow(self, total: int) -> None:
        extra = total - len(self.summed)
        self.summed = np.concatenate([self.summed, np.zeros((extra, 17, 3))])
        self.weight = np.concatenate([self.weight, np.zeros((extra, 1, 1))])

    def extend(self, keypoints: np.ndarray, complete: bool = False) -> np.ndarray:
        """The lifted frames (F, 17, 3) that are final, given all frames so far (N, 17, 3;
        HoT-normalised, unsure joints filled); every frame when ``complete``."""
        total = len(keypoints)
        self._grow(total)
        starts = list(range(self.next_start, total - self.window + 1, self.stride))
        for start, pred in zip(starts, self._lift([keypoints[s : s + self.window] for s in starts])):
            self.summed[start : start + self.window] += self.taper * pred
            self.weight[start : start + self.window] += self.taper
        self.next_start = starts[-1] + self.stride if starts else self.next_start
        if not complete:
            settled = max(total - self.window, 0)
            return self.summed[:settled] / np.maximum(self.weight[:settled], 1e-12)
        summed, weight = self._with_tail(keypoints)
        self.summed, self.weight = summed, weight
        return summed / weight

    def provisional(self, keypoints: np.ndarray) -> np.ndarray:
        """Every frame so far (N, 17, 3), lifted as if the clip ended here (nothing is kept)."""
        self.extend(keypoints)
        summed, weight = self._with_tail(keypoints)
        return summed / weight

    def _with_tail(self, keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        total = len(keypoints)
        if total < self.window:  # one window padded by repeating the edge frames, centred
            before = (self.window - total) // 2
            picks = np.clip(np.arange(self.window) - before, 0, total - 1)
            pred = self._lift([keypoints[picks]])[0][before : before + total]
            return pred, np.ones((total, 1, 1))
        summed, weight = self.summed.copy(), self.weight.copy()
        if self.next_start - self.stride != total - self.window:
            pred = self._lift([keypoints[total - self.window :]])[0]
            summed[total - self.window :] += self.taper * pred
            weight[total - self.window :] += self.taper
        return summed, weight


def lift_sequence(
    model: HoT,
    keypoints: np.ndarray,
    stride: int | None = None,
    flip_test: bool = True,
    batch: int = 32,
    min_confidence: float = 0.2,
) -> np.ndarray:
    """Root-relative 3D joints (T, 17, 3) in metres for HoT-normalised keypoints (T, 17, 3)."""
    filled = fill_unsure_joints(keypoints, min_confidence)
    return WindowedLifting(model, flip_test, batch, stride).extend(filled, complete=True).astype(np.float32)


class SequenceLifter:
    """A windowed model as a lifter (see :mod:`engine.lifting`): any number of frames in."""

    def __init__(self, model: HoT, name: str, flip_test: bool = True) -> None:
        self.model, self.name, self.flip_test = model.eval(), name, flip_test

    def __call__(self, keypoints: torch.Tensor) -> torch.Tensor:
        lifted = [lift_sequence(self.model, k.numpy(), flip_test=self.flip_test) for k in keypoints]
        return torch.from_numpy(np.stack(lifted))
