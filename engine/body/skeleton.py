"""Rest skeletons: the default SMPL24 rest pose, which needs no licensed model file.

``default_skeleton.json`` holds 24 rest joint positions (metres, SMPL's frame, pelvis at the
origin) averaged from the CMU mocap subjects; ``smpl_assets/make_default_skeleton.py``
rebuilds it and says how. With a real SMPL model file the rest joints come from the model
and the betas instead (``engine.body.smpl_model``).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from engine.body.joints import SMPL24

DEFAULT_SKELETON_PATH = Path(__file__).with_name("default_skeleton.json")


@lru_cache(maxsize=1)
def _load_default() -> np.ndarray:
    document = json.loads(DEFAULT_SKELETON_PATH.read_text())
    if tuple(document["names"]) != SMPL24.names:
        raise ValueError(f"{DEFAULT_SKELETON_PATH}: joints are not SMPL24 in SMPL order")
    return np.array(document["rest_joints"], dtype=np.float64)


def default_rest_joints() -> np.ndarray:
    """SMPL24 rest joint positions (24, 3) in metres; a fresh copy the caller may modify."""
    return _load_default().copy()
