"""HTNet: Human Topology aware Network (Cai et al., ICASSP 2023), a single-frame 2D → 3D lifter.

Each joint's 2D keypoint is embedded (``patch_embed``, a linear map) and given a learned
position embedding per joint (``pos_embed``). ``depth`` blocks follow; each splits the channels
into three streams of ``dim / 3`` that read the body at three levels of its topology, from
local to global, each stream starting from the one before it (a hierarchy, not three parallel
branches):

- **Local joint connection** (LGC; the official code's ``lgc``, "LJC" in the paper): two
  modulated graph convolutions over the skeleton (:class:`ModulatedGraphConv`): a joint mixes
  with its parent and children through the fixed adjacency (from our ``H36M17.parents``, with
  self-loops), plus a learned symmetric correction ``adj2`` (dense, starting at 1e-6, so other
  joint pairs can be learned), with separate weights for a joint itself and for its neighbours
  (``W``) and a learned per-joint, per-channel modulation (``M``).
- **Intra-part constraint** (IPC): the limbs (hip → knee → ankle, shoulder → elbow → wrist) are
  summarised by 1-D convolutions run along each limb: a kernel-3 convolution over every
  parent → child → end triplet, whose summary replaces the child and end joints, and a kernel-2
  convolution over every child → end pair, whose summary replaces the end joint. So the end
  joints (wrists, ankles), the least certain in 2D, are constrained by their whole limb.
- **Global body interaction** (GBI): self-attention over all 17 joints.

The streams are concatenated, then an MLP (pre-norm, residual) mixes them; after the last block
a LayerNorm and a linear head (``fcn``) give each joint's 3D position. The pelvis is set to the
origin (the official evaluation does the same), so the output is root-relative, in metres, in
the camera frame, like every lifter here (:mod:`engine.lifting`).

``intra_part=False`` is the ablation without the intra-part constraint: the block then splits
its channels into two streams of ``dim / 2`` (LGC, then GBI starting from LGC's output), as the
official code's two-stream block does, and has no ``ipc`` parameters.

Parameter names and shapes follow the official implementation (vefalun/HTNet), so an official
checkpoint loads with ``strict=True`` into ``HTNet(HTNetConfig.official())``; the skeleton
adjacency is a constant of the model, not a stored entry.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from engine.body.joints import H36M17
from engine.lifting import fit_channels
from engine.lifting.hot import Attention, Mlp


def skeleton_adjacency(parents: tuple[int, ...] | list[int]) -> torch.Tensor:
    """The skeleton's graph (J, J) as the official code weights it: 1 on the diagonal
    (self-loops), and for each bone between joints i and j the mean of 1/degree(i) and
    1/degree(j) (degrees without self-loops); 0 elsewhere. Symmetric.

    The official code row-normalises the bone matrix (not symmetric), restores the diagonal to
    1, and symmetrises the sum with the learned ``adj2`` in every forward pass; building the
    symmetric part here once gives the same graph convolution.
    """
    joints = len(parents)
    bones = torch.zeros(joints, joints)
    for child, parent in enumerate(parents):
        if parent >= 0:
            bones[child, parent] = bones[parent, child] = 1.0
    rows = bones / bones.sum(1, keepdim=True).clamp(min=1)
    return (rows + rows.T) / 2 + torch.eye(joints)


def limb_triplets(parents: tuple[int, ...] | list[int]) -> list[tuple[int, int, int]]:
    """The limbs as (parent, child, end) joint triplets, in joint order: chains of three joints
    that hang from a branching joint (one with several children: the pelvis, the thorax) and end
    in a leaf. For H36M17: both legs (hip, knee, ankle) and both arms (shoulder, elbow, wrist);
    the neck → head chain hangs from the spine, not a branch, so it is no limb."""
    children: list[list[int]] = [[] for _ in parents]
    for joint, parent in enumerate(parents):
        if parent >= 0:
            children[parent].append(joint)
    triplets = []
    for end, kids in enumerate(children):
        if kids:
            continue
        child = parents[end]
        top = parents[child] if child >= 0 else -1
        if top >= 0 and parents[top] >= 0 and len(children[parents[top]]) > 1 and len(children[top]) == len(children[child]) == 1:
            triplets.append((top, child, end))
    return sorted(triplets)


@dataclass(frozen=True)
class HTNetConfig:
    frames: int = 1  # a single-frame model; kept so that model cards say their window
    joints: int = 17
    in_chans: int = 3  # x, y and confidence; the official model takes x, y only
    dim: int = 96  # split into three streams (two without the intra-part constraint)
    depth: int = 3
    heads: int = 4  # GBI's attention heads
    mlp_dim: int = 256  # hidden width of the block's MLP and of IPC's two MLPs
    gcn_dim: int = 128  # hidden width of LGC's two graph convolutions (384 in the official code)
    intra_part: bool = True  # False: the ablation without IPC (two streams of dim / 2)
    dropout: float = 0.0
    drop_path: float = 0.0  # stochastic depth of the last block; the first gets a third of it

    @classmethod
    def official(cls) -> HTNetConfig:
        """The published size: width 240 (3 streams of 80), 3 blocks, 8 heads, MLP 1024, LGC 384, x/y input."""
        return cls(in_chans=2, dim=240, depth=3, heads=8, mlp_dim=1024, gcn_dim=384, dropout=0.1, drop_path=0.3)

    @property
    def streams(self) -> int:
        return 3 if self.intra_part else 2

    def to_dict(self) -> dict:
        return asdict(self)


class DropPath(nn.Module):
    """Stochastic depth: while training, drops a residual branch for whole samples at rate ``p``."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), device=x.device) >= self.p
        return x * keep / (1 - self.p)


class ModulatedGraphConv(nn.Module):
    """Modulated graph convolution (Zou & Tang, ICCV 2021) over a fixed skeleton graph.

    ``out = diag(A) · (M ⊙ x W₀) + offdiag(A) · (M ⊙ x W₁) + bias`` with ``A`` the skeleton
    adjacency plus the learned symmetric ``adj2`` (dense, starting at 1e-6): one weight ``W₀`` for a
    joint's own features and one ``W₁`` for its neighbours', and ``M`` (J, out) modulating
    each joint's output channels, so joints need not share one transformation.
    """

    def __init__(self, dim_in: int, dim_out: int, adjacency: torch.Tensor) -> None:
        super().__init__()
        joints = adjacency.shape[0]
        self.W = nn.Parameter(nn.init.xavier_uniform_(torch.empty(2, dim_in, dim_out), gain=1.414))
        self.M = nn.Parameter(nn.init.xavier_uniform_(torch.empty(joints, dim_out), gain=1.414))
        self.adj2 = nn.Parameter(torch.full((joints, joints), 1e-6))
        self.bias = nn.Parameter(torch.empty(dim_out).uniform_(-(dim_out**-0.5), dim_out**-0.5))
        self.register_buffer("adjacency", adjacency.clone(), persistent=False)
        self.register_buffer("eye", torch.eye(joints), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, J, dim_in) → (B, J, dim_out)."""
        graph = self.adjacency + (self.adj2 + self.adj2.T) / 2
        own, neighbours = self.M * (x @ self.W[0]), self.M * (x @ self.W[1])
        return (graph * self.eye).sum(-1, keepdim=True) * own + (graph * (1 - self.eye)) @ neighbours + self.bias


class LocalJointConnection(nn.Module):
    """LGC: two modulated graph convolutions with a GELU between them, normalised before and
    after, as a residual branch: each joint reads its skeleton neighbours."""

    def __init__(self, dim: int, hidden: int, adjacency: torch.Tensor, drop_path: float) -> None:
        super().__init__()
        self.norm_gcn1 = nn.LayerNorm(dim)
        self.gcn1 = ModulatedGraphConv(dim, hidden, adjacency)
        self.gcn2 = ModulatedGraphConv(hidden, dim, adjacency)
        self.norm_gcn2 = nn.LayerNorm(dim)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch = self.gcn2(nn.functional.gelu(self.gcn1(self.norm_gcn1(x))))
        return x + self.drop_path(self.norm_gcn2(branch))


class IntraPartConstraint(nn.Module):
    """IPC, on the stream's channels plus LGC's output: limb summaries at two levels, added to
    that input. Level 1: a kernel-3 convolution along each (parent, child, end) triplet, its
    summary replacing the child and the end joint; level 2: a kernel-2 convolution along each
    (child, end) pair, its summary replacing the end joint. At each level the convolution's
    weights are shared by the four limbs, and a pre-norm residual MLP refines the summaries."""

    def __init__(self, dim: int, mlp_dim: int, triplets: list[tuple[int, int, int]], drop_path: float, dropout: float) -> None:
        super().__init__()
        self.norm_conv1 = nn.LayerNorm(dim)
        self.conv1 = nn.Conv1d(dim, dim, kernel_size=3, stride=3)
        self.norm_conv1_mlp = nn.LayerNorm(dim)
        self.mlp_down_1 = Mlp(dim, mlp_dim, dropout)
        self.norm_conv2 = nn.LayerNorm(dim)
        self.conv2 = nn.Conv1d(dim, dim, kernel_size=2, stride=2)
        self.norm_conv2_mlp = nn.LayerNorm(dim)
        self.mlp_down_2 = Mlp(dim, mlp_dim, dropout)
        self.drop_path = DropPath(drop_path)
        index = lambda joints: torch.tensor(joints, dtype=torch.long)  # noqa: E731
        self.register_buffer("triplet_joints", index([j for t in triplets for j in t]), persistent=False)
        self.register_buffer("triplet_targets", index([j for t in triplets for j in t[1:]]), persistent=False)
        self.register_buffer("pair_joints", index([j for t in triplets for j in t[1:]]), persistent=False)
        self.register_buffer("pair_targets", index([t[2] for t in triplets]), persistent=False)

    def _limbs(
        self,
        x: torch.Tensor,
        norm: nn.Module,
        conv: nn.Module,
        norm_mlp: nn.Module,
        mlp: nn.Module,
        joints: torch.Tensor,
        targets: torch.Tensor,
    ) -> torch.Tensor:
        """(B, J, C): ``norm(x)`` with the ``targets`` joints replaced by the summaries of the
        chains listed one after another in ``joints``."""
        x = norm(x)
        summary = self.drop_path(nn.functional.gelu(conv(x[:, joints].transpose(1, 2)))).transpose(1, 2)  # (B, limbs, C)
        summary = summary + self.drop_path(mlp(norm_mlp(summary)))
        return x.index_copy(1, targets, summary.repeat_interleave(len(targets) // summary.shape[1], dim=1))

    def forward(self, x: torch.Tensor, local: torch.Tensor) -> torch.Tensor:
        x = x + local
        triplets = self._limbs(
            x, self.norm_conv1, self.conv1, self.norm_conv1_mlp, self.mlp_down_1, self.triplet_joints, self.triplet_targets
        )
        pairs = self._limbs(x, self.norm_conv2, self.conv2, self.norm_conv2_mlp, self.mlp_down_2, self.pair_joints, self.pair_targets)
        return x + triplets + pairs


class GlobalBodyInteraction(nn.Module):
    """GBI: pre-norm self-attention over all the joints, as a residual branch, on the stream's
    channels plus the previous stream's output."""

    def __init__(self, dim: int, heads: int, drop_path: float, dropout: float) -> None:
        super().__init__()
        self.norm_attn = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, dropout)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        x = x + previous
        return x + self.drop_path(self.attn(self.norm_attn(x)))


class HTNetBlock(nn.Module):
    """The channels split into streams (LGC, IPC, GBI; LGC and GBI without the intra-part
    constraint), each stream fed the previous one's output; then concatenated and mixed by a
    pre-norm residual MLP."""

    def __init__(self, config: HTNetConfig, adjacency: torch.Tensor, triplets: list[tuple[int, int, int]], drop_path: float) -> None:
        super().__init__()
        c = config
        width = c.dim // c.streams
        self.lgc = LocalJointConnection(width, c.gcn_dim, adjacency, drop_path)
        if c.intra_part:
            self.ipc = IntraPartConstraint(width, c.mlp_dim, triplets, drop_path, c.dropout)
        self.gbi = GlobalBodyInteraction(width, c.heads, drop_path, c.dropout)
        self.norm_mlp = nn.LayerNorm(c.dim, eps=1e-6)
        self.mlp = Mlp(c.dim, c.mlp_dim, c.dropout)
        self.drop_path = DropPath(drop_path)
        self.streams = c.streams

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        streams = x.chunk(self.streams, dim=-1)
        local = self.lgc(streams[0])
        outputs = [local]
        if self.streams == 3:
            outputs.append(self.ipc(streams[1], local))
        outputs.append(self.gbi(streams[-1], outputs[-1]))
        x = torch.cat(outputs, dim=-1)
        return x + self.drop_path(self.mlp(self.norm_mlp(x)))


class HierarchicalMixer(nn.Module):
    """The blocks and the final LayerNorm (the official ``Hiremixer``)."""

    def __init__(self, config: HTNetConfig, adjacency: torch.Tensor, triplets: list[tuple[int, int, int]]) -> None:
        super().__init__()
        c = config
        rates = torch.linspace(c.drop_path / 3, c.drop_path, c.depth).tolist()
        self.blocks = nn.ModuleList(HTNetBlock(c, adjacency, triplets, rate) for rate in rates)
        self.Temporal_norm = nn.LayerNorm(c.dim, eps=1e-6)  # the official name, though nothing here is temporal

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.Temporal_norm(x)


class HTNet(nn.Module):
    """2D keypoints (B, T, J, in_chans or more) → root-relative 3D joints (B, T, J, 3), each
    frame lifted on its own (T = 1 in the pipeline, :class:`~engine.lifting.streaming.PerFrameLifting`)."""

    window = 1

    def __init__(self, config: HTNetConfig, parents: tuple[int, ...] = H36M17.parents) -> None:
        super().__init__()
        c = config
        if c.frames != 1 or len(parents) != c.joints:
            raise ValueError(f"HTNet lifts one frame of {len(parents)} joints: {c}")
        if c.dim % c.streams or (c.dim // c.streams) % c.heads:
            raise ValueError(f"dim must split into {c.streams} streams whose width divides into {c.heads} heads: {c}")
        self.config = c
        self.triplets = limb_triplets(parents)
        if c.intra_part and not self.triplets:
            raise ValueError("the intra-part constraint needs limbs (three-joint chains from a branching joint to a leaf)")
        self.pos_embed = nn.Parameter(nn.init.trunc_normal_(torch.zeros(1, c.joints, c.dim), std=0.02))
        self.patch_embed = nn.Linear(c.in_chans, c.dim)
        self.Hiremixer = HierarchicalMixer(c, skeleton_adjacency(parents), self.triplets)
        self.fcn = nn.Linear(c.dim, 3)
        self.register_buffer("not_root", (torch.tensor(parents) >= 0).float()[:, None], persistent=False)

    @classmethod
    def from_card(cls, card: dict) -> HTNet:
        """An HTNet of the size a model card's ``config`` gives (weights not loaded); fields it
        does not give take their defaults."""
        return cls(HTNetConfig(**card["config"]))

    @property
    def description(self) -> str:
        return "HTNet (single frame: LGC + IPC + GBI)" if self.config.intra_part else "HTNet without the intra-part constraint (LGC + GBI)"

    def forward(self, keypoints: torch.Tensor) -> torch.Tensor:
        c = self.config
        batch, frames, joints, _ = keypoints.shape
        if joints != c.joints:
            raise ValueError(f"expected (B, T, {c.joints}, {c.in_chans}) keypoints, got {tuple(keypoints.shape)}")
        x = self.patch_embed(fit_channels(keypoints, c.in_chans).flatten(0, 1)) + self.pos_embed  # (B*T, J, C)
        out = self.fcn(self.Hiremixer(x)).unflatten(0, (batch, frames))
        return out * self.not_root  # the pelvis at the origin
