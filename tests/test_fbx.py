"""FBX through Blender: the round trip through Blender's own importer, the frame rate,
and what happens without Blender or when Blender fails."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from engine.body.joints import SMPL24
from engine.io.fbx import FbxUnavailableError, blender_backend, write_fbx
from tests.blender_scene import expected_heads, random_motion, world_heads

FRAMES = 500
NEEDS_BPY = "needs the bpy module: pip install 'mocap-engine[test]'"


def _import_fbx(bpy, path):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert bpy.ops.import_scene.fbx(filepath=str(path), anim_offset=0) == {"FINISHED"}
    scene = bpy.context.scene
    return scene, next(o for o in scene.objects if o.type == "ARMATURE")


def test_blender_imports_our_fbx_as_our_fk(tmp_path, rest_joints):
    bpy = pytest.importorskip("bpy", reason=NEEDS_BPY)
    poses, trans = random_motion(FRAMES)
    path = tmp_path / "motion.fbx"
    write_fbx(path, poses, trans, 30.0, rest_joints)

    scene, armature = _import_fbx(bpy, path)
    assert scene.render.fps == 30 and scene.render.fps_base == 1.0
    assert tuple(armature.animation_data.action.frame_range) == (1.0, FRAMES)
    parents = {b.name: b.parent.name if b.parent else None for b in armature.data.bones}
    assert parents == {n: SMPL24.names[p] if p >= 0 else None for n, p in zip(SMPL24.names, SMPL24.parents)}

    error = np.abs(world_heads(scene, armature, FRAMES) - expected_heads(poses, trans, rest_joints))
    print(f"\nFBX through Blender's importer: max joint error {error.max():.2e} m")
    assert error.max() <= 1e-4


def test_fractional_frame_rate_reaches_the_file(tmp_path, rest_joints):
    bpy = pytest.importorskip("bpy", reason=NEEDS_BPY)
    poses, trans = random_motion(5)
    write_fbx(tmp_path / "ntsc.fbx", poses, trans, 30000 / 1001, rest_joints)
    scene, _ = _import_fbx(bpy, tmp_path / "ntsc.fbx")
    assert scene.render.fps / scene.render.fps_base == pytest.approx(30000 / 1001)


def test_without_blender_write_fbx_says_how_to_get_it(tmp_path, monkeypatch, rest_joints):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "bpy" else find_spec(name, *a))
    monkeypatch.delenv("ENGINE_BLENDER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no `blender` here
    assert blender_backend() is None
    poses, trans = random_motion(2)
    with pytest.raises(FbxUnavailableError, match=r"mocap-engine\[fbx\].*ENGINE_BLENDER"):
        write_fbx(tmp_path / "m.fbx", poses, trans, 30.0, rest_joints)
    assert not (tmp_path / "m.fbx").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="the stand-in Blender is a shell script")
def test_engine_blender_is_used_and_its_failure_reported(tmp_path, monkeypatch, rest_joints):
    fake = tmp_path / "blender"
    fake.write_text("#!/bin/sh\necho 'Error: fake Blender cannot start' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("ENGINE_BLENDER", str(fake))
    assert blender_backend() == f"blender {fake}"
    poses, trans = random_motion(2)
    with pytest.raises(RuntimeError, match="exit code 3(.|\n)*fake Blender cannot start"):
        write_fbx(tmp_path / "m.fbx", poses, trans, 30.0, rest_joints)

    monkeypatch.setenv("ENGINE_BLENDER", str(tmp_path / "missing"))
    assert blender_backend() is None
    with pytest.raises(FbxUnavailableError, match="ENGINE_BLENDER=.*missing"):
        write_fbx(tmp_path / "m.fbx", poses, trans, 30.0, rest_joints)
