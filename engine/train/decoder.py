"""`engine train decoder --config FILE [--ship]`: train the decoder's stages on prepared mocap.

Stage ``vae`` (the pose prior, :mod:`engine.decoding.vae`): windows of the train split's
motion (``engine.data.pose_windows.PoseWindows``, with mirroring, time reversal, time warping
and body proportions) encoded and decoded. Loss over unmasked frames: the mean distance of
the points (metres, × ``POINT_WEIGHT``), the twists' squared (cos, sin) error
(× ``TWIST_WEIGHT``), the contacts' binary cross-entropy (the decoder's contact outputs are
logits; × ``CONTACT_WEIGHT``), and ``kl_weight`` × the KL divergence of the latent from a
unit Gaussian (mean per latent number). Validation: the reconstruction's mean point error (mm)
on fixed validation windows. The loop, checkpoints and resume are :mod:`engine.train.loop`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, RandomSampler, Subset

from engine.data.pose_windows import PoseWindows
from engine.decoding.registry import WEIGHTS_DIR
from engine.decoding.vae import MotionVAE
from engine.train.loop import RunConfig, export_run, model_card, run_loop, training_device

POINT_WEIGHT, TWIST_WEIGHT, CONTACT_WEIGHT = 10.0, 5.0, 0.1


@dataclass
class DecoderTrainConfig(RunConfig):
    stage: str = "vae"  # the stage this run trains: "vae" (the pose prior)
    kl_weight: float = 1e-4


def _unpack(motion: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Points (B, T, 24, 3; pelvis left out), twists (B, T, 18, 2) and contacts (B, T, 4)."""
    return motion[..., :72].unflatten(-1, (24, 3)), motion[..., 72:-4].unflatten(-1, (-1, 2)), motion[..., -4:]


def point_error(predicted: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """The mean distance (B, T) between two motions' points, in metres."""
    return (_unpack(predicted)[0] - _unpack(truth)[0]).norm(dim=-1).mean(-1)


def vae_loss(
    predicted: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor, mean: torch.Tensor, log_variance: torch.Tensor, kl_weight: float
) -> torch.Tensor:
    """The stage-1 loss (module docstring)."""
    frame = mask.float()
    per_frame = lambda x: (x * frame).sum() / frame.sum().clamp(min=1)  # noqa: E731
    _, twists, contacts = _unpack(predicted)
    _, true_twists, true_contacts = _unpack(truth)
    twist = (twists - true_twists).pow(2).sum(-1).mean(-1)
    contact = F.binary_cross_entropy_with_logits(contacts, true_contacts, reduction="none").mean(-1)
    kl = 0.5 * (mean.pow(2) + log_variance.exp() - 1 - log_variance).mean()
    return (
        POINT_WEIGHT * per_frame(point_error(predicted, truth))
        + TWIST_WEIGHT * per_frame(twist)
        + CONTACT_WEIGHT * per_frame(contact)
        + kl_weight * kl
    )


def train(config: DecoderTrainConfig, ship: bool = False) -> dict:
    """Train (or resume) the run described by ``config``; returns the exported model card."""
    if config.stage != "vae":
        raise ValueError(f"{config.name}: unknown decoder stage {config.stage!r}; the stages are: vae")
    torch.set_num_threads(config.threads)
    device = training_device(config.device)
    licences = tuple(config.licences) if config.licences else None
    torch.manual_seed(config.seed)
    model = MotionVAE.from_card({"config": config.model or {}}).to(device)
    frames = model.config.frames
    train_set = PoseWindows(config.data, "train", frames=frames, augment=True, licences=licences)
    val_set = PoseWindows(config.data, "validation", frames=frames, stride=frames, licences=licences)
    val_set = Subset(val_set, torch.linspace(0, len(val_set) - 1, min(config.val_windows, len(val_set))).long().tolist())
    val_loader = DataLoader(val_set, batch_size=config.batch, num_workers=config.workers)

    def batches():
        sampler = RandomSampler(train_set, replacement=True, num_samples=10**9)
        loader = DataLoader(
            train_set, batch_size=config.batch, sampler=sampler, num_workers=config.workers, persistent_workers=config.workers > 0
        )
        return iter(loader)

    def loss_of(batch: dict) -> torch.Tensor:
        motion, mask = batch["motion"].to(device), batch["mask"].to(device)
        predicted, mean, log_variance = model(motion)
        return vae_loss(predicted, motion, mask, mean, log_variance, config.kl_weight)

    def validate() -> float:
        total, count = 0.0, 0
        for batch in val_loader:
            error = point_error(model(batch["motion"].to(device))[0], batch["motion"].to(device)).cpu()
            total += float((error * batch["mask"]).sum())
            count += int(batch["mask"].sum())
        return 1000 * total / max(count, 1)

    state = run_loop(config, model, batches, loss_of, validate)
    command = f"engine train decoder --config configs/{config.name}.toml" + (" --ship" if ship else "")
    card = model_card(config, "motion-vae", model, model.card()["config"], train_set.clips, state, command)
    return export_run(config, card, WEIGHTS_DIR if ship else None)
