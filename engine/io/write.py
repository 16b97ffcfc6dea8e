"""One way to write a Motion in any of our formats: ``engine export``, the batch and the server use it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.body.skeleton import default_rest_joints
from engine.io import FORMATS
from engine.io.bvh import write_bvh
from engine.io.fbx import write_fbx
from engine.motion import Motion


def write_motion(motion: Motion, path: str | Path, format: str, rest_joints: np.ndarray | None = None, units: str = "cm") -> None:
    """Write ``motion`` to ``path`` as ``format`` (one of :data:`~engine.io.FORMATS`). BVH and
    FBX pose ``rest_joints`` (24, 3), by default the motion's own rest skeleton (else the
    default one); ``units`` is
    BVH's length unit. FBX needs Blender (:class:`~engine.io.fbx.FbxUnavailableError`)."""
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; choose from {', '.join(FORMATS)}")
    if format == "npz":
        motion.save(path)
        return
    rest = next(r for r in (rest_joints, motion.rest_joints, default_rest_joints()) if r is not None)
    if format == "bvh":
        write_bvh(path, motion.poses, motion.trans, motion.fps, rest, units=units)
    else:
        write_fbx(path, motion.poses, motion.trans, motion.fps, rest)
