"""The motion VAE: the decoder's pose prior (FastHMR §3.3, stage 1), scaled down for a CPU.

A window of ``frames`` frames of motion features (``engine.data.pose_windows``: points, twists,
contacts) is encoded into ``tokens`` latent tokens of ``latent`` numbers each, and decoded
back. Encoder: the frames, linearly embedded, and ``tokens`` learned query tokens, with a
learned position embedding, through a transformer; the queries' outputs give each latent
token's mean and log-variance. Decoder: the latent tokens, embedded, and one learned query
per frame, through a transformer; the frame queries' outputs are the features. Trained on
mocap alone with MSE and a small KL term (``engine.train.decoder``); the latent denoiser
(stage 2) learns to land in this latent space.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from engine.decoding.features import FEATURES


@dataclass
class MotionVAEConfig:
    frames: int = 81
    features: int = FEATURES
    width: int = 256
    heads: int = 4
    layers: int = 4  # each of the encoder and the decoder
    ffn: int = 512
    tokens: int = 9
    latent: int = 64
    dropout: float = 0.1


def _transformer(config: MotionVAEConfig) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(
        config.width, config.heads, config.ffn, config.dropout, activation="gelu", batch_first=True, norm_first=True
    )
    return nn.TransformerEncoder(layer, config.layers, norm=nn.LayerNorm(config.width), enable_nested_tensor=False)


class MotionVAE(nn.Module):
    def __init__(self, config: MotionVAEConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or MotionVAEConfig()
        self.embed = nn.Linear(config.features, config.width)
        self.queries = nn.Parameter(torch.randn(config.tokens, config.width) * 0.02)
        self.encoder_positions = nn.Parameter(torch.randn(config.tokens + config.frames, config.width) * 0.02)
        self.encoder = _transformer(config)
        self.to_distribution = nn.Linear(config.width, 2 * config.latent)
        self.from_latent = nn.Linear(config.latent, config.width)
        self.frame_queries = nn.Parameter(torch.randn(config.frames, config.width) * 0.02)
        self.decoder_positions = nn.Parameter(torch.randn(config.tokens + config.frames, config.width) * 0.02)
        self.decoder = _transformer(config)
        self.to_features = nn.Linear(config.width, config.features)

    @property
    def description(self) -> str:
        c = self.config
        return f"motion VAE: {c.frames} frames ↔ {c.tokens} × {c.latent} latent, {c.layers}+{c.layers} layers of {c.width}"

    @classmethod
    def from_card(cls, card: dict) -> MotionVAE:
        known = {f.name for f in fields(MotionVAEConfig)}
        return cls(MotionVAEConfig(**{k: v for k, v in card.get("config", {}).items() if k in known}))

    def card(self) -> dict:
        return {"config": asdict(self.config)}

    def encode(self, motion: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance (B, tokens, latent) of the latent of ``motion`` (B, frames, features)."""
        queries = self.queries.expand(len(motion), -1, -1)
        hidden = self.encoder(torch.cat([queries, self.embed(motion)], 1) + self.encoder_positions)
        mean, log_variance = self.to_distribution(hidden[:, : self.config.tokens]).chunk(2, dim=-1)
        return mean, log_variance.clamp(-10.0, 10.0)

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Motion features (B, frames, features) of latent tokens (B, tokens, latent)."""
        queries = self.frame_queries.expand(len(latent), -1, -1)
        hidden = self.decoder(torch.cat([self.from_latent(latent), queries], 1) + self.decoder_positions)
        return self.to_features(hidden[:, self.config.tokens :])

    def forward(self, motion: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction (sampled latent while training, the mean otherwise), mean and log-variance."""
        mean, log_variance = self.encode(motion)
        latent = mean + torch.randn_like(mean) * (0.5 * log_variance).exp() if self.training else mean
        return self.decode(latent), mean, log_variance
