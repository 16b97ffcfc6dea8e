"""Lifter weights: a registered lifter's shipped file or any file, loaded strictly with its model card.

A weights file ``NAME.pt`` holds a state_dict; its model card ``NAME.json`` beside it names the
architecture (:data:`~engine.lifting.registry.ARCHITECTURES`) and its size. A file without a
card must be an official HoT-MixSTE checkpoint at the published size. A small model may keep
its weights in the card itself (the card is then the weights file).
"""

from __future__ import annotations

import json
from pathlib import Path
from pkgutil import resolve_name

import torch

from engine.lifting.hot import HoTConfig
from engine.lifting.registry import ARCHITECTURES, lifter_entry
from engine.lifting.streaming import StreamingLifter


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    """The state_dict in ``path``, bare or under ``model_pos``, ``model`` or ``state_dict`` (a
    ``module.`` prefix from ``nn.DataParallel`` dropped)."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds, with pages of advice, for a file that is not a checkpoint
        raise ValueError(f"{path}: not a PyTorch checkpoint of tensors ({type(e).__name__})") from None
    if isinstance(checkpoint, dict):
        checkpoint = next((checkpoint[k] for k in ("model_pos", "model", "state_dict") if isinstance(checkpoint.get(k), dict)), checkpoint)
    if not isinstance(checkpoint, dict) or not checkpoint or not all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        raise ValueError(f"{path}: holds no state_dict (a dict of tensors)")
    return {key.removeprefix("module."): value for key, value in checkpoint.items()}


def load_weights(path: str | Path) -> torch.nn.Module:
    """The model in weights file ``path`` (module docstring), loaded strictly, in eval mode,
    with its card as ``model.card``. ValueError names the file and the entries that do not fit."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weights file")
    card_path = path.with_suffix(".json")
    if card_path.is_file():
        card, size = json.loads(card_path.read_text()), f"the config in {card_path}"
    else:
        card = {"name": path.stem, "architecture": "hot", "config": HoTConfig.official().to_dict()}
        size = f"the official HoT-MixSTE size (no model card {card_path.name} beside it to say another)"
    _check_detector_shares(card.get("detector_shares", {}), card_path)
    architecture = card.get("architecture", "hot")  # cards from before the registry are HoT's
    if architecture not in ARCHITECTURES:
        raise ValueError(f"{card_path}: unknown architecture {architecture!r}; known: {', '.join(ARCHITECTURES)}")
    model = resolve_name(ARCHITECTURES[architecture].model).from_card(card)
    if path != card_path:
        state, expected = _read_state(path), model.state_dict()
        problems = {
            "of another shape": [
                f"{key} is {tuple(state[key].shape)}, not {tuple(value.shape)}"
                for key, value in expected.items()
                if key in state and state[key].shape != value.shape
            ],
            "missing": [key for key in expected if key not in state],
            "unexpected": [key for key in state if key not in expected],
        }
        if any(problems.values()):
            said = [
                f"{len(keys)} {kind} ({', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''})" for kind, keys in problems.items() if keys
            ]
            raise ValueError(f"{path}: does not fit {size}: {'; '.join(said)}")
        model.load_state_dict(state, strict=True)
    model.card = {**card, "architecture": architecture, "weights_file": str(path)}
    return model.eval()


def _check_detector_shares(shares: object, card_path: Path) -> None:
    """ValueError unless ``shares`` (a card's ``detector_shares``) maps ``legs`` and/or ``arms``
    to a share of the way in [0, 1] (:func:`~engine.lifting.averaged_with_detector`)."""
    if not isinstance(shares, dict):
        raise ValueError(f'{card_path}: "detector_shares" must be {{"legs": L, "arms": A}}, not {shares!r}')
    for key, value in shares.items():
        if key not in ("legs", "arms"):
            raise ValueError(f'{card_path}: "detector_shares" has an unknown key {key!r} (known: "legs", "arms")')
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ValueError(f'{card_path}: "detector_shares" {key!r} must be a number from 0 to 1, not {value!r}')


def load_shipped(name: str) -> torch.nn.Module:
    """The registered lifter ``name``'s model with its shipped weights (see :func:`load_weights`)."""
    return load_weights(lifter_entry(name).weights_path)


def streaming_lifter(model: torch.nn.Module, **options) -> StreamingLifter:
    """A new streaming lifter (:mod:`engine.lifting.streaming`) over ``model``, of the kind its
    card's architecture streams with; ``options`` go to its constructor."""
    return resolve_name(ARCHITECTURES[model.card["architecture"]].streaming)(model, **options)
