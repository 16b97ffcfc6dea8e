"""Inside Blender: build an animated armature from engine.io.fbx's ``.npz`` and export FBX.

Standalone on purpose: Blender's bundled Python has neither scipy, torch nor this package,
so this script imports only bpy (with its mathutils), numpy and the standard library. All
the rotation maths happened on the engine side; here the bones get exactly the rest
matrices they were computed for, and the keys go in as given.

    python -P fbx_blender.py MOTION.npz OUT.fbx                      (bpy module)
    blender -b --factory-startup --python fbx_blender.py -- MOTION.npz OUT.fbx
"""

import sys

import bpy
import numpy as np
from mathutils import Matrix


def build_armature(name: str, names: list[str], parents: np.ndarray, rest_matrices: np.ndarray, lengths: np.ndarray) -> bpy.types.Object:
    """An armature object whose bones have exactly the given rest matrices (armature space)."""
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    bones = []
    for bone_name, parent, matrix, length in zip(names, parents, rest_matrices, lengths):
        bone = data.edit_bones.new(bone_name)
        # EditBone.matrix keeps the bone's length, so give it its length first (a new bone has none).
        bone.tail = (0.0, float(length), 0.0)
        bone.matrix = Matrix(matrix.tolist())  # a nested list would be read as columns
        if parent >= 0:
            bone.parent = bones[parent]
        bones.append(bone)
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj


def _new_fcurve(action: bpy.types.Action, obj: bpy.types.Object, data_path: str, index: int, group: str):
    if hasattr(action, "fcurve_ensure_for_datablock"):  # Blender 4.4+; 5.0 removed Action.fcurves
        return action.fcurve_ensure_for_datablock(obj, data_path, index=index, group_name=group)
    return action.fcurves.new(data_path, index=index, action_group=group)


def key_motion(obj: bpy.types.Object, names: list[str], quaternions: np.ndarray, root_location: np.ndarray) -> None:
    """One LINEAR key per frame from frame 1: every bone's rotation, and the root's location."""
    frames = np.arange(1, len(quaternions) + 1, dtype=np.float64)
    action = bpy.data.actions.new(obj.name)
    obj.animation_data_create().action = action  # fcurve_ensure_for_datablock needs it assigned
    channels = []
    for j, name in enumerate(names):
        bone = obj.pose.bones[name]
        bone.rotation_mode = "QUATERNION"
        path = bone.path_from_id("rotation_quaternion")
        channels += [(path, i, name, quaternions[:, j, i]) for i in range(4)]
    root = obj.pose.bones[names[0]]
    channels += [(root.path_from_id("location"), i, names[0], root_location[:, i]) for i in range(3)]

    linear = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items["LINEAR"].value
    for path, index, group, values in channels:
        points = _new_fcurve(action, obj, path, index, group).keyframe_points
        points.add(len(frames))
        points.foreach_set("co", np.column_stack([frames, values]).ravel())
        points.foreach_set("interpolation", np.full(len(frames), linear, dtype=np.int32))


def main(motion_path: str, fbx_path: str) -> None:
    data = np.load(motion_path)
    names = [str(n) for n in data["names"]]
    quaternions = data["quaternions"]

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    fps = float(data["fps"])
    # Blender's rate is an integer over fps_base: 29.97 becomes 30 / 1.001.
    scene.render.fps = max(1, round(fps))
    scene.render.fps_base = scene.render.fps / fps
    scene.frame_start = 1
    scene.frame_end = len(quaternions)

    obj = build_armature(str(data["armature"]), names, data["parents"], data["rest_matrices"], data["lengths"])
    key_motion(obj, names, quaternions, data["root_location"])

    result = bpy.ops.export_scene.fbx(
        filepath=fbx_path,
        object_types={"ARMATURE"},
        add_leaf_bones=False,
        axis_forward="-Z",
        axis_up="Y",
        bake_anim=True,
        bake_anim_use_all_bones=True,
        bake_anim_use_nla_strips=False,
        bake_anim_use_all_actions=False,
        bake_anim_force_startend_keying=True,
        bake_anim_step=1.0,
        bake_anim_simplify_factor=0.0,
    )
    if result != {"FINISHED"}:
        raise RuntimeError(f"Blender's FBX exporter returned {result}")


if __name__ == "__main__":
    args = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else sys.argv[1:]
    if len(args) != 2:
        sys.exit(f"usage: {sys.argv[0]} MOTION.npz OUT.fbx")
    main(*args)
