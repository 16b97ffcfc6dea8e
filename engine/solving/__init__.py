"""Solvers: world joints over time → SMPL rotations, root translation and joints.

A solver is chosen by name (``Settings.solver``) from :data:`SOLVERS`, or left to the lifter
(:data:`AUTO`, the default: :func:`paired_solver`). It is built for one clip
with the clip's rest skeleton and frame rate, then given all world joints so far (H36M17,
metres, SMPL's world frame) each time more are final upstream; it answers the frames it has
solved for good. A solver that looks ahead (a temporal decoder) keeps its last frames back
until it has seen enough after them: ``settled`` says how many leading frames are final, and
the capture emits no frame past it. A solver that looks too far ahead to stream early names
another (``provisional``: the decoder, whose windows need up to 81 frames after a frame, names
the IK) to make a stream's provisional frames, which the capture's final motion replaces
(``engine.pipeline.capture``). A new solver is an entry in :data:`SOLVERS` plus its module.
Nothing here imports torch.
"""

from __future__ import annotations

from pkgutil import resolve_name
from typing import Protocol

import numpy as np

AUTO = "auto"  # the solver paired with the lifter: paired_solver
SOLVERS: dict[str, str] = {  # name → "module:Class"
    "ik": "engine.solving.ik:IKSolver",
    "decoder": "engine.solving.decoder:DecoderSolver",
    "decoder-free": "engine.solving.decoder:FreeDecoderSolver",
}


# The decoder trained on data under the same terms as the lifter's, by the first words of its
# model card's licence ("non-commercial: trained on ...", "commercial use allowed: ..."): a
# lifter cleared for commercial use never gets a decoder that is not.
PAIRED_SOLVERS = {"non-commercial": "decoder", "commercial use allowed": "decoder-free"}


def paired_solver(licence: str) -> str:
    """The solver :data:`AUTO` stands for with a lifter whose model card's licence is ``licence``;
    ValueError for a licence that names neither kind."""
    kind = licence.split(":")[0].strip()
    if kind not in PAIRED_SOLVERS:
        raise ValueError(f"no solver pairs with a lifter licensed {licence!r}: name one ({', '.join(SOLVERS)})")
    return PAIRED_SOLVERS[kind]


class Solver(Protocol):
    settled: int
    samples: bool  # a solver that samples (the decoder) takes ``steps``, its sampling steps
    provisional: str | None  # the solver that makes a stream's provisional frames in its stead (module docstring)

    def __init__(self, rest: np.ndarray, fps: float) -> None: ...

    def extend(self, world_joints: np.ndarray, complete: bool = False) -> dict[str, np.ndarray]:
        """``poses`` (F, 72) axis-angle, ``trans`` (F, 3) and ``joints`` (F, 24, 3) of the first
        F = ``settled`` frames of ``world_joints`` (N, 17, 3), all of them when ``complete``; a
        solver that can tell which feet stand adds ``contacts`` (F, 4: probabilities of the left
        heel, left toe, right heel and right toe on the floor), which foot locking then uses."""


def provisional_solver(name: str) -> str:
    """The solver whose frames a stream shows until the final motion, for a capture with solver
    ``name``: the one it names as ``provisional``, else itself."""
    return resolve_name(SOLVERS[name]).provisional or name


def make_solver(name: str, rest: np.ndarray, fps: float, steps: int = 1) -> Solver:
    """A new solver ``name`` for a clip with rest skeleton ``rest`` (24, 3) at ``fps``; one that
    samples takes ``steps`` sampling steps (the others have nothing to sample)."""
    if name not in SOLVERS:
        raise KeyError(f"unknown solver {name!r}; choose from {', '.join(SOLVERS)}")
    solver = resolve_name(SOLVERS[name])
    return solver(rest, fps, steps=steps) if solver.samples else solver(rest, fps)
