"""The Blender extension in the real bpy: built and validated, installed headless, registered;
a capture through a real `engine serve` keyed onto a created SMPL armature; engine failures
reported in the panel with the keys received kept."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.body.joints import SMPL24
from engine.lifting.weights import WEIGHTS_DIR
from engine.motion import Motion
from tests.paths import REPO

bpy = pytest.importorskip("bpy", reason="needs the bpy module: pip install 'mocap-engine[test]'")
CLIP = REPO / "examples" / "pexels_2795750_man_dancing_on_rooftop.mp4"
SMPL_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


@pytest.fixture(scope="module")
def addon(tmp_path_factory):
    """The built zip installed into bpy and enabled; yields the add-on's operators module."""
    from engine.addon_build import build_addon

    zip_path = build_addon(tmp_path_factory.mktemp("dist"))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert bpy.ops.extensions.package_install_files(filepath=str(zip_path), repo="user_default", enable_on_install=True) == {"FINISHED"}
    yield sys.modules["bl_ext.user_default.mocap_capture.operators"]
    bpy.ops.extensions.package_uninstall(repo_index=_user_repo(), pkg_id="mocap_capture")


def _user_repo() -> int:
    return next(i for i, r in enumerate(bpy.context.preferences.extensions.repos) if r.module == "user_default")


def _free_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def engine(tmp_path):
    address = _free_address()
    command = Path(sys.executable).parent / "engine"  # the console script of this environment
    process = subprocess.Popen([str(command), "serve", "--bind", address, "--out", str(tmp_path / "served")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    yield address, tmp_path / "served", process
    process.kill()
    process.wait()


def _prefs():
    return bpy.context.preferences.addons["bl_ext.user_default.mocap_capture"].preferences


def _run(operators, seconds: float) -> list[float]:
    """Call the timer's function as Blender would until the captures end; each tick's duration."""
    durations, deadline = [], time.monotonic() + seconds
    while operators.CAPTURES and time.monotonic() < deadline:
        started = time.perf_counter()
        operators.tick()
        durations.append(time.perf_counter() - started)
        time.sleep(0.01)
    return durations


def test_the_extension_installs_headless_and_registers(addon):
    assert hasattr(bpy.types, "MOCAP_PT_capture") and bpy.types.MOCAP_PT_capture.bl_category == "Mocap"
    for name in ("capture", "cancel", "test_connection", "start_engine"):
        assert hasattr(bpy.ops.mocap, name)
    prefs = _prefs()
    assert prefs.engine_address == "tcp://127.0.0.1:5557" and hasattr(bpy.context.scene, "mocap")


def test_a_wrong_address_is_said_plainly(addon):
    prefs = _prefs()
    prefs.engine_address = _free_address()  # nobody listens there
    bpy.ops.mocap.test_connection()
    assert prefs.engine_status.startswith(f"no engine at {prefs.engine_address}")


@pytest.mark.skipif(not (WEIGHTS_DIR / "hot_default.pt").is_file(), reason="no shipped HoT weights")
def test_capture_keys_a_created_smpl_armature_like_the_engines_fk(addon, engine):
    address, served, _ = engine
    prefs, settings = _prefs(), bpy.context.scene.mocap
    prefs.engine_address = address
    deadline = time.monotonic() + 60
    while bpy.ops.mocap.test_connection() and not prefs.engine_status.startswith("engine"):
        assert time.monotonic() < deadline, prefs.engine_status
        time.sleep(0.5)
    settings.video, settings.target, settings.start_frame = str(CLIP), None, 1
    assert bpy.ops.mocap.capture() == {"FINISHED"}
    durations = _run(addon, 300)
    assert not addon.CAPTURES and settings.message.startswith("captured 217 frames"), settings.message
    print(f"\nlongest tick {1000 * max(durations):.1f} ms over {len(durations)} ticks")
    assert max(durations) < 0.05

    motion = Motion.load(served / f"{CLIP.stem}.npz")
    rig = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    assert rig.animation_data.action.name == CLIP.stem
    names = [b.name for b in rig.pose.bones]
    parents = {b.name: b.parent.name for b in rig.pose.bones if b.parent}
    worst_direction = worst_twist = 0.0
    for frame in range(0, motion.num_frames, 7):
        bpy.context.scene.frame_set(1 + frame)
        heads = {n: np.array(rig.matrix_world @ rig.pose.bones[n].head) for n in names}
        expected = motion.joints[frame] @ SMPL_TO_BLENDER.T
        index = {n: SMPL24.index(n) for n in names}
        for child, parent in parents.items():
            got = heads[child] - heads[parent]
            want = expected[index[child]] - expected[index[parent]]
            angle = np.degrees(np.arccos(np.clip(got @ want / np.linalg.norm(got) / np.linalg.norm(want), -1, 1)))
            worst_direction = max(worst_direction, angle)
        np.testing.assert_allclose(heads["pelvis"], expected[0], atol=1e-4)  # the root goes where the engine put it
    print(f"worst bone direction error {worst_direction:.3f} deg")
    assert worst_direction <= 2.0


@pytest.mark.skipif(not (WEIGHTS_DIR / "hot_default.pt").is_file(), reason="no shipped HoT weights")
def test_an_engine_killed_mid_capture_is_reported_and_the_keys_stay(addon, engine):
    address, _, process = engine
    prefs, settings = _prefs(), bpy.context.scene.mocap
    prefs.engine_address = address
    deadline = time.monotonic() + 60
    while bpy.ops.mocap.test_connection() and not prefs.engine_status.startswith("engine"):
        assert time.monotonic() < deadline, prefs.engine_status
        time.sleep(0.5)
    settings.video, settings.target = str(CLIP), None
    assert bpy.ops.mocap.capture() == {"FINISHED"}
    capture = next(iter(addon.CAPTURES.values()))
    while capture.keyed == 0 and time.monotonic() < deadline + 120:
        addon.tick()
        time.sleep(0.01)
    process.kill()
    _run(addon, 30)
    assert not addon.CAPTURES and "said nothing" in settings.message and "are keyed" in settings.message, settings.message
    rig = bpy.data.objects[capture.target]
    curve = next(c for c in _curves(rig.animation_data.action) if "rotation_quaternion" in c.data_path)
    assert len(curve.keyframe_points) == capture.keyed > 0


def _curves(action):
    if hasattr(action, "layers") and action.layers:  # Blender 5.0: channel bags
        return [c for layer in action.layers for strip in layer.strips for bag in strip.channelbags for c in bag.fcurves]
    return list(action.fcurves)
