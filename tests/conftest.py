"""Shared fixtures."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.body.skeleton import default_rest_joints
from engine.data.prepare import prepare
from engine.video import read_frames
from tests.paths import EXAMPLE_CLIP, MOCAP
from tests.test_bvh import TWO_JOINTS

# tests/blender runs inside Blender's own environments (tests/test_addon.py starts it there).
collect_ignore = ["blender"]


@pytest.fixture
def rest_joints() -> np.ndarray:
    """The default SMPL24 rest skeleton (24, 3), metres."""
    return default_rest_joints()


# The clip with empty frames, in order: black frames, the example clip's first frames, black
# frames (a gap longer than the 0.5 s bridged), its next frames, black frames.
EMPTY_BEFORE, FIRST_PART, GAP, SECOND_PART, EMPTY_AFTER = 8, 60, 20, 40, 8


@pytest.fixture(scope="session")
def clip_with_empty_frames(tmp_path_factory) -> Path:
    """The example clip's first 100 frames (25 fps) with black frames where nobody is seen:
    ``EMPTY_BEFORE`` before them, ``GAP`` (0.8 s) after the first ``FIRST_PART``, and
    ``EMPTY_AFTER`` at the end."""
    path = tmp_path_factory.mktemp("clips") / "with_empty_frames.mp4"
    frames = [cv2.cvtColor(f.rgb, cv2.COLOR_RGB2BGR) for f, _ in zip(read_frames(EXAMPLE_CLIP), range(FIRST_PART + SECOND_PART))]
    black = np.zeros_like(frames[0])
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, frames[0].shape[1::-1])
    for frame in [black] * EMPTY_BEFORE + frames[:FIRST_PART] + [black] * GAP + frames[FIRST_PART:] + [black] * EMPTY_AFTER:
        writer.write(frame)
    writer.release()
    return path


PREPARED_CLIPS = ["cmu/02_01", "cmu/02_02", "cmu/05_01", "cmu/05_02", "bandai2/dataset-2_walk_normal_002"]


@pytest.fixture(scope="session")
def prepared(tmp_path_factory):
    """A few mocap clips of four skeleton families (and one non-person) through ``prepare``:
    (output folder, summary, split manifest path)."""
    if not (MOCAP / "cmu").is_dir():
        pytest.skip(f"no mocap data at {MOCAP} (set ENGINE_MOCAP_DIR)")
    src = tmp_path_factory.mktemp("mocap")
    for clip in PREPARED_CLIPS:
        folder = src / clip.split("/")[0]
        folder.mkdir(exist_ok=True)
        shutil.copy(MOCAP / f"{clip}.bvh.gz", folder)
    (src / "cmu" / "not_a_person.bvh").write_text(TWO_JOINTS)
    manifest = src.parent / "split.csv"
    manifest.write_text(
        "group,split\nsubject:cmu/02,test\nsubject:cmu/05,train\nclip:bandai2/dataset-2_walk_normal_002.bvh.gz,validation\n"
    )
    out = src.parent / "prepared"
    summary = prepare(src, out, workers=1, manifest_path=manifest)
    return out, summary, manifest
