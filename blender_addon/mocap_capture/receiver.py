"""The timer that keys what the engine streams in, one :class:`Capture` per scene.

``tick()`` is the ``bpy.app.timers`` function: it drains the engine's messages for the running
captures without blocking (at most ``TICK_BUDGET_S`` reading, ``MAX_FRAMES_PER_TICK`` keyed)
and keys the frames that arrived. It is a plain function so tests call it directly (timers do
not run in background mode). Keys already received stay when the engine goes away.

The frames streamed are provisional (the floor and bone lengths of the clip's first seconds);
when the job is done, the engine's final motion (the one ``engine mocap`` writes, fitted on the
whole clip) replaces their keys in one pass, in one tick: no frame shows a mix of the two.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import bpy
import numpy as np

from . import bone_maps
from .keys import append_keys, create_smpl_armature, fcurve
from .link.geometry import continuous_quaternions
from .link.joints import SMPL24
from .link.session import CaptureSession
from .properties import MocapSettings
from .retarget import Retarget

TICK_S = 0.05
TICK_BUDGET_S = 0.01
MAX_FRAMES_PER_TICK = 40


@dataclass
class Capture:
    """A capture being keyed: its session, the rig and action, and where keying has got to."""

    session: CaptureSession
    scene: str
    target: str | None
    clip: str
    action: str | None = None
    made: bool = False  # this capture made the armature, at the rest skeleton keyed
    final: bool = False  # the keys are the final motion's (else the streamed frames')
    keyed: int = 0
    last: np.ndarray | None = None  # the last keyed quaternions, for sign continuity
    waiting: list[dict] = field(default_factory=list)
    curves: dict[str, list] = field(default_factory=dict)  # data path -> its F-curves, found once
    bone_map: dict[str, str] = field(default_factory=dict)  # SMPL joint -> bone; empty: detect
    retarget: Retarget | None = None
    bones: list[str] = field(default_factory=list)

    @property
    def rest(self) -> np.ndarray | None:
        """The SMPL rest skeleton of the motion keyed: the streamed frames', then the final motion's."""
        return self.session.final_rest_joints if self.final else self.session.rest_joints


CAPTURES: dict[str, Capture] = {}


def follow(capture: Capture) -> None:
    """Key ``capture`` as its frames come (the scene's running capture), starting the timer."""
    CAPTURES[capture.scene] = capture
    if not bpy.app.timers.is_registered(tick):
        bpy.app.timers.register(tick, first_interval=TICK_S)


def _rig(capture: Capture) -> bpy.types.Object:
    obj = bpy.data.objects.get(capture.target) if capture.target else None
    if obj is None:
        obj = create_smpl_armature(f"SMPL {capture.clip}", capture.rest)
        capture.target, capture.made = obj.name, True
    if capture.action is None:
        capture.action = start_action(obj, capture.clip).name
    return obj


def start_action(obj: bpy.types.Object, name: str) -> bpy.types.Action:
    """A new action called ``name`` on ``obj``, its pose bones turned by quaternions (as keyed)."""
    action = bpy.data.actions.new(name)
    obj.animation_data_create()
    obj.animation_data.action = action
    for bone in obj.pose.bones:
        bone.rotation_mode = "QUATERNION"
    return action


def _curves(capture: Capture, obj: bpy.types.Object, path: str, channels: int, group: str) -> list:
    if path not in capture.curves:
        action = bpy.data.actions[capture.action]
        capture.curves[path] = [fcurve(action, obj, path, i, group) for i in range(channels)]
    return capture.curves[path]


def _prepare(capture: Capture, obj: bpy.types.Object) -> None:
    """The rig's bone map (given, else detected) and its retargeting, worked out once."""
    capture.bones, capture.bone_map, capture.retarget = retarget_rig(obj, capture.bone_map, capture.rest)


def retarget_rig(obj: bpy.types.Object, bone_map: dict[str, str], rest: np.ndarray) -> tuple[list[str], dict[str, str], Retarget]:
    """The rig's bone names (parents first), its bone map (``bone_map``, else detected from the
    names) and how motion on the SMPL skeleton ``rest`` (24, 3) lands on it; ValueError when no
    bone follows the pelvis."""
    bones = sorted(obj.data.bones, key=lambda bone: len(bone.parent_recursive))  # parents first
    names = [bone.name for bone in bones]
    if not bone_map:
        _, bone_map = bone_maps.detect(names)
    follows = {bone: SMPL24.index(joint) for joint, bone in bone_map.items() if bone in names}
    if 0 not in follows.values():
        raise ValueError(f"the bone map names no bone for the SMPL pelvis on {obj.name}")
    retarget = Retarget.build(
        [follows.get(n, -1) for n in names],
        [names.index(b.parent.name) if b.parent else -1 for b in bones],
        np.array([np.array(b.matrix_local)[:3, :3] for b in bones]),
        np.array([np.array(b.head_local) for b in bones]),
        rest,
    )
    return names, bone_map, retarget


def root_motion(trans: np.ndarray, mode: str) -> np.ndarray:
    """SMPL root translations (T, 3) as the ``root_motion`` setting wants them (a new array)."""
    trans = trans.astype(np.float64)
    if mode == "IN_PLACE":
        trans[:, [0, 2]] = 0.0  # SMPL's floor plane is x, z
    elif mode == "HORIZONTAL":
        trans[:, 1] = 0.0
    return trans


def _key(capture: Capture, frames: dict[str, np.ndarray], settings: MocapSettings) -> None:
    obj = _rig(capture)
    if capture.retarget is None:
        _prepare(capture, obj)
    quats, locations = capture.retarget.pose(frames["poses"], root_motion(frames["trans"], settings.root_motion), capture.rest)
    quats = continuous_quaternions(quats, capture.last)
    capture.last = quats[-1]
    scene = bpy.data.scenes[capture.scene]
    if settings.fps_mode == "SOURCE" and capture.keyed == 0:
        scene.render.fps, scene.render.fps_base = (
            max(round(capture.session.fps), 1),
            max(round(capture.session.fps), 1) / capture.session.fps,
        )
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


def _key_final(capture: Capture, settings: MocapSettings) -> None:
    """Replace the streamed frames' keys with the final motion's, all at once. The action is made
    anew, so no provisional key stays whatever the lengths; so is an armature this capture made,
    since the final rest skeleton can differ from the streamed one (a user's rig stays, and its
    retargeting is worked out again for the final skeleton)."""
    final = capture.session.final.motion()  # first: a final series with frames missing changes nothing
    action = bpy.data.actions.get(capture.action or "")
    if action is not None:
        bpy.data.actions.remove(action)
    rig = bpy.data.objects.get(capture.target or "")
    if capture.made and rig is not None:
        armature = rig.data
        bpy.data.objects.remove(rig)
        bpy.data.armatures.remove(armature)
        capture.target = None
    capture.final, capture.waiting = True, []
    capture.action, capture.curves, capture.retarget, capture.keyed, capture.last = None, {}, None, 0, None
    if len(final["poses"]):
        _key(capture, final, settings)


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
        if capture.session.finished and capture.session.error is None and not capture.final:  # done
            try:
                _key_final(capture, settings)
            except Exception as e:  # e.g. final frames missing (the streamed frames' keys then stay): say why
                capture.session.stop(f"could not key the final motion onto {capture.target}: {e}")
                capture.waiting = []
        elif capture.waiting and capture.rest is not None and capture.action is None:
            _rig(capture)  # a tick of its own: making an armature switches modes
        elif capture.waiting and capture.rest is not None:
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
                scene.frame_end = int(
                    np.ceil(settings.start_frame + (capture.keyed - 1) * scene.render.fps / scene.render.fps_base / (session.fps or 1))
                )
            if settings.push_to_nla and capture.action and capture.target:
                obj = bpy.data.objects[capture.target]
                track = obj.animation_data.nla_tracks.new()
                track.strips.new(capture.action, settings.start_frame, bpy.data.actions[capture.action])
                obj.animation_data.action = None
            del CAPTURES[key]
    return TICK_S if CAPTURES else None


def register() -> None:
    pass


def unregister() -> None:
    if bpy.app.timers.is_registered(tick):
        bpy.app.timers.unregister(tick)
