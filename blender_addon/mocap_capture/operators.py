"""Operators: capture, cancel, live, connection test, local engine, export, bone maps.

Thin: the capture's keying is ``receiver.py`` (its timer), the live stream's ``live.py`` (its
own), the local engine's process ``local_engine.py``, the settings ``properties.py``.
"""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import EnumProperty, StringProperty

from . import bone_maps, live, local_engine, receiver
from .link.client import Client
from .link.joints import SMPL24
from .link.session import CaptureSession, LiveSession
from .preferences import preferences
from .properties import MocapSettings


class MOCAP_OT_capture(bpy.types.Operator):
    bl_idname = "mocap.capture"
    bl_label = "Capture from video"
    bl_description = "Send the video to the engine and key the motion it streams back onto the rig"

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings, prefs = context.scene.mocap, preferences(context)
        video = Path(bpy.path.abspath(settings.video))
        if not settings.video or not video.is_file():
            self.report({"ERROR"}, f"no such video: {video}")
            return {"CANCELLED"}
        key = prefs.server_key and Path(bpy.path.abspath(prefs.server_key)).read_bytes()
        options = {
            "foot_lock": settings.foot_lock,
            "smooth": settings.smooth,
            "lifter": settings.lifter,
            "keep_empty": settings.keep_empty,
            "origin": settings.origin,
        }
        try:
            session = CaptureSession.start(prefs.engine_address, str(video), options, key or None)
        except Exception as e:  # the engine's refusal or an unreachable address, said plainly
            settings.message = f"could not start the capture at {prefs.engine_address}: {e}"
            self.report({"ERROR"}, settings.message)
            return {"CANCELLED"}
        bone_map = {item.joint: item.bone for item in settings.bone_map if item.bone}
        settings.running, settings.message, settings.stage, settings.progress = True, "", "queued", 0.0
        receiver.follow(
            receiver.Capture(session, context.scene.name, settings.target.name if settings.target else None, video.stem, bone_map=bone_map)
        )
        return {"FINISHED"}


class MOCAP_OT_cancel(bpy.types.Operator):
    bl_idname = "mocap.cancel"
    bl_label = "Cancel"
    bl_description = "Stop the running capture (keys already received stay)"

    def execute(self, context: bpy.types.Context) -> set[str]:
        capture = receiver.CAPTURES.get(context.scene.name)
        if capture is not None:
            capture.session.cancel()
        return {"FINISHED"}


class MOCAP_OT_live(bpy.types.Operator):
    bl_idname = "mocap.live"
    bl_label = "Live"
    bl_description = "Follow `engine live`'s stream on the rig, keying its frames while Record is on; again to stop (the action stays)"

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings, prefs = context.scene.mocap, preferences(context)
        if context.scene.name in live.LIVE:
            live.stop(context.scene.name)
            return {"FINISHED"}
        key = prefs.server_key and Path(bpy.path.abspath(prefs.server_key)).read_bytes()
        try:
            session = LiveSession.start(prefs.live_address, key or None)
        except Exception as e:  # the engine's refusal or an unreachable address, said plainly
            settings.live_message = f"could not follow a live stream at {prefs.live_address}: {e}"
            self.report({"ERROR"}, settings.live_message)
            return {"CANCELLED"}
        bone_map = {item.joint: item.bone for item in settings.bone_map if item.bone}
        settings.live_running, settings.live_message = True, "live: connected"
        live.follow(live.Live(session, context.scene.name, settings.target.name if settings.target else None, bone_map=bone_map))
        return {"FINISHED"}


class MOCAP_OT_test_connection(bpy.types.Operator):
    bl_idname = "mocap.test_connection"
    bl_label = "Test connection"
    bl_description = "Ask the engine at the address for its version"

    def execute(self, context: bpy.types.Context) -> set[str]:
        prefs = preferences(context)
        key = prefs.server_key and Path(bpy.path.abspath(prefs.server_key)).read_bytes()
        client = Client(prefs.engine_address, key or None, name="blender")
        try:
            prefs.engine_status = f"engine {client.hello(timeout_s=2.0).fields['engine']}"
        except Exception as e:
            prefs.engine_status = f"no engine at {prefs.engine_address}: {e}"
            self.report({"WARNING"}, prefs.engine_status)
        finally:
            client.close()
        return {"FINISHED"}


class MOCAP_OT_start_engine(bpy.types.Operator):
    bl_idname = "mocap.start_engine"
    bl_label = "Start local engine"
    bl_description = "Start `engine serve` on this machine (stopped when Blender quits)"

    def execute(self, context: bpy.types.Context) -> set[str]:
        prefs = preferences(context)
        if local_engine.running():
            self.report({"INFO"}, "the local engine is running")
            return {"FINISHED"}
        program = bpy.path.abspath(prefs.engine_command)
        if not program or not Path(program).is_file():
            self.report({"ERROR"}, f"no engine executable or Python at {program!r}: set it in the add-on's preferences")
            return {"CANCELLED"}
        try:
            command = local_engine.start_engine(program, prefs.engine_address)
        except OSError as e:
            self.report({"ERROR"}, f"could not start {program}: {e}")
            return {"CANCELLED"}
        prefs.engine_status = f"started {' '.join(command)}"
        return {"FINISHED"}


class MOCAP_OT_export(bpy.types.Operator):
    bl_idname = "mocap.export"
    bl_label = "Export"
    bl_description = "Export the target rig and its action as FBX or BVH"
    filepath: StringProperty(subtype="FILE_PATH")
    format: EnumProperty(items=[("FBX", "FBX", ""), ("BVH", "BVH", "")], default="FBX")

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        self.filepath = f"{context.scene.mocap.target.name if context.scene.mocap.target else 'motion'}.{self.format.lower()}"
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        rig = context.scene.mocap.target
        if rig is None or rig.animation_data is None or rig.animation_data.action is None:
            self.report({"ERROR"}, "the target armature has no action to export")
            return {"CANCELLED"}
        for obj in context.view_layer.objects:
            obj.select_set(obj == rig)
        context.view_layer.objects.active = rig
        start, end = (int(v) for v in rig.animation_data.action.frame_range)
        path = bpy.path.abspath(self.filepath)
        if self.format == "FBX":  # a baked, unsimplified action, no leaf bones: what game engines and DCCs expect
            return bpy.ops.export_scene.fbx(
                filepath=path,
                use_selection=True,
                object_types={"ARMATURE"},
                add_leaf_bones=False,
                bake_anim=True,
                bake_anim_use_all_actions=False,
                bake_anim_use_nla_strips=False,
                bake_anim_simplify_factor=0.0,
            )
        return bpy.ops.export_anim.bvh(filepath=path, frame_start=start, frame_end=end, root_transform_only=False)


class MOCAP_OT_detect_bone_map(bpy.types.Operator):
    bl_idname = "mocap.detect_bone_map"
    bl_label = "Detect bone map"
    bl_description = "Fill the bone map from the preset (SMPL, Mixamo, Rigify, UE5) that matches the rig's bone names best"

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = context.scene.mocap
        if settings.target is None:
            self.report({"ERROR"}, "pick the target armature first")
            return {"CANCELLED"}
        preset, found = bone_maps.detect([b.name for b in settings.target.data.bones])
        _show(settings, found)
        settings.preset = preset
        self.report({"INFO"}, f"{preset}: {len(found)} of {len(SMPL24)} SMPL joints mapped")
        return {"FINISHED"}


class _PicksAFile:
    """An operator that asks for a file path first."""

    filepath: StringProperty(subtype="FILE_PATH")

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        context.window_manager.fileselect_add(self)
        return {"RUNNING_MODAL"}


class MOCAP_OT_save_bone_map(_PicksAFile, bpy.types.Operator):
    bl_idname = "mocap.save_bone_map"
    bl_label = "Save bone map"

    def execute(self, context: bpy.types.Context) -> set[str]:
        bone_maps.save({i.joint: i.bone for i in context.scene.mocap.bone_map if i.bone}, Path(bpy.path.abspath(self.filepath)))
        return {"FINISHED"}


class MOCAP_OT_load_bone_map(_PicksAFile, bpy.types.Operator):
    bl_idname = "mocap.load_bone_map"
    bl_label = "Load bone map"

    def execute(self, context: bpy.types.Context) -> set[str]:
        try:
            found = bone_maps.load(Path(bpy.path.abspath(self.filepath)))
        except (OSError, ValueError) as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        _show(context.scene.mocap, found)
        context.scene.mocap.preset = "custom"
        return {"FINISHED"}


def _show(settings: MocapSettings, bone_map: dict[str, str]) -> None:
    settings.bone_map.clear()
    for joint in SMPL24.names:
        item = settings.bone_map.add()
        item.joint, item.bone = joint, bone_map.get(joint, "")


CLASSES = (
    MOCAP_OT_capture,
    MOCAP_OT_export,
    MOCAP_OT_detect_bone_map,
    MOCAP_OT_save_bone_map,
    MOCAP_OT_load_bone_map,
    MOCAP_OT_cancel,
    MOCAP_OT_live,
    MOCAP_OT_test_connection,
    MOCAP_OT_start_engine,
)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
