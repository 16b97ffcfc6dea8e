"""The Live toggle's timer: an ``engine live`` stream's frames onto the rig as they come, one
:class:`Live` per scene.

``tick()`` is the ``bpy.app.timers`` function: it reads what arrived without blocking (at most
``TICK_BUDGET_S``) and puts the newest frame on the rig at once, through the same bone maps and
retargeting as a capture (``receiver.retarget_rig``). With **Record** on, every frame is also
keyed: the first at the scene's current frame, each later one as many scene frames on as the
source frames that passed (a frame the engine dropped leaves a gap the keys' interpolation
fills, so the keys play back in real time), and the scene's current frame follows the last key.
With Record off the rig only follows the stream; switching it on again starts keying at the
scene's current frame (or just after the stream's last key, if that is later: the pause is cut
out, and no key lands on an earlier one). Stopping (the toggle again, or the engine ending its stream) leaves the
action on the rig. It is a plain function so tests call it directly (timers do not run in
background mode).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import bpy
import numpy as np

from .keys import append_keys, create_smpl_armature, fcurve
from .link.geometry import continuous_quaternions
from .link.session import LiveSession
from .receiver import TICK_BUDGET_S, TICK_S, retarget_rig, root_motion, start_action
from .retarget import Retarget


@dataclass
class Live:
    """A live stream being put on a rig: its session, the rig, the action, where keying is."""

    session: LiveSession
    scene: str
    target: str | None
    bone_map: dict[str, str] = field(default_factory=dict)  # SMPL joint -> bone; empty: detect
    action: str | None = None
    retarget: Retarget | None = None
    bones: list[str] = field(default_factory=list)
    curves: dict[str, list] = field(default_factory=dict)  # data path -> its F-curves, found once
    last: np.ndarray | None = None  # the last quaternions, for sign continuity
    anchor: tuple[float, int] | None = None  # (scene frame, source frame) keying started at; None: not keying
    last_key: float | None = None  # the scene frame of the last key made
    keyed: int = 0
    shown: int = 0


LIVE: dict[str, Live] = {}


def follow(live: Live) -> None:
    """Put ``live``'s frames on its rig as they come (the scene's stream), starting the timer."""
    LIVE[live.scene] = live
    if not bpy.app.timers.is_registered(tick):
        bpy.app.timers.register(tick, first_interval=TICK_S)


def stop(scene: str, reason: str = "stopped") -> None:
    """Stop the scene's stream (the engine goes on streaming to others); the action stays."""
    live = LIVE.get(scene)
    if live is not None:
        live.session.stop(reason)
        tick()


def _rig(live: Live) -> bpy.types.Object:
    """The rig (an SMPL armature at the stream's skeleton when none was chosen), its retargeting worked out once."""
    obj = bpy.data.objects.get(live.target) if live.target else None
    if obj is None:
        obj = create_smpl_armature(f"SMPL live {live.session.source}", live.session.rest_joints)
        live.target = obj.name
    if live.retarget is None:
        live.bones, live.bone_map, live.retarget = retarget_rig(obj, live.bone_map, live.session.rest_joints)
        for bone in obj.pose.bones:
            bone.rotation_mode = "QUATERNION"
    return obj


def _key(live: Live, obj: bpy.types.Object, scene: bpy.types.Scene, index: np.ndarray, quats: np.ndarray, locations: np.ndarray) -> None:
    if live.action is None:
        live.action = start_action(obj, f"live {live.session.source}").name
    if live.anchor is None:  # keys never go onto or before the stream's earlier keys: a pause is cut out
        start = scene.frame_current if live.last_key is None else max(scene.frame_current, np.floor(live.last_key) + 1)
        live.anchor = (float(start), int(index[0]))
    step = scene.render.fps / scene.render.fps_base / live.session.fps  # scene frames per source frame
    numbers = live.anchor[0] + (index - live.anchor[1]) * step
    action = bpy.data.actions[live.action]
    channels = [(f'pose.bones["{live.bones[b]}"].rotation_quaternion', quats[:, b], live.bones[b]) for b in _moving(live)]
    root = live.bones[live.retarget.root]
    for path, values, group in [*channels, (f'pose.bones["{root}"].location', locations, root)]:
        if path not in live.curves:
            live.curves[path] = [fcurve(action, obj, path, i, group) for i in range(values.shape[1])]
        for i, curve in enumerate(live.curves[path]):
            append_keys(curve, numbers, values[:, i])
    live.keyed += len(index)
    live.last_key = float(numbers[-1])
    scene.frame_current = int(round(numbers[-1]))


def _moving(live: Live) -> list[int]:
    return [b for b, j in enumerate(live.retarget.smpl) if j >= 0]


def _show(live: Live, obj: bpy.types.Object, quats: np.ndarray, location: np.ndarray) -> None:
    """Pose the rig like one frame, keying nothing."""
    for b in _moving(live):
        obj.pose.bones[live.bones[b]].rotation_quaternion = quats[b]
    obj.pose.bones[live.bones[live.retarget.root]].location = location


def _take(live: Live, frames: list, scene: bpy.types.Scene) -> None:
    settings = scene.mocap
    obj = _rig(live)
    poses = np.concatenate([f.arrays["poses"] for f in frames])
    trans = root_motion(np.concatenate([f.arrays["trans"] for f in frames]), settings.root_motion)
    quats, locations = live.retarget.pose(poses, trans, live.session.rest_joints)
    quats = continuous_quaternions(quats, live.last)
    live.last = quats[-1]
    if settings.live_record:
        _key(live, obj, scene, np.array([f.fields["index"] for f in frames]), quats, locations)
    else:
        live.anchor = None  # keying starts again at the scene's current frame
    _show(live, obj, quats[-1], locations[-1])
    live.shown += len(frames)


def _finish(live: Live, scene: bpy.types.Scene) -> None:
    settings, session = scene.mocap, live.session
    settings.live_running = False
    why = session.error or session.reason or "stopped"
    rig = f" onto {live.target}" if live.target else ""
    settings.live_message = f"live ended ({why}): {live.keyed} frames keyed{rig}" + (f" (action {live.action})" if live.action else "")
    if live.keyed and scene.frame_end < scene.frame_current:
        scene.frame_end = scene.frame_current  # the keys all within the scene's range


def tick() -> float | None:
    """Read and show (and with Record, key) every live stream's new frames (module docstring);
    the timer's next interval, or None."""
    for key, live in list(LIVE.items()):
        scene = bpy.data.scenes.get(live.scene)
        if scene is None:
            live.session.stop("its scene was deleted")
            del LIVE[key]
            continue
        frames = live.session.tick(TICK_BUDGET_S)
        if frames and live.session.rest_joints is not None:
            if scene.mocap.fps_mode == "SOURCE" and live.shown == 0:
                fps = live.session.fps
                scene.render.fps, scene.render.fps_base = max(round(fps), 1), max(round(fps), 1) / fps
            try:
                _take(live, frames, scene)
            except Exception as e:  # e.g. a bone map without a pelvis: stop this stream, say why
                live.session.stop(f"could not put the stream on {live.target}: {e}")
                live.session.error = live.session.reason
        elif live.shown == 0 and not live.session.finished:
            scene.mocap.live_message = "live: connected, waiting for the engine's first frame (it calibrates on the person first)"
        if live.session.finished:
            _finish(live, scene)
            del LIVE[key]
        elif live.shown:
            scene.mocap.live_message = f"live: {live.shown} frames shown, {live.keyed} keyed"
    return TICK_S if LIVE else None


def register() -> None:
    pass


def unregister() -> None:
    for live in list(LIVE.values()):
        live.session.stop("the add-on was disabled")
    LIVE.clear()
    if bpy.app.timers.is_registered(tick):
        bpy.app.timers.unregister(tick)
