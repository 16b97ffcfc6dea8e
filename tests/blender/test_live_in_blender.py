"""The Live toggle inside Blender (the bpy module, in its own environment) against a real
`engine live` fed by a short file played as a camera: frames keyed onto the rig at the scene's
current frame while Record is on, only shown while it is off, an action left on the rig when
Live stops or the stream ends.

tests/test_addon.py runs this module once per Blender version, passing in the environment
``MOCAP_ADDON_ZIP`` and ``MOCAP_ENGINE`` (as for test_in_blender.py), ``MOCAP_LIVE_CLIP`` (a
few seconds of video of a person) and ``MOCAP_LIVE_WEIGHTS`` (a single-frame lifter's weights
with their model card).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import bpy
import numpy as np
import pytest
from real_engine import free_address

PACKAGE = "bl_ext.user_default.mocap_capture"
SMPL_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


@pytest.fixture(scope="module")
def addon():
    """The built zip installed into bpy and enabled; yields the add-on's live module."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    zip_path = os.environ["MOCAP_ADDON_ZIP"]
    assert bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True) == {"FINISHED"}
    yield sys.modules[f"{PACKAGE}.live"]
    repo = next(i for i, r in enumerate(bpy.context.preferences.extensions.repos) if r.module == "user_default")
    bpy.ops.extensions.package_uninstall(repo_index=repo, pkg_id="mocap_capture")


@pytest.fixture(scope="module")
def live_engine(addon):
    """`engine live` playing the clip as a camera once the first client subscribes; its address."""
    address = free_address()
    command = [os.environ["MOCAP_ENGINE"], "live", "--source", os.environ["MOCAP_LIVE_CLIP"], "--realtime", "--wait"]
    command += ["--lifter-weights", os.environ["MOCAP_LIVE_WEIGHTS"], "--bind", address]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client_module = sys.modules[f"{PACKAGE}.link.client"]
    deadline = time.monotonic() + 60
    while True:  # until it answers (loading torch and the detector takes seconds)
        client = client_module.Client(address)
        try:
            if client.hello(timeout_s=1.0).fields["capabilities"].get("live"):
                break
        except TimeoutError:
            assert process.poll() is None and time.monotonic() < deadline, "engine live did not answer within 60 s"
        finally:
            client.close()
    bpy.context.preferences.addons[PACKAGE].preferences.live_address = address
    yield address
    process.kill()
    process.wait()


def _tick_until(live, done, seconds: float = 60.0) -> None:
    """Call the timer's function as Blender would until ``done()``."""
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "timed out"
        live.tick()
        time.sleep(0.005)


def _curves(action):
    if hasattr(action, "layers") and action.layers:  # Blender 5.0: channel bags
        return [c for layer in action.layers for strip in layer.strips for bag in strip.channelbags for c in bag.fcurves]
    return list(action.fcurves)


def _start(scene) -> None:
    settings = scene.mocap
    settings.target, settings.fps_mode, settings.root_motion, settings.live_record = None, "SOURCE", "FULL", True
    settings.bone_map.clear()
    assert bpy.ops.mocap.live() == {"FINISHED"} and settings.live_running


def test_live_keys_frames_at_the_scenes_current_frame_while_recording_and_stop_leaves_an_action(addon, live_engine):
    scene = bpy.context.scene
    scene.frame_current = 10
    _start(scene)
    live = addon.LIVE[scene.name]
    _tick_until(addon, lambda: live.keyed >= 15)
    first = live.keyed
    scene.mocap.live_record = False  # the rig follows, nothing is keyed
    shown = live.shown
    _tick_until(addon, lambda: live.shown >= shown + 5)
    assert live.keyed == first
    scene.mocap.live_record = True
    _tick_until(addon, lambda: live.keyed >= first + 10)
    assert bpy.ops.mocap.live() == {"FINISHED"}  # the toggle again: stop
    assert scene.name not in addon.LIVE and not scene.mocap.live_running
    assert f"{live.keyed} frames keyed onto {live.target}" in scene.mocap.live_message, scene.mocap.live_message

    rig = bpy.data.objects[live.target]  # an SMPL armature made at the stream's skeleton (its bones named after the joints)
    joints = sys.modules[f"{PACKAGE}.link.joints"].SMPL24
    heads = np.array([rig.data.bones[name].head_local for name in joints.names])
    np.testing.assert_allclose(heads, live.session.rest_joints @ SMPL_TO_BLENDER.T, atol=1e-5)
    action = rig.animation_data.action  # stopping left the action on the rig
    assert action is not None and action.name == live.action
    curves = _curves(action)
    assert len(curves) == 24 * 4 + 3 and all(len(c.keyframe_points) == live.keyed for c in curves)
    keys = np.array([p.co[0] for p in curves[0].keyframe_points])
    print(f"\n{live.keyed} frames keyed at scene frames {keys[0]:.0f}..{keys[-1]:.0f} ({live.shown} shown)")
    assert keys[0] == 10 and np.all(np.diff(keys) >= 1)  # from the current frame on, a frame per source frame (gaps: drops)
    # Recording resumed where it had stopped: the pause is cut out, the keys go on after the last one.
    assert keys[first] == keys[first - 1] + 1
    assert scene.render.fps / scene.render.fps_base == pytest.approx(live.session.fps, rel=1e-3)  # "Keep source"
    assert scene.frame_current == round(keys[-1])


def test_the_stream_ending_ends_live_with_the_engines_reason_and_the_keys_stay(addon, live_engine):
    scene = bpy.context.scene
    before = set(bpy.data.actions)
    _start(scene)
    live = addon.LIVE[scene.name]
    _tick_until(addon, lambda: scene.name not in addon.LIVE)  # the file ends: engine live says why
    message = scene.mocap.live_message
    assert not scene.mocap.live_running and "the source ended" in message and f"{live.keyed} frames keyed" in message, message
    assert live.keyed > 0 and live.session.stats["frames_sent"] >= live.keyed
    action = bpy.data.objects[live.target].animation_data.action
    assert action.name == live.action and action not in before and before  # a new action; the earlier one is still there
    assert all(len(c.keyframe_points) == live.keyed for c in _curves(action))
