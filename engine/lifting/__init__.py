"""3D pose lifters: 2D keypoint sequences (H36M17, HoT-normalised) → root-relative 3D joints.

Every lifter maps ``keypoints`` (B, T, 17, 3) (normalised x, y and confidence) to joints
(B, T, 17, 3) in metres, camera frame, pelvis at the origin. ``load_lifter(name)`` builds one
by name; ``LIFTERS`` lists the names.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch

from engine.lifting.baselines import MeanPose
from engine.lifting.inference import SequenceLifter
from engine.lifting.weights import load_hot
from engine.pipeline.settings import LIFTER_WEIGHTS

Lifter = Callable[[torch.Tensor], torch.Tensor]
# Shipped trained models by name, and their weights' names: the pipeline's lifters ("hot" trained
# on all the mocap, non-commercial; "hot-free" on CMU only) and "mixste", the unpruned baseline.
SHIPPED_WEIGHTS = {**LIFTER_WEIGHTS, "mixste": "mixste_default"}


def _shipped(name: str) -> Lifter:
    return SequenceLifter(load_hot(SHIPPED_WEIGHTS[name]), name)


LIFTERS: dict[str, Callable[[], Lifter]] = {"mean-pose": MeanPose.load, **{name: partial(_shipped, name) for name in SHIPPED_WEIGHTS}}


def load_lifter(name: str) -> Lifter:
    """The lifter called ``name`` (one of :data:`LIFTERS`)."""
    if name not in LIFTERS:
        raise KeyError(f"unknown lifter {name!r}; choose from {', '.join(LIFTERS)}")
    return LIFTERS[name]()
