"""Helpers for the tests that read our files back with Blender's own importers (bpy is
passed in by the caller, so importing this module never needs it)."""

from __future__ import annotations

import numpy as np

from engine.body.joints import SMPL24
from engine.body.kinematics import forward_kinematics_np


def random_motion(frames: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Poses (frames, 72), each joint turned by up to 1 rad about a random axis on every
    frame, and a root that sways, bobs and walks forward 0.8 m/s at 30 fps."""
    rng = np.random.default_rng(seed)
    axes = rng.normal(size=(frames, len(SMPL24), 3))
    axes /= np.linalg.norm(axes, axis=-1, keepdims=True)
    poses = axes * rng.uniform(0.0, 1.0, (frames, len(SMPL24), 1))
    t = np.arange(frames) / 30.0
    trans = np.stack([0.5 * np.sin(t), 0.05 * np.sin(3 * t), 0.8 * t], axis=-1)
    return poses.reshape(frames, -1), trans


def expected_heads(poses: np.ndarray, trans: np.ndarray, rest_joints: np.ndarray) -> np.ndarray:
    """Our FK joint positions (T, 24, 3) in Blender's frame: SMPL (x, y, z) is Blender (x, -z, y)."""
    joints, _ = forward_kinematics_np(poses.reshape(len(poses), -1, 3), rest_joints, trans)
    return np.stack([joints[..., 0], -joints[..., 2], joints[..., 1]], axis=-1)


def world_heads(scene, armature, frames: int) -> np.ndarray:
    """World positions (frames, 24, 3) of the SMPL24 pose-bone heads on Blender frames 1..frames."""
    bones = [armature.pose.bones[name] for name in SMPL24.names]
    heads = np.empty((frames, len(bones), 3))
    for f in range(frames):
        scene.frame_set(f + 1)
        world = np.array(armature.matrix_world)
        heads[f] = np.array([b.head for b in bones]) @ world[:3, :3].T + world[:3, 3]
    return heads
