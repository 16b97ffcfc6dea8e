"""The scene's capture settings (``Scene.mocap``) and the bone map's items."""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

from .link.lifters import DEFAULT_LIFTER, LIFTERS, capture_lifters

# The lifters a capture may name (the engine's registry, copied into link/): (name, name, summary).
# Built here, not inside the annotation below: Blender evaluates annotations without the
# scopes a comprehension there would need.
LIFTER_ITEMS = [(name, name, LIFTERS[name].summary) for name in capture_lifters()]


class BoneMapItem(bpy.types.PropertyGroup):
    joint: StringProperty(name="SMPL joint")
    bone: StringProperty(name="Bone")


class MocapSettings(bpy.types.PropertyGroup):
    video: StringProperty(name="Video", subtype="FILE_PATH", description="The clip to capture (a path the engine can read)")
    target: PointerProperty(
        name="Armature",
        type=bpy.types.Object,
        poll=lambda self, obj: obj.type == "ARMATURE",
        description="The rig to key; empty: create an SMPL armature",
    )
    lifter: EnumProperty(
        name="Lifter",
        items=LIFTER_ITEMS,
        default=DEFAULT_LIFTER,
        description="The model that lifts the 2D keypoints into 3D (an engine given its own weights file uses that)",
    )
    start_frame: IntProperty(name="Start frame", default=1)
    foot_lock: FloatProperty(name="Foot lock", default=1.0, min=0.0, max=1.0, description="0 switches foot locking off")
    smooth: FloatProperty(name="Smoothing", default=1.5, min=0.0, max=50.0, description="Root trajectory smoothing (frames)")
    keep_empty: BoolProperty(
        name="Keep empty frames",
        default=False,
        description="Also key the frames before the person appears and after they leave (they hold the nearest pose seen)",
    )
    # Identifiers are the engine's Settings.origin values, sent as they are.
    origin: EnumProperty(
        name="Origin",
        items=[
            ("first-frame", "First frame", "The root starts at the world origin, facing Blender's front view (-y), on the floor"),
            ("camera", "Camera", "The world as the camera saw it: the origin on the floor below the camera"),
        ],
        default="first-frame",
    )
    bone_map: CollectionProperty(type=BoneMapItem)
    bone_map_index: IntProperty()
    preset: StringProperty(name="Bone map", default="", description="The preset the bone map came from")
    fps_mode: EnumProperty(
        name="Frame rate",
        items=[
            ("SCENE", "Match scene", "Key at the scene's frame rate (keys fall between frames when the rates differ)"),
            ("SOURCE", "Keep source", "Set the scene's frame rate to the clip's"),
        ],
        default="SCENE",
    )
    root_motion: EnumProperty(
        name="Root motion",
        items=[
            ("FULL", "Full", "The root moves as the person did"),
            ("IN_PLACE", "In place", "No travel across the floor; the root still rises and falls"),
            ("HORIZONTAL", "Horizontal only", "Travel across the floor; no rising and falling"),
        ],
        default="FULL",
    )
    push_to_nla: BoolProperty(name="Push to NLA", default=False, description="Push the finished action onto an NLA track")
    live_record: BoolProperty(
        name="Record",
        default=True,
        description="Key the live frames, from the scene's current frame on (off: the rig only follows the stream)",
    )
    live_running: BoolProperty(default=False)
    live_message: StringProperty(default="")
    stage: StringProperty(default="")
    progress: FloatProperty(default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    message: StringProperty(default="")
    running: BoolProperty(default=False)


CLASSES = (BoneMapItem, MocapSettings)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.mocap = PointerProperty(type=MocapSettings)


def unregister() -> None:
    del bpy.types.Scene.mocap
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
