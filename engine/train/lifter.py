"""`engine train lifter --config FILE [--ship]`: train a lifter (HoT by default) on prepared mocap, with checkpoints and resume.

With ``corpora`` (rendered corpus folders, ``engine data render``) a share ``corpus_share`` of
the batches are windows of the rendered clips instead: the real detector's 2D and world
landmarks against the rendered bodies' joints (:mod:`engine.data.render.windows`; each body
scaled to the mocap's mean size, which 2D cannot tell from distance), the world
landmarks dropped from a share ``world_dropout`` of them; mocap windows never have any. A model
that reads the world landmarks has ``in_chans = 7`` (:mod:`engine.lifting`). With
``corpus_validation`` (rendered folders of the validation split) validation is the mean of the
mocap's and theirs (with their world landmarks). ``init`` starts a run from
a lifter's weights (a shipped lifter's name or a file); input channels it lacks start at zero,
so the run starts from exactly its answers.

Losses (HoT/MixSTE): joint-weighted MPJPE + 0.5 × temporal consistency (weighted squared
frame-to-frame motion) + 2 × mean velocity error, over unmasked frames. AdamW with a linear
warm-up and cosine decay, gradient clipping, random left/right flips of 2D and 3D together;
validation scores a fixed set of windows (realistic 2D noise, fixed cameras). The loop, its
checkpoints and resume are :mod:`engine.train.loop`'s. The run exports its best weights with a
model card to ``runs/NAME/NAME.{pt,json}`` (``runs`` from the config). Only ``ship=True``
(``engine train lifter --ship``) also copies them into the package's weights folder
(:data:`engine.lifting.registry.WEIGHTS_DIR`), replacing the shipped files of that name.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pkgutil import resolve_name

import numpy as np
import torch
from torch.utils.data import DataLoader

from engine.data.dataset import MocapWindows
from engine.data.render.windows import RenderedWindows, skeleton_size
from engine.lifting import mirrored
from engine.lifting.registry import ARCHITECTURES, LIFTERS, WEIGHTS_DIR
from engine.lifting.weights import load_shipped, load_weights
from engine.train.loop import (
    RunConfig,
    export_run,
    loaders,
    mixed,
    model_card,
    run_loop,
    training_batches,
    training_device,
    validation_loader,
)

# Per-joint weights of the position loss (MixSTE/HoT): limbs' ends count more.
JOINT_WEIGHTS = torch.tensor([1, 1, 2.5, 2.5, 1, 2.5, 2.5, 1, 1, 1, 1.5, 1.5, 4, 4, 1.5, 4, 4])


@dataclass
class TrainConfig(RunConfig):
    architecture: str = "hot"  # engine.lifting.registry.ARCHITECTURES
    noise: str = "realistic"
    proportions: bool = False  # random bone-group lengths per training window (engine.data.proportions)
    camera_frames: int = 0  # cameras aimed as for this many frames around a sample (0: the sample's own), engine.data.dataset
    corpora: list[str] | None = None  # rendered corpus folders, their train split (module docstring)
    corpus_validation: list[str] | None = None  # rendered corpus folders, their validation split
    corpus_share: float = 0.5  # share of training batches from the corpora
    world_dropout: float = 0.0  # share of corpus windows without their world landmarks
    init: str | None = None  # a shipped lifter's name or a weights file to start from


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
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for batch in loader:
        error = (model(batch["keypoints"].to(device)) - batch["joints"].to(device)).norm(dim=-1).mean(-1).cpu()
        total += float((error * batch["mask"]).sum())
        count += int(batch["mask"].sum())
    return 1000 * total / max(count, 1)


def train(config: TrainConfig, ship: bool = False) -> dict:
    """Train (or resume) the run described by ``config``; returns the exported model card
    (see :func:`export`: into the run folder, and into the package only with ``ship``)."""
    torch.set_num_threads(config.threads)
    device = training_device(config.device)
    licences = tuple(config.licences) if config.licences else None
    torch.manual_seed(config.seed)
    model = resolve_name(ARCHITECTURES[config.architecture].model).from_card({"config": config.model or {}})
    started_from = start_from(model, config.init) if config.init else None
    model = model.to(device)
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
    val_loader, batches = loaders(config, train_set, val_set)
    clips, scores = train_set.clips, {"mocap": val_loader}
    if config.corpora or config.corpus_validation:
        size = skeleton_size(np.asarray(train_set.h36m[::10]))  # the rendered bodies are scaled to the mocap's size
    if config.corpora:
        corpus = RenderedWindows(config.corpora, "train", frames, licences=licences, world_dropout=config.world_dropout, size=size)
        batches, clips = mixed(batches, training_batches(config, corpus), config.corpus_share), clips + corpus.clips
    if config.corpus_validation:
        corpus_val = RenderedWindows(config.corpus_validation, "validation", frames, stride=frames, licences=licences, size=size)
        scores["rendered"] = validation_loader(config, corpus_val)

    def loss_of(batch: dict) -> torch.Tensor:
        keypoints, joints = batch["keypoints"], batch["joints"]
        flipped = torch.rand(len(keypoints)) < 0.5
        keypoints[flipped], joints[flipped] = mirrored(keypoints[flipped]), mirrored(joints[flipped])
        return lifter_loss(model(keypoints.to(device)), joints.to(device), batch["mask"].to(device))

    def validation() -> float | dict[str, float]:
        parts = {name: validate(model, loader) for name, loader in scores.items()}
        return parts if len(parts) > 1 else parts["mocap"]

    state = run_loop(config, model, batches, loss_of, validation)
    return export(config, model, state, clips, started_from, ship=ship)


def start_from(model: torch.nn.Module, init: str) -> dict:
    """Load the weights of ``init`` (a shipped lifter's name or a weights file) into ``model``,
    which must be the same architecture and size but may read more input channels: those
    start at zero. Returns their model card."""
    loaded = load_shipped(init) if init in LIFTERS else load_weights(init)
    source = loaded.state_dict()
    state = model.state_dict()
    for key, value in state.items():
        have = source[key]
        if have.shape != value.shape and have.shape[:-1] == value.shape[:-1] and have.shape[-1] < value.shape[-1]:
            have = torch.nn.functional.pad(have, (0, value.shape[-1] - have.shape[-1]))
        state[key] = have
    model.load_state_dict(state)
    return loaded.card


def export(
    config: TrainConfig, model: torch.nn.Module, state: dict, clips: list[dict], started_from: dict | None = None, ship: bool = False
) -> dict:
    """Write the run's best weights and their model card as ``runs/NAME/NAME.pt`` and
    ``NAME.json``; with ``ship``, also copy both into :data:`WEIGHTS_DIR` (the package's
    shipped weights). The card of the weights the run started from (``init``), when it had
    any, is summed up in its ``started_from``. Returns the card."""
    command = f"engine train lifter --config configs/{config.name}.toml" + (" --ship" if ship else "")
    card = model_card(config, config.architecture, model, asdict(model.config), clips, state, command)
    if started_from is not None:
        keys = ("name", "command", "steps", "training_hours", "best_val_mpjpe_mm", "test_metrics")
        card["started_from"] = {key: started_from[key] for key in keys if key in started_from}
    return export_run(config, card, WEIGHTS_DIR if ship else None)
