"""`engine train lifter --config FILE [--ship]`: train a lifter (HoT by default) on prepared mocap, with checkpoints and resume.

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

import torch
from torch.utils.data import DataLoader

from engine.body.joints import H36M17
from engine.data.dataset import MocapWindows
from engine.lifting.registry import ARCHITECTURES, WEIGHTS_DIR
from engine.train.loop import RunConfig, export_run, loaders, model_card, run_loop, training_device

# Per-joint weights of the position loss (MixSTE/HoT): limbs' ends count more.
JOINT_WEIGHTS = torch.tensor([1, 1, 2.5, 2.5, 1, 2.5, 2.5, 1, 1, 1, 1.5, 1.5, 4, 4, 1.5, 4, 4])
FLIP = H36M17.flip_permutation


@dataclass
class TrainConfig(RunConfig):
    architecture: str = "hot"  # engine.lifting.registry.ARCHITECTURES
    noise: str = "realistic"
    proportions: bool = False  # random bone-group lengths per training window (engine.data.proportions)
    camera_frames: int = 0  # cameras aimed as for this many frames around a sample (0: the sample's own), engine.data.dataset


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
    model = resolve_name(ARCHITECTURES[config.architecture].model).from_card({"config": config.model or {}}).to(device)
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

    def loss_of(batch: dict) -> torch.Tensor:
        keypoints, joints = batch["keypoints"], batch["joints"]
        flipped = torch.rand(len(keypoints)) < 0.5
        keypoints[flipped], joints[flipped] = flip(keypoints[flipped], joints[flipped])
        return lifter_loss(model(keypoints.to(device)), joints.to(device), batch["mask"].to(device))

    state = run_loop(config, model, batches, loss_of, lambda: validate(model, val_loader))
    return export(config, model, state, train_set, ship=ship)


def export(config: TrainConfig, model: torch.nn.Module, state: dict, train_set: MocapWindows, ship: bool = False) -> dict:
    """Write the run's best weights and their model card as ``runs/NAME/NAME.pt`` and
    ``NAME.json``; with ``ship``, also copy both into :data:`WEIGHTS_DIR` (the package's
    shipped weights). Returns the card."""
    command = f"engine train lifter --config configs/{config.name}.toml" + (" --ship" if ship else "")
    card = model_card(config, config.architecture, model, asdict(model.config), train_set.clips, state, command)
    return export_run(config, card, WEIGHTS_DIR if ship else None)
