"""Lifter weights: the shipped ones (``engine/lifting/weights/NAME.pt`` with a model card ``NAME.json``) or any file."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from engine.lifting.hot import HoT, HoTConfig

WEIGHTS_DIR = Path(__file__).with_name("weights")


def load_hot(name: str) -> HoT:
    """The shipped HoT called ``name``, in eval mode, with its card as ``model.card``."""
    if not (WEIGHTS_DIR / f"{name}.json").is_file():
        raise FileNotFoundError(f"no shipped weights {name!r} in {WEIGHTS_DIR}")
    return load_hot_file(WEIGHTS_DIR / f"{name}.pt")


def load_hot_file(path: str | Path) -> HoT:
    """HoT weights from any file, loaded strictly, in eval mode, with a card as ``model.card``.

    The file holds a state_dict, bare or under ``model_pos``, ``model`` or ``state_dict`` (a
    ``module.`` prefix from ``nn.DataParallel`` is dropped). Its size comes from a model card
    beside it (``NAME.json`` for ``NAME.pt``, as ours ship); without one it must be an official
    HoT-MixSTE checkpoint at the published size (:meth:`HoTConfig.official`). ValueError names
    the file and the entries that do not fit.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weights file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds, with pages of advice, for a file that is not a checkpoint
        raise ValueError(f"{path}: not a PyTorch checkpoint of tensors ({type(e).__name__})") from None
    if isinstance(checkpoint, dict):
        checkpoint = next((checkpoint[k] for k in ("model_pos", "model", "state_dict") if isinstance(checkpoint.get(k), dict)), checkpoint)
    if not isinstance(checkpoint, dict) or not checkpoint or not all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        raise ValueError(f"{path}: holds no state_dict (a dict of tensors)")
    state = {key.removeprefix("module."): value for key, value in checkpoint.items()}
    card_path = path.with_suffix(".json")
    if card_path.is_file():
        card, size = json.loads(card_path.read_text()), f"the config in {card_path}"
    else:
        card = {"name": path.stem, "config": HoTConfig.official().to_dict()}
        size = f"the official HoT-MixSTE size (no model card {card_path.name} beside it to say another)"
    model = HoT(HoTConfig(**card["config"]))
    expected = model.state_dict()
    problems = {
        "of another shape": [f"{key} is {tuple(state[key].shape)}, not {tuple(value.shape)}"
                             for key, value in expected.items() if key in state and state[key].shape != value.shape],
        "missing": [key for key in expected if key not in state],
        "unexpected": [key for key in state if key not in expected],
    }  # fmt: skip
    if any(problems.values()):
        said = [f"{len(keys)} {kind} ({', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''})" for kind, keys in problems.items() if keys]
        raise ValueError(f"{path}: does not fit {size}: {'; '.join(said)}")
    model.load_state_dict(state, strict=True)
    model.card = {**card, "weights_file": str(path)}
    return model.eval()


def record_test_metrics(name: str, results: dict) -> Path:
    """Write ``results`` (``engine eval lift``'s, for one kind of 2D noise) into the card of the
    shipped weights ``name``, under ``test_metrics`` and the noise's name; returns the card's path."""
    card_path = WEIGHTS_DIR / f"{name}.json"
    card = json.loads(card_path.read_text())
    card.setdefault("test_metrics", {})[results["noise"]] = results
    card_path.write_text(json.dumps(card, indent=1) + "\n")
    return card_path
