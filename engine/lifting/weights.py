"""Where trained lifter weights ship: ``engine/lifting/weights/NAME.pt`` with a model card ``NAME.json``."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from engine.lifting.hot import HoT, HoTConfig

WEIGHTS_DIR = Path(__file__).with_name("weights")


def load_hot(name: str) -> HoT:
    """The shipped HoT called ``name``, in eval mode, with its card as ``model.card``."""
    card_path = WEIGHTS_DIR / f"{name}.json"
    if not card_path.is_file():
        raise FileNotFoundError(f"no shipped weights {name!r} in {WEIGHTS_DIR}")
    card = json.loads(card_path.read_text())
    model = HoT(HoTConfig(**card["config"]))
    model.load_state_dict(torch.load(WEIGHTS_DIR / f"{name}.pt", weights_only=True))
    model.card = card
    return model.eval()


def record_test_metrics(name: str, results: dict) -> Path:
    """Write ``results`` (``engine eval lift``'s, for one kind of 2D noise) into the card of the
    shipped weights ``name``, under ``test_metrics`` and the noise's name; returns the card's path."""
    card_path = WEIGHTS_DIR / f"{name}.json"
    card = json.loads(card_path.read_text())
    card.setdefault("test_metrics", {})[results["noise"]] = results
    card_path.write_text(json.dumps(card, indent=1) + "\n")
    return card_path
