"""Trivial lifters that later models must beat.

``mean-pose`` ignores its input and answers the mean root-relative camera-frame pose of the
training windows (random cameras, so it is a person seen from everywhere at once). Its 51
numbers are "trained" by ``tools/fit_mean_pose.py`` on a prepared folder's train split and
ship in ``weights/mean_pose.json``, a model card that holds them.
"""

from __future__ import annotations

import torch


class MeanPose(torch.nn.Module):
    """Predicts one fixed pose (17, 3) for every frame; its card holds the pose."""

    window = 1

    def __init__(self, pose: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("pose", pose)

    @classmethod
    def from_card(cls, card: dict) -> MeanPose:
        return cls(torch.tensor(card["pose"], dtype=torch.float32))

    def forward(self, keypoints: torch.Tensor) -> torch.Tensor:
        return self.pose.expand(keypoints.shape[:-2] + self.pose.shape).clone()
