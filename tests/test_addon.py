"""The Blender extension, tested inside each Blender version we support (the bpy module in a
small environment of its own: bpy, numpy, pyzmq, pytest) against a real engine running in
this, the engine's, environment. The tests themselves are in tests/blender/."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from engine.addon_build import build_addon
from engine.body.skeleton import DEFAULT_SKELETON_PATH
from engine.lifting.registry import LIFTERS
from tests.paths import REPO
from tests.test_live import htnet_weights_file, person_clip_file

BLENDER_VERSIONS = ("5.0.1", "4.2.23")  # the current release and the LTS
ENVIRONMENTS = REPO / ".venv-bpy"


@pytest.fixture(scope="module")
def addon_zip(tmp_path_factory):
    return build_addon(tmp_path_factory.mktemp("dist"))


def blender_python(version: str):
    """The Python of a small environment with bpy ``version``, numpy, pyzmq and pytest (made once)."""
    folder = ENVIRONMENTS / version
    python = folder / "bin" / "python"
    if not python.exists():
        venv.create(folder, with_pip=True, clear=True)
        packages = [f"bpy=={version}", "numpy<2", "pyzmq", "pytest"]
        result = subprocess.run([str(python), "-m", "pip", "install", "--quiet", *packages], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"could not install {packages} into {folder}:\n{result.stderr[-2000:]}")
    return python


def _run_in_blender(version: str, module: str, addon_zip: Path, **environment: str) -> None:
    """Run one module of tests/blender/ with pytest inside bpy ``version`` (each in a fresh process)."""
    environment = {
        **os.environ,
        "MOCAP_ADDON_ZIP": str(addon_zip),
        "MOCAP_ENGINE": str(os.path.join(os.path.dirname(sys.executable), "engine")),
        "MOCAP_CLIP": str(REPO / "examples" / "pexels_2795750_man_dancing_on_rooftop.mp4"),
        "MOCAP_SKELETON": str(DEFAULT_SKELETON_PATH),
        **environment,
    }
    command = [str(blender_python(version)), "-m", "pytest", "-c", "tests/blender/pytest.ini", f"tests/blender/{module}", "-q", "-s"]
    result = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=1800)
    report = [line for line in result.stdout.splitlines() if not line.startswith(("W0000", "INFO:", "WARNING:"))]
    print(f"\nbpy {version}, {module}:\n" + "\n".join(report[-40:]))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_the_zip_carries_the_engines_own_joints_geometry_and_lifter_registry_unchanged(addon_zip):
    engine_files = {
        "link/joints.py": REPO / "engine" / "body" / "joints.py",
        "link/geometry.py": REPO / "engine" / "geometry.py",
        "link/lifters.py": REPO / "engine" / "lifting" / "registry.py",
        "link/protocol.py": REPO / "engine" / "protocol.py",
        "link/client.py": REPO / "engine" / "client.py",
    }
    with zipfile.ZipFile(addon_zip) as built:
        for inside, engine_file in engine_files.items():
            assert built.read(f"mocap_capture/{inside}") == engine_file.read_bytes(), inside
    for name in ("joints.py", "geometry.py", "lifters.py", "protocol.py", "client.py"):  # copied into the zip only
        assert not (REPO / "blender_addon" / "mocap_capture" / "link" / name).exists()


@pytest.mark.skipif(not LIFTERS["hot"].weights_path.is_file(), reason="no shipped HoT weights")
@pytest.mark.parametrize("version", BLENDER_VERSIONS)
def test_the_addon_inside_blender(version, addon_zip):
    _run_in_blender(version, "test_in_blender.py", addon_zip)


@pytest.mark.parametrize("version", BLENDER_VERSIONS)
def test_the_zip_as_a_legacy_addon_inside_blender(version, addon_zip, tmp_path):
    _run_in_blender(version, "test_legacy_install.py", addon_zip, BLENDER_USER_SCRIPTS=str(tmp_path / "scripts"))


@pytest.fixture(scope="module")
def live_inputs(tmp_path_factory) -> tuple[Path, Path]:
    """Six seconds of the example clip at 320×180 (the person always in view) for `engine live`
    to play as a camera, and a single-frame lifter's weights."""
    folder = tmp_path_factory.mktemp("live")
    return person_clip_file(folder / "dancer.mp4", frames=150), htnet_weights_file(folder)


@pytest.mark.parametrize("version", BLENDER_VERSIONS)
def test_the_live_toggle_inside_blender(version, addon_zip, live_inputs):
    clip, weights = live_inputs
    _run_in_blender(version, "test_live_in_blender.py", addon_zip, MOCAP_LIVE_CLIP=str(clip), MOCAP_LIVE_WEIGHTS=str(weights))
