"""Solvers: world joints over time → SMPL rotations, root translation and joints.

A solver is chosen by name (``Settings.solver``) from :data:`SOLVERS`. It is built for one clip
with the clip's rest skeleton and frame rate, then given all world joints so far (H36M17,
metres, SMPL's world frame) each time more are final upstream; it answers the frames it has
solved for good. A solver that looks ahead (a temporal decoder) keeps its last frames back
until it has seen enough after them: ``settled`` says how many leading frames are final, and
the capture emits no frame past it. A new solver is an entry in :data:`SOLVERS` plus its
module. Nothing here imports torch.
"""

from __future__ import annotations

from pkgutil import resolve_name
from typing import Protocol

import numpy as np

DEFAULT_SOLVER = "ik"
SOLVERS: dict[str, str] = {  # name → "module:Class"
    "ik": "engine.solving.ik:IKSolver",
    "decoder": "engine.solving.decoder:DecoderSolver",
    "decoder-free": "engine.solving.decoder:FreeDecoderSolver",
}


class Solver(Protocol):
    settled: int
    samples: bool  # a solver that samples (the decoder) takes ``steps``, its sampling steps

    def __init__(self, rest: np.ndarray, fps: float) -> None: ...

    def extend(self, world_joints: np.ndarray, complete: bool = False) -> dict[str, np.ndarray]:
        """``poses`` (F, 72) axis-angle, ``trans`` (F, 3) and ``joints`` (F, 24, 3) of the first
        F = ``settled`` frames of ``world_joints`` (N, 17, 3), all of them when ``complete``; a
        solver that can tell which feet stand adds ``contacts`` (F, 4: probabilities of the left
        heel, left toe, right heel and right toe on the floor), which foot locking then uses."""


def make_solver(name: str, rest: np.ndarray, fps: float, steps: int = 1) -> Solver:
    """A new solver ``name`` for a clip with rest skeleton ``rest`` (24, 3) at ``fps``; one that
    samples takes ``steps`` sampling steps (the others have nothing to sample)."""
    if name not in SOLVERS:
        raise KeyError(f"unknown solver {name!r}; choose from {', '.join(SOLVERS)}")
    solver = resolve_name(SOLVERS[name])
    return solver(rest, fps, steps=steps) if solver.samples else solver(rest, fps)
