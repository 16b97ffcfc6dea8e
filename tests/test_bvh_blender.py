"""Our BVH writer against Blender's own BVH importer: every joint, every frame."""

from __future__ import annotations

import numpy as np
import pytest

from engine.body.joints import SMPL24
from engine.io.bvh import write_bvh
from tests.blender_scene import expected_heads, random_motion, world_heads

FRAMES = 500


def test_blender_imports_our_bvh_as_our_fk(tmp_path, rest_joints):
    bpy = pytest.importorskip("bpy", reason="needs the bpy module: pip install 'mocap-engine[test]'")
    poses, trans = random_motion(FRAMES)
    path = tmp_path / "motion.bvh"
    write_bvh(path, poses, trans, 30.0, rest_joints, units="cm")

    bpy.ops.wm.read_factory_settings(use_empty=True)
    # Default axes (forward -Z, up Y) turn our y-up file z-up. Without use_fps_scale the
    # importer puts BVH frame i on Blender frame frame_start + i.
    result = bpy.ops.import_anim.bvh(filepath=str(path), global_scale=0.01, frame_start=1, use_fps_scale=False, update_scene_fps=True)
    assert result == {"FINISHED"}
    scene = bpy.context.scene
    armature = next(o for o in scene.objects if o.type == "ARMATURE")
    assert scene.render.fps / scene.render.fps_base == pytest.approx(30.0)
    assert sorted(b.name for b in armature.data.bones) == sorted(SMPL24.names)

    error = np.abs(world_heads(scene, armature, FRAMES) - expected_heads(poses, trans, rest_joints))
    print(f"\nBVH through Blender's importer: max joint error {error.max():.2e} m")
    assert error.max() <= 1e-4
