"""Keyframes in bulk, on both F-curve APIs, and an SMPL armature to key when the user has none.

Blender 5.0 keeps F-curves in an action's layers, strips and channel bags (``Action.fcurves``
is gone); 4.2 keeps them on the action. ``fcurve`` hides the difference. Keys are written with
``keyframe_points.add`` and ``foreach_set``: one call per curve for a whole block of frames.
"""

from __future__ import annotations

import bpy
import numpy as np

from .link.joints import SMPL24
from .retarget import SMPL_TO_BLENDER


def fcurve(action: bpy.types.Action, owner: bpy.types.ID, data_path: str, index: int, group: str) -> bpy.types.FCurve:
    """The action's F-curve for ``data_path[index]`` of ``owner``, made if missing."""
    if hasattr(action, "fcurve_ensure_for_datablock"):  # Blender 4.4+: layered actions, slots
        return action.fcurve_ensure_for_datablock(owner, data_path, index=index, group_name=group)
    found = action.fcurves.find(data_path, index=index)
    return found or action.fcurves.new(data_path, index=index, action_group=group)


def append_keys(curve: bpy.types.FCurve, frames: np.ndarray, values: np.ndarray) -> None:
    """Add keys (``frames``, ``values``; later than the curve's last key) with linear
    interpolation. The handles are set onto the keys, so the curve needs no ``update()``
    (which would cost more than writing the keys)."""
    points = curve.keyframe_points
    first = len(points)
    points.add(len(frames))
    co = np.column_stack([frames, values]).astype(np.float32).ravel()
    if first == 0:
        for name in ("co", "handle_left", "handle_right"):
            points.foreach_set(name, co)
        points.foreach_set("interpolation", np.full(len(frames), _LINEAR, np.int32))
    else:  # foreach_set writes every point; a short tail is cheaper one by one
        for i, (frame, value) in enumerate(zip(frames, values), start=first):
            point = points[i]
            point.co = point.handle_left = point.handle_right = (frame, value)
            point.interpolation = "LINEAR"


_LINEAR = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items["LINEAR"].value


def create_smpl_armature(name: str, rest_joints: np.ndarray) -> bpy.types.Object:
    """An armature with the 24 SMPL bones at ``rest_joints`` (24, 3; SMPL's frame, metres),
    T-posed as SMPL is, in the active collection; each bone points at its first child."""
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    bpy.context.collection.objects.link(obj)
    heads = rest_joints @ SMPL_TO_BLENDER.T
    previous = bpy.context.view_layer.objects.active
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    bones = []
    for j, bone_name in enumerate(SMPL24.names):
        bone = data.edit_bones.new(bone_name)
        children = SMPL24.children[j]
        direction = heads[children[0]] - heads[j] if children else heads[j] - heads[SMPL24.parents[j]]
        length = max(np.linalg.norm(direction), 0.03)
        bone.head, bone.tail = heads[j], heads[j] + direction / max(np.linalg.norm(direction), 1e-9) * length
        if j:
            bone.parent = bones[SMPL24.parents[j]]
        bones.append(bone)
    bpy.ops.object.mode_set(mode="OBJECT")
    bpy.context.view_layer.objects.active = previous
    return obj
