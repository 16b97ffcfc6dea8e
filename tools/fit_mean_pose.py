"""Fit the mean-pose baseline lifter on a prepared folder's train split.

    python tools/fit_mean_pose.py data/prepared --out mean_pose.json

(a developer script, not part of the installed package). ``mean-pose`` ignores its input and
answers the mean root-relative camera-frame pose of the training windows (random cameras, so
it is a person seen from everywhere at once): the floor any lifter must beat. The file written
to ``--out`` is a model card holding the pose itself, in the format of the shipped
``engine/lifting/weights/mean_pose.json`` (``"architecture": "mean-pose"``, read by
``engine.lifting.baselines.MeanPose``); the shipped file changes only when someone copies a
new one there.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from engine.data.dataset import MocapWindows

WINDOW = 27  # frames per training window drawn; every frame of a window counts alike


def fit_mean_pose(data: Path, windows: int = 4000, seed: int = 0) -> dict:
    """The mean root-relative pose (17, 3) over ``windows`` train windows with random cameras,
    and what it was made from: a model card without its ``name`` and ``command``."""
    dataset = MocapWindows(data, "train", frames=WINDOW, noise="clean", fixed=True, seed=seed)
    picks = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:windows]
    total, count = torch.zeros(17, 3), 0
    for i in picks.tolist():
        sample = dataset[i]
        total += sample["joints"][sample["mask"]].sum(0)
        count += int(sample["mask"].sum())
    licences = sorted({c["licence"] for c in dataset.clips})
    use = "non-commercial" if any("non-commercial" in licence for licence in licences) else "commercial use allowed"
    return {
        "architecture": "mean-pose",
        "model": "mean pose (baseline)",
        "config": {"frames": 1, "joints": 17},
        "licence": f"{use}: fitted on {'; '.join(licences)}",
        "data": str(data),
        "split": "train",
        "windows": len(picks),
        "frames": count,
        "seed": seed,
        "licences": licences,
        "pose": (total / count).tolist(),
    }


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="a prepared folder (engine data prepare): its train split")
    parser.add_argument("--out", type=Path, required=True, help="where to write the model card with the pose (JSON)")
    parser.add_argument("--windows", type=int, default=4000, help="train windows averaged (default 4000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the windows and cameras (default 0)")
    args = parser.parse_args(argv)
    fitted = fit_mean_pose(args.data, args.windows, args.seed)
    options = "".join(
        f" --{name} {value}" for name, value, default in (("windows", args.windows, 4000), ("seed", args.seed, 0)) if value != default
    )
    command = f"python tools/fit_mean_pose.py {args.data} --out {args.out}{options}"
    pose = fitted.pop("pose")
    card = {"name": args.out.stem, **fitted, "command": command, "pose": pose}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(card, indent=1) + "\n")
    print(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
