"""Where the decoder's trained weights ship: ``engine/decoding/weights/NAME.pt`` with its model card ``NAME.json``."""

from __future__ import annotations

from pathlib import Path

WEIGHTS_DIR = Path(__file__).with_name("weights")
