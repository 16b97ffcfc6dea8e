"""`engine train lifter --config FILE [--ship]`: train a lifter (HoT by default) on prepared mocap, with checkpoints and resume.

Losses (HoT/MixSTE): joint-weighted MPJPE + 0.5 × temporal consistency (weighted squared
frame-to-frame motion) + 2 × mean velocity error, over unmasked frames. AdamW with a linear
warm-up and cosine decay, gradient clipping, random left/right flips of 2D and 3D together.
It trains on a CUDA GPU when one is available (``device = "auto"``), else on the CPU, with
the same code; checkpoints and exported weights are saved as CPU tensors either way.
Every ``val_every`` steps the run scores a fixed set of validation windows (realistic 2D
noise, fixed cameras), saves ``runs/NAME/last.pt`` (model, optimiser, schedule, step) and,
when it is the best so far, ``runs/NAME/best.pt``. Started again, a run resumes from
``last.pt``; it stops at ``steps`` or after ``max_hours`` and exports its best weights with a
model card to ``runs/NAME/NAME.{pt,json}`` (``runs`` from the config). Only ``ship=True``
(``engine train lifter --ship``) also copies them into the package's weights folder
(:data:`engine.lifting.registry.WEIGHTS_DIR`), replacing the shipped files of that name.
"""

from __future__ import annotations

import json
import math
import platform
import shutil
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from pkgutil import resolve_name

import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from torch.utils.data import DataLoader, RandomSampler, Subset

from engine.body.joints import H36M17
from engine.data.dataset import MocapWindows
from engine.io.staging import staged
from engine.lifting.registry import ARCHITECTURES, WEIGHTS_DIR

# Per-joint weights of the position loss (MixSTE/HoT): limbs' ends count more.
JOINT_WEIGHTS = torch.tensor([1, 1, 2.5, 2.5, 1, 2.5, 2.5, 1, 1, 1, 1.5, 1.5, 4, 4, 1.5, 4, 4])
FLIP = H36M17.flip_permutation


@dataclass
class TrainConfig:
    name: str
    data: str = "data/prepared"
    architecture: str = "hot"  # engine.lifting.registry.ARCHITECTURES
    model: dict = field(default_factory=dict)  # the architecture's config (HoTConfig's fields), defaults where missing
    licences: list[str] | None = None  # keep only clips whose licence starts with one of these
    batch: int = 32
    steps: int = 3000
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: int = 100
    val_every: int = 200
    val_windows: int = 256
    noise: str = "realistic"
    proportions: bool = False  # random bone-group lengths per training window (engine.data.proportions)
    camera_frames: int = 0  # cameras aimed as for this many frames around a sample (0: the sample's own), engine.data.dataset
    seed: int = 0
    workers: int = 1
    threads: int = 2
    device: str = "auto"  # "auto": CUDA when available, else the CPU; or a torch device such as "cpu"
    max_hours: float = 2.0
    runs: str = "runs"

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        return cls(**tomllib.loads(Path(path).read_text()))


def flip(keypoints: torch.Tensor, joints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mirror images: x → −x (HoT-normalised 2D is centred), left and right joints swapped."""
    keypoints = keypoints[..., FLIP, :].clone()
    joints = joints[..., FLIP, :].clone()
    keypoints[..., 0] *= -1
    joints[..., 0] *= -1
    return keypoints, joints


def lifter_loss(pred: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """HoT's training loss over unmasked frames (see the module docstring), in metres."""
    weights = JOINT_WEIGHTS.to(pred)
    frame = mask.float()
    position = ((pred - truth).norm(dim=-1) * weights).mean(-1)
    pair = frame[:, 1:] * frame[:, :-1]
    motion_pred, motion_truth = pred[:, 1:] - pred[:, :-1], truth[:, 1:] - truth[:, :-1]
    consistency = (motion_pred.pow(2).sum(-1) * weights).mean(-1)
    velocity = (motion_pred - motion_truth).norm(dim=-1).mean(-1)
    per_pair = lambda x: (x * pair).sum() / pair.sum().clamp(min=1)  # noqa: E731
    return (position * frame).sum() / frame.sum().clamp(min=1) + 0.5 * per_pair(consistency) + 2.0 * per_pair(velocity)


def validate(model: torch.nn.Module, loader: DataLoader) -> float:
    """MPJPE in millimetres over the unmasked frames of ``loader``."""
    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in loader:
            error = (model(batch["keypoints"].to(device)) - batch["joints"].to(device)).norm(dim=-1).mean(-1).cpu()
            total += float((error * batch["mask"]).sum())
            count += int(batch["mask"].sum())
    model.train()
    return 1000 * total / max(count, 1)


def _schedule(config: TrainConfig):
    def factor(step: int) -> float:
        if step < config.warmup:
            return (step + 1) / config.warmup
        progress = (step - config.warmup) / max(config.steps - config.warmup, 1)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return factor


def training_device(name: str) -> torch.device:
    """``name`` as a torch device; "auto" is CUDA when one is available, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _cpu(state: dict) -> dict:
    return {key: value.cpu() for key, value in state.items()}


def train(config: TrainConfig, ship: bool = False) -> dict:
    """Train (or resume) the run described by ``config``; returns the exported model card
    (see :func:`export`: into the run folder, and into the package only with ``ship``)."""
    torch.set_num_threads(config.threads)
    device = training_device(config.device)
    run = Path(config.runs) / config.name
    run.mkdir(parents=True, exist_ok=True)
    licences = tuple(config.licences) if config.licences else None
    torch.manual_seed(config.seed)
    model = resolve_name(ARCHITECTURES[config.architecture].model).from_card({"config": config.model}).to(device)
    frames = model.window
    train_set = MocapWindows(
        config.data,
        "train",
        frames=frames,
        noise=config.noise,
        licences=licences,
        proportions=config.proportions,
        camera_frames=config.camera_frames,
    )
    val_set = MocapWindows(
        config.data,
        "validation",
        frames=frames,
        stride=frames,
        noise="realistic",
        fixed=True,
        licences=licences,
        camera_frames=config.camera_frames,
    )
    val_set = Subset(val_set, torch.linspace(0, len(val_set) - 1, min(config.val_windows, len(val_set))).long().tolist())
    val_loader = DataLoader(val_set, batch_size=config.batch, num_workers=config.workers)

    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, _schedule(config))
    state = {"step": 0, "best_mm": float("inf"), "seconds": 0.0, "history": []}
    if (run / "last.pt").is_file():
        checkpoint = torch.load(run / "last.pt", map_location=device, weights_only=False)
        model.load_state_dict(checkpoint["model"])
        optimiser.load_state_dict(checkpoint["optimiser"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        state = checkpoint["state"]
    torch.manual_seed(config.seed + state["step"])  # a resumed run draws fresh samples
    sampler = RandomSampler(train_set, replacement=True, num_samples=10**9)
    batches = iter(
        DataLoader(train_set, batch_size=config.batch, sampler=sampler, num_workers=config.workers, persistent_workers=config.workers > 0)
    )

    started, session_start = time.perf_counter(), state["seconds"]
    recent_losses: list[float] = []
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("loss {task.fields[loss]:.4f}  val MPJPE {task.fields[val]:.1f} mm"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns) as progress:
        task = progress.add_task(config.name, total=config.steps, completed=state["step"], loss=float("nan"), val=state["best_mm"])
        while state["step"] < config.steps:
            batch = next(batches)
            keypoints, joints = batch["keypoints"], batch["joints"]
            flipped = torch.rand(len(keypoints)) < 0.5
            keypoints[flipped], joints[flipped] = flip(keypoints[flipped], joints[flipped])
            loss = lifter_loss(model(keypoints.to(device)), joints.to(device), batch["mask"].to(device))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            scheduler.step()
            state["step"] += 1
            state["seconds"] = session_start + time.perf_counter() - started
            recent_losses.append(loss.item())
            progress.update(task, advance=1, loss=recent_losses[-1])
            out_of_time = state["seconds"] > config.max_hours * 3600
            if state["step"] % config.val_every == 0 or state["step"] == config.steps or out_of_time:
                val_mm = validate(model, val_loader)
                state["history"].append(
                    {
                        "step": state["step"],
                        "val_mpjpe_mm": round(val_mm, 2),
                        "train_loss": round(sum(recent_losses) / max(len(recent_losses), 1), 4),
                        "lr": scheduler.get_last_lr()[0],
                        "hours": round(state["seconds"] / 3600, 3),
                    }
                )
                recent_losses.clear()
                with staged(run) as stage:  # a run killed while saving keeps its previous checkpoint
                    if val_mm < state["best_mm"]:
                        state["best_mm"] = val_mm
                        torch.save(_cpu(model.state_dict()), stage("best.pt"))
                    torch.save(
                        {
                            "model": _cpu(model.state_dict()),
                            "optimiser": optimiser.state_dict(),
                            "scheduler": scheduler.state_dict(),
                            "state": state,
                        },
                        stage("last.pt"),
                    )
                progress.update(task, val=val_mm)
            if out_of_time:
                break
    return export(config, model, state, train_set, device, ship=ship)


def export(
    config: TrainConfig, model: torch.nn.Module, state: dict, train_set: MocapWindows, device: torch.device, ship: bool = False
) -> dict:
    """Write the run's best weights and their model card as ``runs/NAME/NAME.pt`` and
    ``NAME.json``; with ``ship``, also copy both into :data:`WEIGHTS_DIR` (the package's
    shipped weights). Returns the card."""
    run = Path(config.runs) / config.name
    weights, card_path = run / f"{config.name}.pt", run / f"{config.name}.json"
    licences = sorted({c["licence"] for c in train_set.clips})
    processor = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{config.threads} CPU threads"
    use = "non-commercial" if any("non-commercial" in licence for licence in licences) else "commercial use allowed"
    card = {
        "name": config.name,
        "architecture": config.architecture,
        "model": model.description,
        "config": asdict(model.config),
        "training": {k: v for k, v in vars(config).items() if k not in ("model", "name")},
        "data": {
            "folder": config.data,
            "split": "train (validation for model selection)",
            "clips": len(train_set.clips),
            "licences": licences,
            "split_manifest": str(Path(config.data) / "split.csv"),
        },
        "licence": f"{use}: trained on {'; '.join(licences)}",
        "steps": state["step"],
        "training_hours": round(state["seconds"] / 3600, 3),
        "machine": f"{platform.machine()}, {processor}, torch {torch.__version__}",
        "best_val_mpjpe_mm": round(state["best_mm"], 2),
        "history": state["history"],
        "command": f"engine train lifter --config configs/{config.name}.toml" + (" --ship" if ship else ""),
    }
    with staged(run) as stage:  # the weights and their card appear together, or not at all
        torch.save(torch.load(run / "best.pt", map_location="cpu"), stage(weights.name))
        stage(card_path.name).write_text(json.dumps(card, indent=1) + "\n")
    if ship:
        with staged(WEIGHTS_DIR) as stage:
            for path in (weights, card_path):
                shutil.copyfile(path, stage(path.name))
    return card
