"""Shared fixtures."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from engine.body.skeleton import default_rest_joints
from engine.data.prepare import prepare
from tests.paths import MOCAP
from tests.test_bvh import TWO_JOINTS

# tests/blender runs inside Blender's own environments (tests/test_addon.py starts it there).
collect_ignore = ["blender"]


@pytest.fixture
def rest_joints() -> np.ndarray:
    """The default SMPL24 rest skeleton (24, 3), metres."""
    return default_rest_joints()


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
