"""The motion VAE: the decoder's pose prior (FastHMR §3.3, stage 1), scaled down for a CPU.

A window of ``frames`` frames of motion features (:mod:`engine.decoding.features`) is cut into
patches of ``patch`` frames; each patch is one token (its frames' features, linearly embedded,
with a learned position embedding), and a transformer over the tokens gives each its latent's
mean and log-variance (``latent`` numbers). The decoder is the mirror image: the latent tokens,
embedded, through a transformer, each token's output linearly unpacked into its patch's frames.
The paper's VAE reads 243 frames into 27 latent tokens, one per 9 frames, through learned
query tokens; a token per patch keeps that ratio and makes every layer attend over 9 tokens
instead of 90, which trains about 7 times faster a step here and learns as fast per step.
Trained on mocap alone with MSE-like losses and a small KL term (``engine.train.decoder``); the
latent denoiser (stage 2) learns to land in this latent space.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from engine.decoding.features import FEATURES


@dataclass
class MotionVAEConfig:
    frames: int = 81
    patch: int = 9  # frames per latent token; frames must be a multiple of it
    features: int = FEATURES
    width: int = 128
    heads: int = 4
    layers: int = 3  # each of the encoder and the decoder
    ffn: int = 256
    latent: int = 32
    dropout: float = 0.1

    @property
    def tokens(self) -> int:
        return self.frames // self.patch


def _transformer(config: MotionVAEConfig) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(
        config.width, config.heads, config.ffn, config.dropout, activation="gelu", batch_first=True, norm_first=True
    )
    return nn.TransformerEncoder(layer, config.layers, norm=nn.LayerNorm(config.width), enable_nested_tensor=False)


class MotionVAE(nn.Module):
    def __init__(self, config: MotionVAEConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or MotionVAEConfig()
        if config.frames % config.patch:
            raise ValueError(f"a window of {config.frames} frames does not cut into patches of {config.patch}")
        self.embed = nn.Linear(config.patch * config.features, config.width)
        self.encoder_positions = nn.Parameter(torch.randn(config.tokens, config.width) * 0.02)
        self.encoder = _transformer(config)
        self.to_distribution = nn.Linear(config.width, 2 * config.latent)
        self.from_latent = nn.Linear(config.latent, config.width)
        self.decoder_positions = nn.Parameter(torch.randn(config.tokens, config.width) * 0.02)
        self.decoder = _transformer(config)
        self.to_features = nn.Linear(config.width, config.patch * config.features)

    @property
    def description(self) -> str:
        c = self.config
        return f"motion VAE: {c.frames} frames ↔ {c.tokens} × {c.latent} latent (a token per {c.patch} frames), {c.layers}+{c.layers} layers of {c.width}"

    @classmethod
    def from_card(cls, card: dict) -> MotionVAE:
        known = {f.name for f in fields(MotionVAEConfig)}
        return cls(MotionVAEConfig(**{k: v for k, v in card.get("config", {}).items() if k in known}))

    def card(self) -> dict:
        return {"config": asdict(self.config)}

    def encode(self, motion: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance (B, tokens, latent) of the latent of ``motion`` (B, frames, features)."""
        patches = motion.reshape(len(motion), self.config.tokens, -1)
        hidden = self.encoder(self.embed(patches) + self.encoder_positions)
        mean, log_variance = self.to_distribution(hidden).chunk(2, dim=-1)
        return mean, log_variance.clamp(-10.0, 10.0)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Motion features (B, frames, features) of latent tokens (B, tokens, latent)."""
        hidden = self.decoder(self.from_latent(latent) + self.decoder_positions)
        return self.to_features(hidden).reshape(len(latent), self.config.frames, self.config.features)

    def forward(self, motion: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction (sampled latent while training, the mean otherwise), mean and log-variance."""
        mean, log_variance = self.encode(motion)
        latent = mean + torch.randn_like(mean) * (0.5 * log_variance).exp() if self.training else mean
        return self.decode(latent), mean, log_variance
