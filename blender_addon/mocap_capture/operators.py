"""Operators (capture, cancel, connection test, local engine) and the timer that keys what streams in.

``tick()`` is the ``bpy.app.timers`` function: it drains the engine's messages for the running
captures without blocking (at most ``TICK_BUDGET_S`` reading, ``MAX_FRAMES_PER_TICK`` keyed)
and keys the frames that arrived. It is a plain function so tests call it directly (timers do
not run in background mode). Keys already received stay when the engine goes away.
"""

from __future__ import annotations

import atexit
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import bpy
import numpy as np
from bpy.props import BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty, PointerProperty, StringProperty

from . import bone_maps
from .keys import SMPL24, append_keys, create_smpl_armature, fcurve
from .link.client import Client
from .link.session import CaptureSession
from .preferences import preferences
from .retarget import Retarget, continuous

TICK_S = 0.05
TICK_BUDGET_S = 0.01
MAX_FRAMES_PER_TICK = 40


class BoneMapItem(bpy.types.PropertyGroup):
    joint: StringProperty(name="SMPL joint")
    bone: StringProperty(name="Bone")


class MocapSettings(bpy.types.PropertyGroup):
    video: StringProperty(name="Video", subtype="FILE_PATH", description="The clip to capture (a path the engine can read)")
    target: PointerProperty(name="Armature", type=bpy.types.Object, poll=lambda self, obj: obj.type == "ARMATURE",
                            description="The rig to key; empty: create an SMPL armature")  # fmt: skip
    start_frame: IntProperty(name="Start frame", default=1)
    foot_lock: FloatProperty(name="Foot lock", default=1.0, min=0.0, max=1.0, description="0 switches foot locking off")
    smooth: FloatProperty(name="Smoothing", default=1.5, min=0.0, max=50.0, description="Root trajectory smoothing (frames)")
    bone_map: CollectionProperty(type=BoneMapItem)
    bone_map_index: IntProperty()
    preset: StringProperty(name="Bone map", default="", description="The preset the bone map came from")
    fps_mode: EnumProperty(name="Frame rate", items=[
        ("SCENE", "Match scene", "Key at the scene's frame rate (keys fall between frames when the rates differ)"),
        ("SOURCE", "Keep source", "Set the scene's frame rate to the clip's")], default="SCENE")  # fmt: skip
    root_motion: EnumProperty(name="Root motion", items=[
        ("FULL", "Full", "The root moves as the person did"),
        ("IN_PLACE", "In place", "No travel across the floor; the root still rises and falls"),
        ("HORIZONTAL", "Horizontal only", "Travel across the floor; no rising and falling")], default="FULL")  # fmt: skip
    push_to_nla: BoolProperty(name="Push to NLA", default=False, description="Push the finished action onto an NLA track")
    stage: StringProperty(default="")
    progress: FloatProperty(default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    message: StringProperty(default="")
    running: BoolProperty(default=False)


@dataclass
class Capture:
    """A capture being keyed: its session, the rig and action, and where keying has got to."""

    session: CaptureSession
    scene: str
    target: str | None
    clip: str
    action: str | None = None
    keyed: int = 0
    last: np.ndarray | None = None  # the last keyed quaternions, for sign continuity
    waiting: list[dict] = field(default_factory=list)
    curves: dict[str, list] = field(default_factory=dict)  # data path -> its F-curves, found once
    bone_map: dict[str, str] = field(default_factory=dict)  # SMPL joint -> bone; empty: detect
    retarget: Retarget | None = None
    bones: list[str] = field(default_factory=list)


CAPTURES: dict[str, Capture] = {}
_ENGINE: list[subprocess.Popen] = []


def _rig(capture: Capture) -> bpy.types.Object:
    obj = bpy.data.objects.get(capture.target) if capture.target else None
    if obj is None:
        obj = create_smpl_armature(f"SMPL {capture.clip}", capture.session.rest_joints)
        capture.target = obj.name
    if capture.action is None:
        action = bpy.data.actions.new(capture.clip)
        obj.animation_data_create()
        obj.animation_data.action = action
        capture.action = action.name
        for bone in obj.pose.bones:
            bone.rotation_mode = "QUATERNION"
    return obj


def _curves(capture: Capture, obj: bpy.types.Object, path: str, channels: int, group: str) -> list:
    if path not in capture.curves:
        action = bpy.data.actions[capture.action]
        capture.curves[path] = [fcurve(action, obj, path, i, group) for i in range(channels)]
    return capture.curves[path]


def _prepare(capture: Capture, obj: bpy.types.Object) -> None:
    """The rig's bone map (given, else detected) and its retargeting, worked out once."""
    bones = sorted(obj.data.bones, key=lambda bone: len(bone.parent_recursive))  # parents first
    names = [bone.name for bone in bones]
    if not capture.bone_map:
        _, capture.bone_map = bone_maps.detect(names)
    follows = {bone: SMPL24.index(joint) for joint, bone in capture.bone_map.items() if bone in names}
    if 0 not in follows.values():
        raise ValueError(f"the bone map names no bone for the SMPL pelvis on {obj.name}")
    capture.bones = names
    capture.retarget = Retarget.build(
        [follows.get(n, -1) for n in names], [names.index(b.parent.name) if b.parent else -1 for b in bones],
        np.array([np.array(b.matrix_local)[:3, :3] for b in bones]), np.array([np.array(b.head_local) for b in bones]),
        capture.session.rest_joints,
    )  # fmt: skip


def _key(capture: Capture, frames: dict[str, np.ndarray], settings: MocapSettings) -> None:
    obj = _rig(capture)
    if capture.retarget is None:
        _prepare(capture, obj)
    trans = frames["trans"].astype(np.float64)
    if settings.root_motion == "IN_PLACE":
        trans[:, [0, 2]] = 0.0  # SMPL's floor plane is x, z
    elif settings.root_motion == "HORIZONTAL":
        trans[:, 1] = 0.0
    quats, locations = capture.retarget.pose(frames["poses"], trans, capture.session.rest_joints)
    quats = continuous(quats, capture.last)
    capture.last = quats[-1]
    scene = bpy.data.scenes[capture.scene]
    if settings.fps_mode == "SOURCE" and capture.keyed == 0:
        scene.render.fps, scene.render.fps_base = max(round(capture.session.fps), 1), max(round(capture.session.fps), 1) / capture.session.fps
    step = scene.render.fps / scene.render.fps_base / capture.session.fps  # scene frames per clip frame
    numbers = settings.start_frame + (capture.keyed + np.arange(len(quats), dtype=np.float64)) * step
    moving = [b for b, j in enumerate(capture.retarget.smpl) if j >= 0]
    for b in moving:
        name = capture.bones[b]
        for i, curve in enumerate(_curves(capture, obj, f'pose.bones["{name}"].rotation_quaternion', 4, name)):
            append_keys(curve, numbers, quats[:, b, i])
    root = capture.bones[capture.retarget.root]
    for i, curve in enumerate(_curves(capture, obj, f'pose.bones["{root}"].location', 3, root)):
        append_keys(curve, numbers, locations[:, i])
    capture.keyed += len(quats)


def tick() -> float | None:
    """Drain and key every running capture (module docstring); the timer's next interval, or None."""
    for key, capture in list(CAPTURES.items()):
        scene = bpy.data.scenes.get(capture.scene)
        if scene is None:
            capture.session.stop("its scene was deleted")
            del CAPTURES[key]
            continue
        settings = scene.mocap
        arrived = capture.session.tick(TICK_BUDGET_S)
        if arrived is not None:
            capture.waiting.append(arrived)
        if capture.waiting and capture.session.rest_joints is not None and capture.action is None:
            _rig(capture)  # a tick of its own: making an armature switches modes
        elif capture.waiting and capture.session.rest_joints is not None:
            block = {k: np.concatenate([w[k] for w in capture.waiting]) for k in ("poses", "trans", "contacts")}
            now, later = ({k: v[:MAX_FRAMES_PER_TICK] for k, v in block.items()}, {k: v[MAX_FRAMES_PER_TICK:] for k, v in block.items()})
            try:
                _key(capture, now, settings)
            except Exception as e:  # e.g. a bone map without a pelvis: stop this capture, say why
                capture.session.stop(f"could not key {capture.target}: {e}")
                later = {k: v[:0] for k, v in later.items()}
            capture.waiting = [later] if len(later["poses"]) else []
        session = capture.session
        settings.stage = session.stage
        settings.progress = min(session.done / session.total, 1.0) if session.total else 0.0
        if session.finished and not capture.waiting:
            settings.running = False
            settings.message = session.error or f"captured {capture.keyed} frames onto {capture.target}"
            if session.error and capture.keyed:
                settings.message += f" (the {capture.keyed} frames received are keyed)"
            if capture.action and capture.target:
                scene.frame_start = settings.start_frame
                scene.frame_end = int(np.ceil(settings.start_frame + (capture.keyed - 1) * scene.render.fps / scene.render.fps_base / (session.fps or 1)))
            if settings.push_to_nla and capture.action and capture.target:
                obj = bpy.data.objects[capture.target]
                track = obj.animation_data.nla_tracks.new()
                track.strips.new(capture.action, settings.start_frame, bpy.data.actions[capture.action])
                obj.animation_data.action = None
            del CAPTURES[key]
    return TICK_S if CAPTURES else None


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
        try:
            session = CaptureSession.start(prefs.engine_address, str(video), {"foot_lock": settings.foot_lock, "smooth": settings.smooth}, key or None)
        except Exception as e:  # the engine's refusal or an unreachable address, said plainly
            settings.message = f"could not start the capture at {prefs.engine_address}: {e}"
            self.report({"ERROR"}, settings.message)
            return {"CANCELLED"}
        bone_map = {item.joint: item.bone for item in settings.bone_map if item.bone}
        CAPTURES[context.scene.name] = Capture(session, context.scene.name, settings.target.name if settings.target else None,
                                               video.stem, bone_map=bone_map)  # fmt: skip
        settings.running, settings.message, settings.stage, settings.progress = True, "", "queued", 0.0
        if not bpy.app.timers.is_registered(tick):
            bpy.app.timers.register(tick, first_interval=TICK_S)
        return {"FINISHED"}


class MOCAP_OT_cancel(bpy.types.Operator):
    bl_idname = "mocap.cancel"
    bl_label = "Cancel"
    bl_description = "Stop the running capture (keys already received stay)"

    def execute(self, context: bpy.types.Context) -> set[str]:
        capture = CAPTURES.get(context.scene.name)
        if capture is not None:
            capture.session.cancel()
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
        if _ENGINE and _ENGINE[0].poll() is None:
            self.report({"INFO"}, "the local engine is running")
            return {"FINISHED"}
        program = bpy.path.abspath(prefs.engine_command)
        if not program or not Path(program).is_file():
            self.report({"ERROR"}, f"no engine executable or Python at {program!r}: set it in the add-on's preferences")
            return {"CANCELLED"}
        command = engine_command(program, prefs.engine_address)
        try:
            _ENGINE[:] = [subprocess.Popen(command)]
        except OSError as e:
            self.report({"ERROR"}, f"could not start {program}: {e}")
            return {"CANCELLED"}
        prefs.engine_status = f"started {' '.join(command)}"
        return {"FINISHED"}


def engine_command(program: str, address: str) -> list[str]:
    """The command that serves at ``address`` from ``program``: the ``engine`` executable, or the
    Python of the environment mocap-engine is installed in."""
    engine = [program, "-m", "engine"] if Path(program).name.lower().startswith("python") else [program]
    return [*engine, "serve", "--bind", address]


def stop_engine() -> None:
    """Stop the engine this Blender started, if any (it has a few seconds to end its captures)."""
    for process in _ENGINE:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
    _ENGINE.clear()


atexit.register(stop_engine)  # a local engine ends with Blender


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
            return bpy.ops.export_scene.fbx(filepath=path, use_selection=True, object_types={"ARMATURE"}, add_leaf_bones=False,
                                            bake_anim=True, bake_anim_use_all_actions=False, bake_anim_use_nla_strips=False,
                                            bake_anim_simplify_factor=0.0)  # fmt: skip
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
    for joint in SMPL24:
        item = settings.bone_map.add()
        item.joint, item.bone = joint, bone_map.get(joint, "")


CLASSES = (BoneMapItem, MocapSettings, MOCAP_OT_capture, MOCAP_OT_export, MOCAP_OT_detect_bone_map, MOCAP_OT_save_bone_map, MOCAP_OT_load_bone_map, MOCAP_OT_cancel, MOCAP_OT_test_connection, MOCAP_OT_start_engine)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.mocap = PointerProperty(type=MocapSettings)


def unregister() -> None:
    if bpy.app.timers.is_registered(tick):
        bpy.app.timers.unregister(tick)
    stop_engine()
    del bpy.types.Scene.mocap
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
