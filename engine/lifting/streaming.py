"""Lifting a clip that grows at the end, as the capture decodes it.

A streaming lifter takes all frames so far (N, 17, C: the lifter input of
:mod:`engine.lifting`, unsure joints filled) each time and answers the frames that are final, those that no later
frame can change; ``settled`` is how many that is. ``provisional`` answers every frame so far,
as if the clip ended there, without changing what is kept. Two kinds implement it:

- :class:`WindowedLifting`, for models that see a window of frames at once (HoT, MixSTE):
  overlapping windows whose outputs cross-fade under a triangle taper, so no seam shows; a
  frame is final once every window over it has run.
- :class:`PerFrameLifting`, for single-frame models: every frame is final at once.

Both mirror the input as well (flip test-time augmentation: x → −x with left and right
swapped, :func:`~engine.lifting.mirrored`, the answer mirrored back and averaged) unless told
not to, and average the answer's limbs with the detector's world landmarks where the input has
them (:func:`~engine.lifting.averaged_with_detector`).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from engine.lifting import averaged_with_detector, mirrored


class StreamingLifter(Protocol):
    settled: int

    def extend(self, keypoints: np.ndarray, complete: bool = False) -> np.ndarray:
        """The final frames (``settled``, 17, 3) given all frames so far; every frame when ``complete``."""

    def provisional(self, keypoints: np.ndarray) -> np.ndarray:
        """Every frame so far, lifted as if the clip ended here (nothing is kept)."""


def run_model(model: torch.nn.Module, x: torch.Tensor, flip_test: bool) -> np.ndarray:
    """``model``'s answer to ``x`` (its 2D input), averaged with the mirrored input's when
    ``flip_test``, then with the detector's own 3D where ``x`` has it
    (:func:`~engine.lifting.averaged_with_detector`, with the shares its model card's
    ``detector_shares`` gives, ``legs`` and ``arms``: a weaker lifter trusts the detector more)."""
    with torch.no_grad():
        if not flip_test:
            y = model(x)
        else:
            # One call on both: a single frame's two small calls cost half again as much as one of two frames.
            y = model(torch.cat([x, mirrored(x)]))
            y = (y[: len(x)] + mirrored(y[len(x) :])) / 2
    shares = getattr(model, "card", {}).get("detector_shares", {})
    return averaged_with_detector(y.numpy().astype(np.float64), x.numpy(), **shares)


class WindowedLifting:
    """Lifting of a growing clip, window by window (module docstring), with a model whose
    ``window`` is its number of frames.

    Windows start every ``stride`` frames; once a clip is known to be complete, one more window
    ends at its last frame (or, for a clip shorter than a window, one padded window covers it).
    A frame is final once every window over it has run: ``window`` frames after it have arrived.
    """

    def __init__(self, model: torch.nn.Module, flip_test: bool = True, batch: int = 32, stride: int | None = None) -> None:
        self.model, self.flip_test, self.batch = model, flip_test, batch
        self.window = model.window
        self.stride = stride or max(self.window // 3, 1)
        self.taper = np.minimum(np.arange(1, self.window + 1), np.arange(self.window, 0, -1)).astype(np.float64)[:, None, None]
        self.summed: np.ndarray | None = None
        self.weight = np.zeros((0, 1, 1))
        self.next_start = 0
        self.settled = 0

    def _lift(self, windows: list[np.ndarray]) -> np.ndarray:
        out = [
            run_model(self.model, torch.from_numpy(np.stack(windows[first : first + self.batch])).float(), self.flip_test)
            for first in range(0, len(windows), self.batch)
        ]
        return np.concatenate(out)

    def _grow(self, keypoints: np.ndarray) -> None:
        if self.summed is None:
            self.summed = np.zeros((0,) + keypoints.shape[1:2] + (3,))
        extra = len(keypoints) - len(self.summed)
        self.summed = np.concatenate([self.summed, np.zeros((extra,) + self.summed.shape[1:])])
        self.weight = np.concatenate([self.weight, np.zeros((extra, 1, 1))])

    def extend(self, keypoints: np.ndarray, complete: bool = False) -> np.ndarray:
        total = len(keypoints)
        self._grow(keypoints)
        starts = list(range(self.next_start, total - self.window + 1, self.stride))
        if starts:
            for start, pred in zip(starts, self._lift([keypoints[s : s + self.window] for s in starts])):
                self.summed[start : start + self.window] += self.taper * pred
                self.weight[start : start + self.window] += self.taper
            self.next_start = starts[-1] + self.stride
        if not complete:
            self.settled = max(total - self.window, 0)
            return self.summed[: self.settled] / np.maximum(self.weight[: self.settled], 1e-12)
        self.summed, self.weight = self._with_tail(keypoints)
        self.settled = total
        return self.summed / self.weight

    def provisional(self, keypoints: np.ndarray) -> np.ndarray:
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


class PerFrameLifting:
    """Lifting of a growing clip with a single-frame model: each new frame is lifted once and
    is final at once (no look-ahead), in batches of ``batch`` frames."""

    def __init__(self, model: torch.nn.Module, flip_test: bool = True, batch: int = 256) -> None:
        self.model, self.flip_test, self.batch = model, flip_test, batch
        self.lifted: list[np.ndarray] = []
        self.settled = 0

    def extend(self, keypoints: np.ndarray, complete: bool = False) -> np.ndarray:
        for first in range(self.settled, len(keypoints), self.batch):
            frames = torch.from_numpy(np.asarray(keypoints[first : first + self.batch])).float()
            self.lifted.append(run_model(self.model, frames[:, None], self.flip_test)[:, 0])
        self.settled = len(keypoints)
        return np.concatenate(self.lifted) if self.lifted else np.zeros((0,) + keypoints.shape[1:2] + (3,))

    def provisional(self, keypoints: np.ndarray) -> np.ndarray:
        return self.extend(keypoints)
