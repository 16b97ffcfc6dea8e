"""Lifting whole sequences: unsure joints filled first, then a streaming lifter run to the end.

Joints the detector is unsure of (confidence below ``min_confidence``) are filled in by linear
interpolation from the same joint's confident frames, so a dropped joint's guessed position,
or a missed frame's zeros, never reach the model as if they were seen.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.lifting.streaming import WindowedLifting
from engine.lifting.weights import streaming_lifter
from engine.timeseries import fill_gaps


def fill_unsure_joints(keypoints: np.ndarray, min_confidence: float = 0.2, horizon: int | None = None) -> np.ndarray:
    """Keypoints (T, J, 3) with each joint's unsure frames filled from its sure ones by
    :func:`~engine.timeseries.fill_gaps` looking ``horizon`` frames ahead (the whole clip
    when None: plain interpolation, held at the ends); joints never sure are left as they are.
    Confidences are kept."""
    filled = np.array(keypoints, dtype=np.float64)
    for j in range(filled.shape[1]):
        sure = filled[:, j, 2] >= min_confidence
        filled[:, j, :2] = fill_gaps(filled[:, j, :2], sure, horizon or len(filled))
    return filled


def lift_sequence(
    model: torch.nn.Module,
    keypoints: np.ndarray,
    stride: int | None = None,
    flip_test: bool = True,
    batch: int = 32,
    min_confidence: float = 0.2,
) -> np.ndarray:
    """Root-relative 3D joints (T, 17, 3) in metres from a windowed model (HoT) for
    HoT-normalised keypoints (T, 17, 3)."""
    filled = fill_unsure_joints(keypoints, min_confidence)
    return WindowedLifting(model, flip_test, batch, stride).extend(filled, complete=True).astype(np.float32)


class SequenceLifter:
    """A model with its card as a lifter (see :mod:`engine.lifting`): any number of frames in,
    each sequence lifted by the model's streaming lifter to its end."""

    def __init__(self, model: torch.nn.Module, name: str, flip_test: bool = True) -> None:
        self.model, self.name, self.flip_test = model.eval(), name, flip_test

    def __call__(self, keypoints: torch.Tensor) -> torch.Tensor:
        lifted = [
            streaming_lifter(self.model, flip_test=self.flip_test).extend(fill_unsure_joints(k.numpy()), complete=True).astype(np.float32)
            for k in keypoints
        ]
        return torch.from_numpy(np.stack(lifted))
