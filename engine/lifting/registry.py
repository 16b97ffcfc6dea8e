"""The lifters the engine knows, by name: what each is, where its weights are, how it streams.

Nothing here imports torch or anything outside the standard library: ``Settings``, the
server's ``welcome`` and ``--help`` read this module, and the Blender add-on carries a copy
(``engine addon build``) for its list of lifters.

- :data:`ARCHITECTURES`: an architecture's name (a model card's ``architecture`` key) → its
  model class (built by ``Class.from_card(card)``) and the class that streams it over a
  growing clip (:mod:`engine.lifting.streaming`), both as ``"module:Class"``.
- :data:`LIFTERS`: a lifter's name (what ``--lifter`` takes) → :class:`LifterEntry`: its
  weights file and model card (which names the architecture, the licence and the window).

A new lifter is an entry here (and an architecture, when it brings one) plus its module
(``docs/lifter.md``, "Adding a lifter").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

WEIGHTS_DIR = Path(__file__).with_name("weights")
DEFAULT_LIFTER = "hot"


@dataclass(frozen=True)
class Architecture:
    """A model class (``Class.from_card(card)`` builds it) and the streaming class that lifts a
    growing clip with it, each as ``"module:Class"``."""

    model: str
    streaming: str


ARCHITECTURES: dict[str, Architecture] = {
    "hot": Architecture("engine.lifting.hot:HoT", "engine.lifting.streaming:WindowedLifting"),
    "htnet": Architecture("engine.lifting.htnet:HTNet", "engine.lifting.streaming:PerFrameLifting"),
    "mean-pose": Architecture("engine.lifting.baselines:MeanPose", "engine.lifting.streaming:PerFrameLifting"),
}


@dataclass(frozen=True)
class LifterEntry:
    """A named lifter. ``weights`` is a file in :data:`WEIGHTS_DIR` (or an absolute path) with
    its model card beside it (same name, ``.json``; a card may hold the weights itself);
    ``capture`` says whether captures may use it (baselines are for ``engine eval`` and
    ``engine bench`` only)."""

    name: str
    weights: str
    summary: str
    capture: bool = True

    @property
    def weights_path(self) -> Path:
        return WEIGHTS_DIR / self.weights

    @property
    def card_path(self) -> Path:
        return self.weights_path.with_suffix(".json")

    @property
    def card(self) -> dict:
        """The model card: architecture, config, licence, training, test metrics."""
        return _read_card(self.card_path)

    @property
    def architecture(self) -> str:
        return self.card["architecture"]

    @property
    def licence(self) -> str:
        return self.card["licence"]

    @property
    def streaming(self) -> str:
        """The ``"module:Class"`` that lifts a growing clip with this lifter's model."""
        return ARCHITECTURES[self.architecture].streaming

    @property
    def window(self) -> int:
        """Frames the model sees at once (1: a single-frame lifter)."""
        return int(self.card["config"]["frames"])


@cache
def _read_card(path: Path) -> dict:
    return json.loads(path.read_text())


LIFTERS: dict[str, LifterEntry] = {
    entry.name: entry
    for entry in (
        LifterEntry(
            "hot",
            "hot_world.pt",
            "HoT reading the detector's 2D and its own 3D, trained on all our mocap and on rendered clips (non-commercial use)",
        ),
        LifterEntry(
            "hot-free",
            "hot_free_world.pt",
            "hot's design trained on the CMU mocap and rendered CMU clips only (commercial use allowed)",
        ),
        LifterEntry("htnet", "htnet_default.pt", "HTNet, one frame at a time, trained on all our mocap (non-commercial use)"),
        LifterEntry("htnet-free", "htnet_free.pt", "HTNet, one frame at a time, trained on CMU mocap only (commercial use allowed)"),
        LifterEntry("mixste", "mixste_default.pt", "unpruned MixSTE, HoT's baseline in engine bench lift", capture=False),
        LifterEntry("mean-pose", "mean_pose.json", "the mean training pose for every frame: the floor any lifter must beat", capture=False),
    )
}


def lifter_entry(name: str) -> LifterEntry:
    """The lifter called ``name``; KeyError lists the known ones."""
    if name not in LIFTERS:
        raise KeyError(f"unknown lifter {name!r}; choose from {', '.join(LIFTERS)}")
    return LIFTERS[name]


def capture_lifters() -> list[str]:
    """Names of the lifters a capture may use, default first."""
    return sorted((name for name, entry in LIFTERS.items() if entry.capture), key=lambda name: name != DEFAULT_LIFTER)
