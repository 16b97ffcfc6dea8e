"""The decoder as one model: the motion VAE (the pose prior) and the latent denoiser over it.

Given per-frame conditions of a window, the denoiser finds the VAE latent (:func:`sample`, one
step by default) and the VAE's decoder turns it into motion features (points, twists, contact
logits: ``engine.data.pose_windows``). The VAE's latents are divided by ``latent_scale`` (their
standard deviation over training windows, measured when the denoiser's training starts) so
that the diffusion sees unit-variance latents. One file holds both, with one card.
"""

from __future__ import annotations

import torch
from torch import nn

from engine.decoding.denoiser import LatentDenoiser, sample
from engine.decoding.vae import MotionVAE


class MotionDecoder(nn.Module):
    def __init__(self, vae: MotionVAE, denoiser: LatentDenoiser, latent_scale: float = 1.0) -> None:
        super().__init__()
        self.vae, self.denoiser = vae, denoiser
        self.register_buffer("latent_scale", torch.tensor(float(latent_scale)))

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

    def clean_latent(self, motion: torch.Tensor) -> torch.Tensor:
        """The scaled latent (B, tokens, latent) the denoiser learns to find for ``motion``."""
        return self.vae.encode(motion)[0] / self.latent_scale

    def forward(self, conditions: torch.Tensor, steps: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
        """Motion features (B, frames, features) for per-frame ``conditions`` (B, frames, conditions)."""
        return self.vae.decode(sample(self.denoiser, conditions, steps, generator) * self.latent_scale)
