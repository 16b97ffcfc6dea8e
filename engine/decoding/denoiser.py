"""The latent denoiser (FastHMR §3.3, stage 2): the motion VAE's latent from per-frame conditions.

It finds the latent's difference from the decoder's guess (``engine.decoding.decoder``), and
sees the guess: each noisy latent token's embedding has the guess's token's added.
A U-ViT-style transformer with long skip connections: the noisy latent tokens (embedded), the
diffusion step (a sinusoidal embedding, one token) and the conditions, one token per patch of
``patch`` frames (their frames' conditions linearly projected, as the VAE cuts its windows), go
in as one sequence with a learned position embedding; the first half
of the blocks hand their outputs to the second half in reverse order (concatenated, then
projected back), and the latent tokens' outputs are the prediction of ``v`` (v-prediction).

The schedule is diffusers' (:func:`noise_schedule`): 1000 training steps, scaled-linear betas
0.00085 → 0.012 rescaled to zero terminal SNR, v-prediction, trailing timesteps so that one
step starts from pure noise. :func:`sample` runs it: by default one step from zero noise, so
the answer is deterministic.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, fields

import torch
from diffusers import DDIMScheduler
from torch import nn

from engine.decoding.features import CONDITIONS
from engine.layer_merging import Span, check_spans, merged_state

TRAIN_STEPS = 1000


def noise_schedule() -> DDIMScheduler:
    """The diffusion schedule of training and sampling (module docstring)."""
    return DDIMScheduler(
        num_train_timesteps=TRAIN_STEPS,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        rescale_betas_zero_snr=True,
        prediction_type="v_prediction",
        timestep_spacing="trailing",
        clip_sample=False,
        set_alpha_to_one=True,  # the last step returns its prediction of the clean latent
    )


@dataclass
class DenoiserConfig:
    frames: int = 81
    patch: int = 9  # frames per latent token and per condition token (the VAE's)
    conditions: int = CONDITIONS  # numbers per frame of conditions (engine.decoding.features)
    latent: int = 32  # numbers per latent token (the VAE's)
    width: int = 128
    heads: int = 4
    layers: int = 5  # odd: the middle block has no skip partner
    ffn: int = 256
    dropout: float = 0.1

    @property
    def tokens(self) -> int:
        return self.frames // self.patch


def _block(config: DenoiserConfig) -> nn.TransformerEncoderLayer:
    return nn.TransformerEncoderLayer(config.width, config.heads, config.ffn, config.dropout, activation="gelu", batch_first=True)


def step_embedding(steps: torch.Tensor, width: int) -> torch.Tensor:
    """Sinusoidal embeddings (B, width) of diffusion steps (B,)."""
    half = width // 2
    frequencies = torch.exp(-math.log(10000.0) * torch.arange(half, device=steps.device) / half)
    angles = steps.float()[:, None] * frequencies
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class LatentDenoiser(nn.Module):
    def __init__(self, config: DenoiserConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or DenoiserConfig()
        self.embed_latent = nn.Linear(config.latent, config.width)
        self.embed_guess = nn.Linear(config.latent, config.width)
        self.embed_conditions = nn.Linear(config.patch * config.conditions, config.width)
        self.embed_step = nn.Sequential(nn.Linear(config.width, config.width), nn.GELU(), nn.Linear(config.width, config.width))
        self.positions = nn.Parameter(torch.randn(1 + 2 * config.tokens, config.width) * 0.02)
        half = config.layers // 2
        self.down = nn.ModuleList(_block(config) for _ in range(half))
        self.middle = _block(config)
        self.up = nn.ModuleList(_block(config) for _ in range(half))
        self.skips = nn.ModuleList(nn.Linear(2 * config.width, config.width) for _ in range(half))
        self.norm = nn.LayerNorm(config.width)
        self.to_v = nn.Linear(config.width, config.latent)

    @property
    def description(self) -> str:
        c = self.config
        return f"latent denoiser (U-ViT): {c.layers} blocks of {c.width}, {c.tokens} × {c.latent} latent, {c.frames} frames of {c.conditions} conditions in {c.tokens} tokens"

    @classmethod
    def from_card(cls, card: dict) -> LatentDenoiser:
        known = {f.name for f in fields(DenoiserConfig)}
        return cls(DenoiserConfig(**{k: v for k, v in card.get("config", {}).items() if k in known}))

    def card(self) -> dict:
        return {"config": asdict(self.config)}

    @property
    def layers(self) -> int:
        """Levels of the U (a block before the middle, its partner after it and their skip):
        the layers :meth:`merged` merges."""
        return self.config.layers // 2

    def merged(self, spans: list[Span]) -> LatentDenoiser:
        """A denoiser with one level per span of this one's levels (``engine.layer_merging``):
        the blocks before the middle merged in the order they run, and their partners after it,
        with their skips, likewise; the rest of its weights the same."""
        half = self.layers
        check_spans(spans, half)
        model = LatentDenoiser(DenoiserConfig(**{**asdict(self.config), "layers": 2 * len(spans) + 1}))
        state = {k: v for k, v in self.state_dict().items() if not k.startswith(("down.", "up.", "skips."))}
        for i, (start, stop) in enumerate(spans):
            partner = len(spans) - 1 - i  # up[j] takes the output of down[half - 1 - j]
            state |= {f"down.{i}.{k}": v for k, v in merged_state(list(self.down[start:stop])).items()}
            for name in ("up", "skips"):
                modules = getattr(self, name)[half - stop : half - start]
                state |= {f"{name}.{partner}.{k}": v for k, v in merged_state(list(modules)).items()}
        model.load_state_dict(state, strict=True)
        return model.train(self.training)

    def forward(self, noisy: torch.Tensor, steps: torch.Tensor, conditions: torch.Tensor, guess: torch.Tensor) -> torch.Tensor:
        """The predicted v (B, tokens, latent) of ``noisy`` latents (B, tokens, latent) at
        diffusion ``steps`` (B,), given per-frame ``conditions`` (B, frames, conditions) and the
        decoder's ``guess`` (B, tokens, latent)."""
        step = self.embed_step(step_embedding(steps, self.config.width))[:, None]
        patches = conditions.reshape(len(conditions), self.config.tokens, -1)
        latent = self.embed_latent(noisy) + self.embed_guess(guess)
        hidden = torch.cat([step, latent, self.embed_conditions(patches)], 1) + self.positions
        skipped = []
        for block in self.down:
            hidden = block(hidden)
            skipped.append(hidden)
        hidden = self.middle(hidden)
        for block, skip in zip(self.up, self.skips):
            hidden = block(skip(torch.cat([hidden, skipped.pop()], -1)))
        return self.to_v(self.norm(hidden[:, 1 : 1 + self.config.tokens]))


@functools.cache
def sampling_schedule(steps: int) -> DDIMScheduler:
    """The schedule with its ``steps`` sampling timesteps set, built once per process: building
    it (1000 betas rescaled) took 0.9 ms, a tenth of a one-step decode on one thread. Its
    ``step`` keeps no state, so one serves every call."""
    schedule = noise_schedule()
    schedule.set_timesteps(steps)
    return schedule


@torch.no_grad()
def sample(
    model: LatentDenoiser, conditions: torch.Tensor, guess: torch.Tensor, steps: int = 1, generator: torch.Generator | None = None
) -> torch.Tensor:
    """The clean latents' differences (B, tokens, latent) from the decoder's ``guess`` (B, tokens,
    latent) for ``conditions`` (B, frames, conditions), by ``steps`` DDIM steps from
    zero-terminal-SNR noise: zeros (deterministic) when no ``generator`` is given, else drawn
    from it."""
    schedule = sampling_schedule(steps)
    shape = (len(conditions), model.config.tokens, model.config.latent)
    latent = torch.zeros(shape) if generator is None else torch.randn(shape, generator=generator)
    latent = latent.to(conditions)
    for t in schedule.timesteps:
        v = model(latent, torch.full((len(conditions),), int(t), device=conditions.device), conditions, guess)
        latent = schedule.step(v, t, latent, eta=0.0).prev_sample
    return latent
