"""Layer merging (FastHMR's error-constrained layer merging, ECLM): same-shaped layers as one.

A span of adjacent layers with the same parameters' shapes becomes one layer whose weights are
``θ* = θ_i + Σ_k (θ_{i+k} − θ_i)`` (FastHMR, Algorithm 1): the first layer's weights plus each
later layer's difference from it. A model that can be merged says which spans it accepts and
builds its smaller self from them (``HoT.merged``, ``LatentDenoiser.merged``);
``engine.optimize.eclm`` chooses the spans.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

Span = tuple[int, int]  # layers start..stop-1


def merged_state(layers: Sequence[nn.Module]) -> dict[str, torch.Tensor]:
    """The state dict of one layer standing for ``layers`` (same-shaped modules, in the order
    they run): the first's weights plus each later one's difference from it."""
    first = layers[0].state_dict()
    states = [layer.state_dict() for layer in layers[1:]]
    return {key: value + sum((state[key] - value for state in states), torch.zeros_like(value)) for key, value in first.items()}


def check_spans(spans: Sequence[Span], layers: int) -> None:
    """ValueError unless ``spans`` cut ``range(layers)`` into adjacent, non-empty, ordered pieces."""
    if not spans or spans[0][0] != 0 or spans[-1][1] != layers or any(a[1] != b[0] for a, b in zip(spans, spans[1:])):
        raise ValueError(f"spans {list(spans)} do not cut {layers} layers into adjacent pieces")
    if any(stop <= start for start, stop in spans):
        raise ValueError(f"spans {list(spans)} hold an empty piece")
