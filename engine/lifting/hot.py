"""HoT: Hourglass Tokenizer on a MixSTE backbone (Li et al., CVPR 2024), seq2seq 2D → 3D.

MixSTE alternates spatial attention over the 17 joints of each frame with temporal attention
over the frames of each joint. HoT prunes the frames after layer ``prune_layer``: **Token
Pruning Cluster** (TPC) averages each frame's joint tokens, clusters the frames by density
peaks (DPC-kNN) and keeps the ``n_tokens`` cluster centres in time order, with a position
embedding of their own; the remaining layers run on those. **Token Recovering Attention**
(TRA) then restores every frame: zero-initialised learnable queries, one per output frame,
cross-attend to the kept tokens. With ``prune_layer=None`` the same class is plain MixSTE.
``tra_time_bias`` (ours, off in the paper's model) biases TRA towards kept tokens near each
output frame in time, which lets HoT train as fast as MixSTE on a small budget.

Parameter names and shapes follow the official HoT-MixSTE implementation, so an official
checkpoint loads with ``strict=True`` into ``HoT(HoTConfig.official())``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
from torch import nn

from engine.layer_merging import Span, check_spans, merged_state
from engine.lifting import fit_channels


@dataclass(frozen=True)
class HoTConfig:
    frames: int = 81
    joints: int = 17
    in_chans: int = 3  # x, y and confidence (7: and the world landmarks, engine.lifting); the official model takes x, y only
    dim: int = 128
    depth: int = 4  # spatial + temporal block pairs
    heads: int = 8
    mlp_dim: int = 256
    prune_layer: int | None = 1  # None: no pruning (MixSTE)
    n_tokens: int = 27
    k: int = 2  # neighbours for the DPC-kNN density
    dropout: float = 0.0
    # Our addition, not in the paper: bias TRA's attention towards kept tokens near each output
    # frame in time (see tra_time_bias). Off reproduces the official model.
    tra_time_bias: bool = False

    @classmethod
    def official(cls) -> HoTConfig:
        """The published HoT-MixSTE size: 243 frames, width 512, 8 block pairs, 81 tokens after layer 3."""
        return cls(frames=243, in_chans=2, dim=512, depth=8, heads=8, mlp_dim=1024, prune_layer=3, n_tokens=81)

    def unpruned(self) -> HoTConfig:
        """The plain MixSTE of the same size: pruning off, and with it TRA and its time bias."""
        return replace(self, prune_layer=None, tra_time_bias=False)

    @property
    def pruned(self) -> bool:
        return self.prune_layer is not None

    def to_dict(self) -> dict:
        return asdict(self)


class Attention(nn.Module):
    """Multi-head self-attention with one fused query/key/value projection."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).unflatten(-1, (3, self.heads, -1)).permute(2, 0, 3, 1, 4)
        drop = self.dropout if self.training else 0.0
        out = nn.functional.scaled_dot_product_attention(q, k, v, dropout_p=drop)
        return self.proj(out.transpose(1, 2).flatten(2))


class CrossAttention(nn.Module):
    """Multi-head attention of queries onto a separate key/value sequence (TRA)."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.linear_q, self.linear_k, self.linear_v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, queries: torch.Tensor, context: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        """queries (..., L, C), context (..., S, C), bias broadcastable to (..., heads, L, S) → (..., L, C)."""
        split = lambda t: t.unflatten(-1, (self.heads, -1)).transpose(-3, -2)  # noqa: E731
        q, k, v = split(self.linear_q(queries)), split(self.linear_k(context)), split(self.linear_v(context))
        drop = self.dropout if self.training else 0.0
        out = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=drop)
        return self.proj(out.transpose(-3, -2).flatten(-2))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(nn.functional.gelu(self.fc1(x)))))


class Block(nn.Module):
    """Pre-norm transformer block."""

    def __init__(self, dim: int, heads: int, mlp_dim: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim), Attention(dim, heads, dropout)
        self.norm2, self.mlp = nn.LayerNorm(dim), Mlp(dim, mlp_dim, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def dpc_knn_centres(tokens: torch.Tensor, n_centres: int, k: int) -> torch.Tensor:
    """Indices (B, n_centres), increasing, of the density-peak cluster centres of ``tokens`` (B, T, C).

    DPC-kNN (Du et al. 2016): a token's density is ``exp(-mean squared distance to its k
    nearest neighbours)``, its separation the distance to the nearest denser token (the
    largest distance for the densest); centres are the tokens with the largest
    density × separation. Ties in density go to the earlier frame, so the choice is
    deterministic.
    """
    frames, channels = tokens.shape[1], tokens.shape[2]
    distance = torch.cdist(tokens, tokens) / channels**0.5
    nearest = distance.topk(k + 1, dim=-1, largest=False).values[..., 1:]  # skip the token itself
    density = torch.exp(-(nearest**2).mean(-1))
    density = density - torch.arange(frames, device=tokens.device) * 1e-6 * density.detach().abs().max()
    denser = density[:, None, :] > density[:, :, None]  # [b, i, j]: token j is denser than token i
    far = distance.flatten(1).max(-1).values[:, None, None]
    separation = torch.where(denser, distance, far).min(-1).values
    centres = (density * separation).topk(n_centres, dim=-1).indices
    return centres.sort(dim=-1).values


def tra_time_bias(kept: torch.Tensor, frames: int, heads: int) -> torch.Tensor:
    """Attention bias (B, 1, heads, frames, n) of TRA: ``-slope_h * |t - kept_i|`` in frames.

    ``kept`` (B, n) are the kept tokens' frame indices. Zero-initialised queries attend
    uniformly, so the paper's TRA starts by giving every frame the window's average and must
    learn time-specific queries and time-aware keys before it can interpolate; on a CPU
    budget that dominated HoT's error. The bias makes each output frame read its neighbours in
    time from the first step. Slopes halve from head to head (1/2 to 1/2**heads per frame,
    as in ALiBi), so some heads interpolate locally and others see the whole window.
    """
    slopes = 2.0 ** -torch.arange(1, heads + 1, device=kept.device, dtype=torch.float32)
    gap = (torch.arange(frames, device=kept.device)[:, None] - kept[:, None, :]).abs()  # (B, T, n)
    return -(slopes[:, None, None] * gap[:, None]).unsqueeze(1)


class HoT(nn.Module):
    """2D keypoints (B, T, J, in_chans) → root-relative 3D joints (B, T, J, 3), T = ``config.frames``."""

    def __init__(self, config: HoTConfig) -> None:
        super().__init__()
        c = config
        if c.pruned and not (0 < c.prune_layer < c.depth and 0 < c.n_tokens <= c.frames):
            raise ValueError(f"prune_layer must lie in 1..{c.depth - 1} and n_tokens in 1..{c.frames}: {c}")
        self.config = c
        if c.pruned:
            self.pos_embed_token = nn.Parameter(torch.zeros(1, c.n_tokens, c.dim))
        self.Spatial_pos_embed = nn.Parameter(torch.zeros(1, c.joints, c.dim))
        self.Temporal_pos_embed = nn.Parameter(torch.zeros(1, c.frames, c.dim))
        if c.pruned:
            self.x_token = nn.Parameter(torch.zeros(1, c.frames, c.dim))  # TRA queries, zero at start
        self.Spatial_patch_to_embedding = nn.Linear(c.in_chans, c.dim)
        self.STEblocks = nn.ModuleList(Block(c.dim, c.heads, c.mlp_dim, c.dropout) for _ in range(c.depth))
        self.TTEblocks = nn.ModuleList(Block(c.dim, c.heads, c.mlp_dim, c.dropout) for _ in range(c.depth))
        if c.pruned:
            self.cross_attention = CrossAttention(c.dim, c.heads, c.dropout)
        self.Spatial_norm = nn.LayerNorm(c.dim)
        self.Temporal_norm = nn.LayerNorm(c.dim)
        self.head = nn.Sequential(nn.LayerNorm(c.dim), nn.Linear(c.dim, 3))
        self.pos_drop = nn.Dropout(c.dropout)
        for p in (self.Spatial_pos_embed, self.Temporal_pos_embed, *((self.pos_embed_token,) if c.pruned else ())):
            nn.init.trunc_normal_(p, std=0.02)

    @classmethod
    def from_card(cls, card: dict) -> HoT:
        """A HoT of the size a model card's ``config`` gives (weights not loaded); fields it
        does not give take their defaults, and ``prune_layer = 0`` means None (TOML has no null)."""
        config = dict(card["config"])
        if config.get("prune_layer") == 0:
            config["prune_layer"] = None
        return cls(HoTConfig(**config))

    @property
    def description(self) -> str:
        return "HoT (MixSTE backbone, TPC + TRA)" if self.config.pruned else "MixSTE (unpruned)"

    @property
    def window(self) -> int:
        """Frames per window, in and out."""
        return self.config.frames

    @property
    def layers(self) -> int:
        """Spatial + temporal block pairs: the layers :meth:`merged` merges."""
        return self.config.depth

    def merged(self, spans: list[Span]) -> HoT:
        """A HoT with one block pair per span of this one's pairs (``engine.layer_merging``),
        the rest of its weights the same. A span may not cross the pruning: the frames kept
        after ``prune_layer`` are fewer, so the pairs before and after it see different tokens."""
        c = self.config
        check_spans(spans, c.depth)
        if c.pruned and not any(start == c.prune_layer for start, _ in spans):
            raise ValueError(f"spans {spans} merge across the pruning before pair {c.prune_layer}")
        prune_layer = next(i for i, (start, _) in enumerate(spans) if start == c.prune_layer) if c.pruned else None
        model = HoT(replace(c, depth=len(spans), prune_layer=prune_layer))
        state = {k: v for k, v in self.state_dict().items() if not k.startswith(("STEblocks.", "TTEblocks."))}
        for i, (start, stop) in enumerate(spans):
            for name in ("STEblocks", "TTEblocks"):
                blocks = getattr(self, name)[start:stop]
                state |= {f"{name}.{i}.{key}": value for key, value in merged_state(list(blocks)).items()}
        model.load_state_dict(state, strict=True)
        return model.train(self.training)

    def forward(self, keypoints: torch.Tensor) -> torch.Tensor:
        c = self.config
        batch, frames, joints, _ = keypoints.shape
        if frames != c.frames or joints != c.joints:
            raise ValueError(f"expected (B, {c.frames}, {c.joints}, {c.in_chans}) keypoints, got {tuple(keypoints.shape)}")
        x = self.Spatial_patch_to_embedding(fit_channels(keypoints, c.in_chans)) + self.Spatial_pos_embed  # (B, T, J, C)
        x = self.pos_drop(x)
        for layer in range(c.depth):
            temporal_pos = self.Temporal_pos_embed if layer == 0 else None
            if c.pruned and layer == c.prune_layer:
                keep = dpc_knn_centres(x.mean(dim=2), c.n_tokens, c.k)  # TPC: cluster frames, keep centres
                x = x[torch.arange(batch, device=x.device)[:, None], keep]
                temporal_pos = self.pos_embed_token
            x = self.Spatial_norm(self.STEblocks[layer](x.flatten(0, 1))).unflatten(0, (batch, -1))
            x = x.transpose(1, 2).flatten(0, 1)  # (B*J, T', C): each joint's track over time
            if temporal_pos is not None:
                x = self.pos_drop(x + temporal_pos)
            x = self.Temporal_norm(self.TTEblocks[layer](x)).unflatten(0, (batch, joints)).transpose(1, 2)
        if c.pruned:  # TRA: one query per output frame attends to the kept tokens
            tracks = x.transpose(1, 2)  # (B, J, n, C)
            bias = tra_time_bias(keep, c.frames, c.heads) if c.tra_time_bias else None
            x = (self.x_token + self.cross_attention(self.x_token, tracks, bias)).transpose(1, 2)
        return self.head(x)
