"""The decoder as one model: the motion VAE (the pose prior) and the latent denoiser over it.

Given per-frame conditions of a window, the decoder first makes a **guess**: the motion whose
points are a linear map of the conditions' joints (``points_from_joints``, fitted by least
squares on training windows when the denoiser's training starts), its twists zero and no
contacts, encoded by the VAE. The denoiser then finds the latent's difference from the guess
(:func:`sample`, one step by default), and the VAE's decoder turns guess plus difference into
motion features (points, twists, contact logits: ``engine.data.pose_windows``). Without the
guess the denoiser had to find the whole latent from the conditions and did not learn to: given
the exact joints it landed 78 mm from the motion after 1200 steps (the VAE itself reconstructs
it within 17 mm). The VAE's latents are divided by ``latent_scale`` (their standard deviation
over training windows, measured when the denoiser's training starts) so that the diffusion
sees unit-variance latents. One file holds both, with one card.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from engine.body.joints import H36M17
from engine.decoding.denoiser import LatentDenoiser, sample
from engine.decoding.features import FEATURES, POINTS
from engine.decoding.representation import TWIST_JOINTS
from engine.decoding.vae import MotionVAE


class MotionDecoder(nn.Module):
    def __init__(self, vae: MotionVAE, denoiser: LatentDenoiser, latent_scale: float = 1.0) -> None:
        super().__init__()
        self.vae, self.denoiser = vae, denoiser
        self.register_buffer("latent_scale", torch.tensor(float(latent_scale)))
        self.register_buffer("points_from_joints", torch.zeros(POINTS, len(H36M17)))  # fitted: engine.train.decoder

    @property
    def window(self) -> int:
        return self.vae.config.frames

    @property
    def description(self) -> str:
        return f"{self.vae.description}; {self.denoiser.description}"

    @classmethod
    def from_card(cls, card: dict) -> MotionDecoder:
        config = card.get("config", {})
        return cls(MotionVAE.from_card({"config": config.get("vae", {})}), LatentDenoiser.from_card({"config": config.get("denoiser", {})}))

    def card(self) -> dict:
        return {"config": {"vae": self.vae.card()["config"], "denoiser": self.denoiser.card()["config"]}}

    def with_denoiser(self, denoiser: LatentDenoiser) -> MotionDecoder:
        """The same decoder (VAE, guess, scale) with another denoiser (a merged one: ECLM)."""
        model = MotionDecoder(self.vae, denoiser, float(self.latent_scale))
        model.points_from_joints.copy_(self.points_from_joints)
        return model.train(self.training)

    def clean_latent(self, motion: torch.Tensor) -> torch.Tensor:
        """The scaled latent (B, tokens, latent) of ``motion`` (B, frames, features)."""
        return self.vae.encode(motion)[0] / self.latent_scale

    def guess(self, conditions: torch.Tensor) -> torch.Tensor:
        """The scaled latent (B, tokens, latent) of the motion the ``conditions``' joints suggest
        (module docstring)."""
        joints = conditions[..., : 3 * len(H36M17)].unflatten(-1, (len(H36M17), 3))
        points = torch.einsum("pj,btjc->btpc", self.points_from_joints, joints).flatten(-2)
        unturned = torch.tensor([1.0, 0.0], device=conditions.device).repeat(len(TWIST_JOINTS)).expand(*points.shape[:-1], -1)
        no_contact = points.new_zeros(*points.shape[:-1], FEATURES - points.shape[-1] - unturned.shape[-1])
        return self.clean_latent(torch.cat([points, unturned, no_contact], -1))

    def forward(self, conditions: torch.Tensor, steps: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
        """Motion features (B, frames, features) for per-frame ``conditions`` (B, frames, conditions)."""
        guess = self.guess(conditions)
        return self.vae.decode((guess + sample(self.denoiser, conditions, guess, steps, generator)) * self.latent_scale)


def load_decoder_weights(weights: str | Path) -> MotionDecoder:
    """The decoder in ``weights`` (a ``.pt`` file, its model card ``.json`` beside it), in eval mode."""
    weights = Path(weights)
    if not weights.is_file() or not weights.with_suffix(".json").is_file():
        raise FileNotFoundError(f"no decoder at {weights} (the weights and their card {weights.with_suffix('.json').name} beside them)")
    model = MotionDecoder.from_card(json.loads(weights.with_suffix(".json").read_text()))
    model.load_state_dict(torch.load(weights, map_location="cpu"))
    return model.eval()
