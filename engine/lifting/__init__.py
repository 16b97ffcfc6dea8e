"""3D pose lifters: 2D keypoint sequences (H36M17, HoT-normalised) → root-relative 3D joints.

Every lifter maps ``keypoints`` (B, T, 17, 3) (normalised x, y and confidence) to joints
(B, T, 17, 3) in metres, camera frame, pelvis at the origin. The lifters are named in
:mod:`engine.lifting.registry`; ``load_lifter(name)`` builds one for whole sequences, and
:mod:`engine.lifting.streaming` lifts a clip that is still growing. Importing this package
does not import torch (the server and ``Settings`` read the registry).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from engine.lifting.inference import SequenceLifter


def normalise_screen(uv: np.ndarray, width: float, height: float) -> np.ndarray:
    """HoT's 2D normalisation of full-image pixels: ``uv / w * 2 - [1, h / w]`` (both axes
    divided by the width, so x spans [-1, 1] and y keeps the aspect ratio)."""
    return uv / width * 2 - np.array([1.0, height / width])


def load_lifter(name: str) -> SequenceLifter:
    """The registered lifter ``name`` (:data:`~engine.lifting.registry.LIFTERS`) with its
    shipped weights, for whole sequences; KeyError lists the known names."""
    from engine.lifting.inference import SequenceLifter
    from engine.lifting.weights import load_shipped

    return SequenceLifter(load_shipped(name), name)
