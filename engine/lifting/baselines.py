"""Trivial lifters that later models must beat.

``mean-pose`` ignores its input and answers the mean root-relative camera-frame pose of the
training windows (random cameras, so it is a person seen from everywhere at once). Its 51
numbers are "trained" by ``python -m engine.lifting.baselines DATA`` on a prepared folder's
train split and ship in ``mean_pose.json`` with what they were made from.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

WEIGHTS = Path(__file__).with_name("mean_pose.json")


class MeanPose:
    """Predicts one fixed pose (17, 3) for every frame."""

    name = "mean-pose"

    def __init__(self, pose: torch.Tensor, card: dict) -> None:
        self.pose, self.card = pose, card

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> MeanPose:
        document = json.loads(path.read_text())
        return cls(torch.tensor(document["pose"], dtype=torch.float32), document["card"])

    def __call__(self, keypoints: torch.Tensor) -> torch.Tensor:
        return self.pose.expand(keypoints.shape[:-2] + self.pose.shape).clone()


def fit_mean_pose(data: Path, windows: int = 4000, seed: int = 0) -> dict:
    """The mean root-relative pose over ``windows`` train windows with random cameras."""
    from engine.data.dataset import MocapWindows

    dataset = MocapWindows(data, "train", frames=27, noise="clean", fixed=True, seed=seed)
    picks = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:windows]
    total, count = torch.zeros(17, 3), 0
    for i in picks.tolist():
        sample = dataset[i]
        total += sample["joints"][sample["mask"]].sum(0)
        count += int(sample["mask"].sum())
    licences = sorted({c["licence"] for c in dataset.clips})
    card = {"data": str(data), "split": "train", "windows": len(picks), "frames": count, "seed": seed,
            "licences": licences, "command": f"python -m engine.lifting.baselines {data}"}  # fmt: skip
    return {"pose": (total / count).tolist(), "card": card}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Fit the mean-pose baseline on a prepared folder's train split.")
    parser.add_argument("data", type=Path)
    args = parser.parse_args()
    WEIGHTS.write_text(json.dumps(fit_mean_pose(args.data), indent=1) + "\n")
    print(f"wrote {WEIGHTS}")
