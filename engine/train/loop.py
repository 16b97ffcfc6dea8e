"""The training loop every model shares: schedule, checkpoints and resume, progress, export.

A run is a folder ``runs/NAME``. Every ``val_every`` steps the run scores its validation set
(a number in millimetres, lower is better), saves ``last.pt`` (model, optimiser, schedule,
step) and, when it is the best so far, ``best.pt``. Started again, a run resumes from
``last.pt``; it stops at ``steps`` or after ``max_hours``. It trains on a CUDA GPU when one is
available (``device = "auto"``), else on the CPU, with the same code; checkpoints are saved as
CPU tensors either way.
"""

from __future__ import annotations

import json
import math
import platform
import shutil
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from torch.utils.data import DataLoader, Dataset, RandomSampler, Subset

from engine.io.staging import staged


@dataclass
class RunConfig:
    """What every training run is told; each trainer's config adds its own fields."""

    name: str
    data: str = "data/prepared"
    model: dict | None = None  # the architecture's config fields, defaults where missing
    licences: list[str] | None = None  # keep only clips whose licence starts with one of these
    batch: int = 32
    steps: int = 3000
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: int = 100
    val_every: int = 200
    val_windows: int = 256
    seed: int = 0
    workers: int = 1
    threads: int = 2
    device: str = "auto"  # "auto": CUDA when available, else the CPU; or a torch device such as "cpu"
    max_hours: float = 2.0
    runs: str = "runs"

    @classmethod
    def load(cls, path: str | Path):
        return cls(**tomllib.loads(Path(path).read_text()))


def training_device(name: str) -> torch.device:
    """``name`` as a torch device; "auto" is CUDA when one is available, else the CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _schedule(config: RunConfig) -> Callable[[int], float]:
    """Linear warm-up, then cosine decay to 5 % of the learning rate."""

    def factor(step: int) -> float:
        if step < config.warmup:
            return (step + 1) / config.warmup
        progress = (step - config.warmup) / max(config.steps - config.warmup, 1)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return factor


def _cpu(state: dict) -> dict:
    return {key: value.cpu() for key, value in state.items()}


def loaders(config: RunConfig, train_set: Dataset, val_set: Dataset) -> tuple[DataLoader, Callable[[], Iterator[dict]]]:
    """:func:`validation_loader` of ``val_set`` and :func:`training_batches` of ``train_set``."""
    return validation_loader(config, val_set), training_batches(config, train_set)


def validation_loader(config: RunConfig, val_set: Dataset) -> DataLoader:
    """A loader of ``val_windows`` validation samples spread evenly over ``val_set``."""
    picked = Subset(val_set, torch.linspace(0, len(val_set) - 1, min(config.val_windows, len(val_set))).long().tolist())
    return DataLoader(picked, batch_size=config.batch, num_workers=config.workers)


def training_batches(config: RunConfig, train_set: Dataset) -> Callable[[], Iterator[dict]]:
    """A maker of an endless stream of training batches drawn from ``train_set`` with replacement."""

    def batches() -> Iterator[dict]:
        sampler = RandomSampler(train_set, replacement=True, num_samples=10**9)
        loader = DataLoader(
            train_set, batch_size=config.batch, sampler=sampler, num_workers=config.workers, persistent_workers=config.workers > 0
        )
        return iter(loader)

    return batches


def _scores(validated: float | dict[str, float]) -> tuple[float, dict[str, float]]:
    """A validation's score and its named parts: a dict of parts scores their mean."""
    if isinstance(validated, dict):
        return sum(validated.values()) / len(validated), validated
    return validated, {}


def mixed(first: Callable[[], Iterator[dict]], second: Callable[[], Iterator[dict]], share: float) -> Callable[[], Iterator[dict]]:
    """A maker of batch streams drawing from ``second()``'s batches at rate ``share`` (on torch's
    random stream), else from ``first()``'s."""

    def batches() -> Iterator[dict]:
        streams = first(), second()
        while True:
            yield next(streams[int(torch.rand(()) < share)])

    return batches


def run_loop(
    config: RunConfig,
    model: torch.nn.Module,
    batches: Callable[[], Iterator[dict]],
    loss_of: Callable[[dict], torch.Tensor],
    validate: Callable[[], float | dict[str, float]],
) -> dict:
    """Train ``model`` (on its device) on ``batches()`` (made once the run has resumed, so that
    a resumed run draws fresh samples) by ``loss_of(batch)``, scored by ``validate()`` (mm; or
    named parts in mm, scored by their mean and each kept in the history as ``val_NAME_mm``);
    returns the run's state: ``step``, ``best_mm``, ``seconds``, ``history``."""
    run = Path(config.runs) / config.name
    run.mkdir(parents=True, exist_ok=True)
    device = next(model.parameters()).device
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
    stream = batches()

    started, session_start = time.perf_counter(), state["seconds"]
    recent_losses: list[float] = []
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("loss {task.fields[loss]:.4f}  val {task.fields[val]:.1f} mm"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns) as progress:
        task = progress.add_task(config.name, total=config.steps, completed=state["step"], loss=float("nan"), val=state["best_mm"])
        while state["step"] < config.steps:
            loss = loss_of(next(stream))
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
                model.eval()
                with torch.no_grad():
                    val_mm, parts = _scores(validate())
                model.train()
                state["history"].append(
                    {
                        "step": state["step"],
                        "val_mpjpe_mm": round(val_mm, 2),
                        **{f"val_{name}_mm": round(value, 2) for name, value in parts.items()},
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
    return state


def model_card(
    config: RunConfig, architecture: str, model: torch.nn.Module, model_config: dict, clips: list[dict], state: dict, command: str
) -> dict:
    """The model card of a finished run of ``config``: what the model is, what trained it on
    which ``clips`` (their licences decide the card's), how long, and how it scored."""
    device = next(model.parameters()).device
    processor = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{config.threads} CPU threads"
    licences = sorted({c["licence"] for c in clips})
    use = "non-commercial" if any("non-commercial" in licence for licence in licences) else "commercial use allowed"
    return {
        "name": config.name,
        "architecture": architecture,
        "model": model.description,
        "config": model_config,
        "training": {k: v for k, v in vars(config).items() if k not in ("model", "name")},
        "data": {
            "folder": config.data,
            "split": "train (validation for model selection)",
            "clips": len(clips),
            "licences": licences,
            "split_manifest": str(Path(config.data) / "split.csv"),
        },
        "licence": f"{use}: trained on {'; '.join(licences)}",
        "steps": state["step"],
        "training_hours": round(state["seconds"] / 3600, 3),
        "machine": f"{platform.machine()}, {processor}, torch {torch.__version__}",
        "best_val_mpjpe_mm": round(state["best_mm"], 2),
        "history": state["history"],
        "command": command,
    }


def export_run(config: RunConfig, card: dict, ship_to: Path | None = None) -> dict:
    """Write the run's best weights and ``card`` as ``runs/NAME/NAME.pt`` and ``NAME.json``
    (together, or not at all); with ``ship_to``, also copy both there (the package's shipped
    weights folder), replacing the files of that name. Returns the card."""
    run = Path(config.runs) / config.name
    weights, card_path = run / f"{config.name}.pt", run / f"{config.name}.json"
    with staged(run) as stage:
        torch.save(torch.load(run / "best.pt", map_location="cpu"), stage(weights.name))
        stage(card_path.name).write_text(json.dumps(card, indent=1) + "\n")
    if ship_to is not None:
        with staged(ship_to) as stage:
            for path in (weights, card_path):
                shutil.copyfile(path, stage(path.name))
    return card
