"""`engine train decoder --config FILE [--ship]`: train the decoder's stages on prepared mocap.

Stage ``vae`` (the pose prior, :mod:`engine.decoding.vae`): windows of the train split's
motion (``engine.data.pose_windows.PoseWindows``, with mirroring, time reversal, time warping
and body proportions) encoded and decoded. Loss over unmasked frames: the mean distance of
the points (metres, × ``POINT_WEIGHT``), the mean distance of their accelerations (metres a
frame², × ``ACCEL_WEIGHT``: the prior should be smooth where the motion is), the twists' squared (cos, sin) error
(× ``TWIST_WEIGHT``), the contacts' binary cross-entropy (the decoder's contact outputs are
logits; × ``CONTACT_WEIGHT``), and ``kl_weight`` × the KL divergence of the latent from a
unit Gaussian (mean per latent number). Validation: the reconstruction's mean point error (mm)
on fixed validation windows.

Stage ``denoiser`` (:mod:`engine.decoding.denoiser`): a trained VAE (``vae``, its exported
weights) is frozen, and the denoiser learns to find each window's latent (the VAE's mean,
scaled to unit variance: ``latent_scale``), as its difference from the decoder's guess, from
the window's conditions (``PoseWindows(conditions=True)``: the joints made to look lifted).
When the run starts, ``SCALE_BATCHES`` training batches give the guess's linear map from the
conditions' joints to the motion's points (least squares over the frames that have joints)
and then ``latent_scale``. Loss (FastHMR): ‖v̂ − v‖² + ‖ε̂ − ε‖² at uniformly drawn
diffusion steps, plus ``motion_weight`` × stage 1's loss (without the KL term) on the motion
the frozen VAE decodes from the predicted clean latent: a latent's squared error weighs every
direction of the latent alike, while what matters is where the joints land (the first pair,
trained on the latent alone, decoded 86 mm from the motion and held the legs of real dancers
in a standing pose). Validation: the mean point error (mm) of the one-step decode on fixed
validation windows, whose conditions are drawn once. The exported file is the whole decoder
(:class:`engine.decoding.decoder.MotionDecoder`: VAE, denoiser and scale).

A denoiser run may go on from a trained decoder (``init``: its VAE, guess and scale kept, the
VAE's card carried over) and train on rendered corpora as well (``corpora``: a share
``corpus_share`` of the batches; ``engine.data.render.lifted``: each clip captured by the
pipeline with ``lifter``, its solver's world joints the conditions, the rendered body's motion
the target); with ``corpus_validation`` the validation is the mean of the mocap windows' and
the rendered validation clips' point errors, each kept in the history.

The loop, checkpoints and resume are :mod:`engine.train.loop`'s.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from engine.body.joints import H36M17
from engine.data.pose_windows import PoseWindows
from engine.data.render.lifted import LiftedWindows, lift_clips
from engine.decoding.decoder import MotionDecoder, load_decoder_weights
from engine.decoding.denoiser import TRAIN_STEPS, LatentDenoiser, noise_schedule
from engine.decoding.features import POINTS
from engine.decoding.registry import WEIGHTS_DIR
from engine.decoding.vae import MotionVAE
from engine.pipeline.settings import Settings
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

POINT_WEIGHT, ACCEL_WEIGHT, TWIST_WEIGHT, CONTACT_WEIGHT = 10.0, 10.0, 5.0, 0.1
SCALE_BATCHES = 16
STAGES = ("vae", "denoiser")


@dataclass
class DecoderTrainConfig(RunConfig):
    stage: str = "vae"  # the stage this run trains: "vae" (the pose prior) or "denoiser"
    kl_weight: float = 1e-4  # vae
    motion_weight: float = 1.0  # denoiser: the decoded motion's loss beside the diffusion loss
    condition_noise: float = 1.0  # denoiser: the size of the conditions' lifter-like errors (engine.data.pose_windows.lifted_like)
    vae: str = ""  # denoiser: the trained VAE's weights (runs/NAME/NAME.pt, its card beside it)
    init: str | None = None  # denoiser: a trained decoder to go on from (its weights file, card beside it; its VAE, guess and scale kept)
    corpora: list[str] | None = None  # denoiser: rendered corpus folders, their train clips captured by the pipeline (module docstring)
    corpus_validation: list[str] | None = None  # denoiser: rendered corpus folders, their validation clips
    corpus_share: float = 0.5  # denoiser: share of training batches from the corpora
    lifter: str = "hot"  # denoiser: the lifter that captures the corpora (the decoder's pair)
    skeleton: str = "default"  # the mocap windows' rest skeleton: "default" or each clip's "own" rig (engine.data.pose_windows)


def _unpack(motion: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Points (B, T, 24, 3; pelvis left out), twists (B, T, 18, 2) and contacts (B, T, 4)."""
    return motion[..., :72].unflatten(-1, (24, 3)), motion[..., 72:-4].unflatten(-1, (-1, 2)), motion[..., -4:]


def point_error(predicted: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """The mean distance (B, T) between two motions' points, in metres."""
    return (_unpack(predicted)[0] - _unpack(truth)[0]).norm(dim=-1).mean(-1)


def accel_error(predicted: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """The mean distance (B, T - 2) between two motions' points' accelerations (metres a frame²)."""
    acceleration = lambda points: points[:, 2:] - 2 * points[:, 1:-1] + points[:, :-2]  # noqa: E731
    return (acceleration(_unpack(predicted)[0]) - acceleration(_unpack(truth)[0])).norm(dim=-1).mean(-1)


def motion_loss(predicted: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The stage-1 loss without its KL term (module docstring)."""
    frame = mask.float()
    per_frame = lambda x: (x * frame).sum() / frame.sum().clamp(min=1)  # noqa: E731
    _, twists, contacts = _unpack(predicted)
    _, true_twists, true_contacts = _unpack(truth)
    twist = (twists - true_twists).pow(2).sum(-1).mean(-1)
    contact = F.binary_cross_entropy_with_logits(contacts, true_contacts, reduction="none").mean(-1)
    steady = frame[:, 2:] * frame[:, 1:-1] * frame[:, :-2]  # an acceleration reads three frames
    return (
        POINT_WEIGHT * per_frame(point_error(predicted, truth))
        + ACCEL_WEIGHT * (accel_error(predicted, truth) * steady).sum() / steady.sum().clamp(min=1)
        + TWIST_WEIGHT * per_frame(twist)
        + CONTACT_WEIGHT * per_frame(contact)
    )


def vae_loss(
    predicted: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor, mean: torch.Tensor, log_variance: torch.Tensor, kl_weight: float
) -> torch.Tensor:
    """The stage-1 loss (module docstring)."""
    kl = 0.5 * (mean.pow(2) + log_variance.exp() - 1 - log_variance).mean()
    return motion_loss(predicted, truth, mask) + kl_weight * kl


def points_from_joints(batches: list[dict]) -> torch.Tensor:
    """The (POINTS, 17) map from the conditions' H36M17 joints to the motion's points that fits
    ``batches`` (windows with conditions) best in least squares, over frames that have joints."""
    conditions = torch.cat([b["conditions"] for b in batches]).flatten(0, 1).double()
    points = torch.cat([b["motion"] for b in batches]).flatten(0, 1)[:, : 3 * POINTS].double()
    there = conditions[:, -1] > 0
    joints = conditions[there, : 3 * len(H36M17)].unflatten(-1, (-1, 3)).transpose(1, 2).flatten(0, 1)  # (N * 3, 17)
    targets = points[there].unflatten(-1, (-1, 3)).transpose(1, 2).flatten(0, 1)  # (N * 3, POINTS)
    return torch.linalg.lstsq(joints, targets, driver="gelsd").solution.T.float()  # the pelvis column is 0: rank-deficient


def _windows(config: DecoderTrainConfig, frames: int, conditions: bool) -> tuple[PoseWindows, PoseWindows]:
    """The training windows (augmented) and the validation windows (fixed, one per ``frames``)."""
    licences = tuple(config.licences) if config.licences else None
    common = {
        "frames": frames,
        "conditions": conditions,
        "noise": config.condition_noise,
        "licences": licences,
        "skeleton": config.skeleton,
    }
    return PoseWindows(config.data, "train", augment=True, **common), PoseWindows(config.data, "validation", stride=frames, **common)


def mean_point_error_mm(loader: DataLoader, predict: Callable[[dict], torch.Tensor], device: torch.device) -> float:
    """The mean distance (mm) of ``predict``'s points from the motion's over the unmasked frames of ``loader``'s batches."""
    total, count = 0.0, 0
    for batch in loader:
        error = point_error(predict(batch), batch["motion"].to(device)).cpu()
        total += float((error * batch["mask"]).sum())
        count += int(batch["mask"].sum())
    return 1000 * total / max(count, 1)


def train(config: DecoderTrainConfig, ship: bool = False) -> dict:
    """Train (or resume) the run described by ``config``; returns the exported model card."""
    if config.stage not in STAGES:
        raise ValueError(f"{config.name}: unknown decoder stage {config.stage!r}; the stages are: {', '.join(STAGES)}")
    torch.set_num_threads(config.threads)
    device = training_device(config.device)
    torch.manual_seed(config.seed)
    command = f"engine train decoder --config configs/{config.name}.toml" + (" --ship" if ship else "")
    if config.stage == "denoiser":
        return _train_denoiser(config, device, command, ship)
    model = MotionVAE.from_card({"config": config.model or {}}).to(device)
    train_set, val_set = _windows(config, model.config.frames, conditions=False)
    val_loader, batches = loaders(config, train_set, val_set)

    def loss_of(batch: dict) -> torch.Tensor:
        motion, mask = batch["motion"].to(device), batch["mask"].to(device)
        predicted, mean, log_variance = model(motion)
        return vae_loss(predicted, motion, mask, mean, log_variance, config.kl_weight)

    validate = lambda: mean_point_error_mm(val_loader, lambda b: model(b["motion"].to(device))[0], device)  # noqa: E731
    state = run_loop(config, model, batches, loss_of, validate)
    card = model_card(config, "motion-vae", model, model.card()["config"], train_set.clips, state, command)
    return export_run(config, card, WEIGHTS_DIR if ship else None)


def _train_denoiser(config: DecoderTrainConfig, device: torch.device, command: str, ship: bool) -> dict:
    """Stage 2 (module docstring)."""
    if not (config.vae or config.init):
        raise ValueError(f"{config.name}: a denoiser run needs `vae`, the trained VAE's weights (or `init`, a trained decoder)")
    if config.init:  # its VAE, guess and scale stay as they were trained
        model = load_decoder_weights(config.init).to(device)
        init_card = json.loads(Path(config.init).with_suffix(".json").read_text())
        vae, denoiser, vae_card = model.vae, model.denoiser, init_card["vae"]
        started_from = {k: v for k, v in init_card.items() if k != "history"}
    else:
        vae_card = json.loads(Path(config.vae).with_suffix(".json").read_text())
        vae = MotionVAE.from_card(vae_card)
        vae.load_state_dict(torch.load(config.vae, map_location="cpu"))
        denoiser = LatentDenoiser.from_card(
            {"config": {**(config.model or {}), "frames": vae.config.frames, "patch": vae.config.patch, "latent": vae.config.latent}}
        )
        model, started_from = MotionDecoder(vae, denoiser).to(device), None
    vae.requires_grad_(False)
    train_set, val_set = _windows(config, vae.config.frames, conditions=True)
    val_loader, batches = loaders(config, train_set, val_set)
    clips, scores = train_set.clips, {"mocap": val_loader}
    settings = Settings(lifter=config.lifter, solver="ik")
    licences = tuple(config.licences) if config.licences else None
    if config.corpora:
        corpus = LiftedWindows(
            [c for folder in config.corpora for c in lift_clips(folder, "train", settings, licences)], vae.config.frames, augment=True
        )
        batches, clips = mixed(batches, training_batches(config, corpus), config.corpus_share), clips + corpus.clips
    if config.corpus_validation:
        corpus_val = LiftedWindows(
            [c for folder in config.corpus_validation for c in lift_clips(folder, "validation", settings, licences)],
            vae.config.frames,
            stride=vae.config.frames,
        )
        scores["rendered"] = validation_loader(config, corpus_val)
    vae.eval()
    if not config.init:
        with torch.no_grad():
            stream = iter(DataLoader(train_set, batch_size=config.batch, shuffle=True))  # in this process: no worker left behind
            first = [next(stream) for _ in range(SCALE_BATCHES)]
            model.points_from_joints.copy_(points_from_joints(first).to(device))
            model.latent_scale.fill_(float(torch.cat([vae.encode(b["motion"].to(device))[0] for b in first]).std()))
    schedule = noise_schedule()
    alphas = schedule.alphas_cumprod.to(device)

    def loss_of(batch: dict) -> torch.Tensor:
        vae.eval()  # frozen: no dropout
        motion, conditions = batch["motion"].to(device), batch["conditions"].to(device)
        with torch.no_grad():
            guess = model.guess(conditions)
            clean = model.clean_latent(motion) - guess
        noise = torch.randn_like(clean)
        steps = torch.randint(0, TRAIN_STEPS, (len(clean),), device=device)
        noisy = schedule.add_noise(clean, noise, steps)
        v = schedule.get_velocity(clean, noise, steps)
        predicted = denoiser(noisy, steps, conditions, guess)
        a = alphas[steps].sqrt()[:, None, None]
        b = (1 - alphas[steps]).sqrt()[:, None, None]
        diffusion = (predicted - v).pow(2).mean() + (a * predicted + b * noisy - noise).pow(2).mean()
        if not config.motion_weight:
            return diffusion
        decoded = vae.decode((guess + a * noisy - b * predicted) * model.latent_scale)  # x0 = √ᾱ x_t − √(1−ᾱ) v
        return diffusion + config.motion_weight * motion_loss(decoded, motion, batch["mask"].to(device))

    def validate() -> dict[str, float]:
        return {name: mean_point_error_mm(loader, lambda b: model(b["conditions"].to(device)), device) for name, loader in scores.items()}

    state = run_loop(config, model, batches, loss_of, validate if len(scores) > 1 else lambda: validate()["mocap"])
    card = model_card(config, "motion-decoder", model, model.card()["config"], clips, state, command)
    card["latent_scale"] = float(model.latent_scale)
    card["vae"] = (
        vae_card if config.init else {"weights": config.vae, "best_val_mpjpe_mm": vae_card["best_val_mpjpe_mm"], "steps": vae_card["steps"]}
    )
    if started_from:
        card["started_from"] = started_from
    return export_run(config, card, WEIGHTS_DIR if ship else None)
