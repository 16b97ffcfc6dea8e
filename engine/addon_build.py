"""`engine addon build`: the Blender extension zip, with pyzmq wheels, checked by Blender's own validator.

The zip is built from ``blender_addon/mocap_capture`` plus the engine's own modules that need
neither torch nor anything beyond numpy and pyzmq (:data:`LINKED`: the protocol and client, the
SMPL24 joint table, the numpy geometry and the lifter registry), copied into its ``link/``
package in the staging folder only (never into the source tree), so the add-on and the engine
speak through the same code and the same tables; and pyzmq wheels for every platform Blender
4.2+ runs on (its Python is 3.11), downloaded once from PyPI into a cache folder. Building and
validating use Blender's extension tool (``blender_ext.py``), which ships inside the ``bpy``
module.

The zip's files sit in one top-level ``mocap_capture/`` folder, which both installers accept:
Blender's extension installer (it looks for the manifest one folder down) and the legacy
add-on installer (which unpacks the folder as the add-on's package; ``bl_info`` and the
bundled wheels, unpacked by the add-on itself, make it work there).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "blender_addon" / "mocap_capture"
# the engine's files the add-on carries: name in the add-on's link/ package -> the engine's file
LINKED = {
    "protocol.py": REPO / "engine" / "protocol.py",
    "client.py": REPO / "engine" / "client.py",
    "joints.py": REPO / "engine" / "body" / "joints.py",
    "geometry.py": REPO / "engine" / "geometry.py",
    "lifters.py": REPO / "engine" / "lifting" / "registry.py",
}
# pip's platform tag for each platform Blender 4.2+ runs on, and what names its wheel
WHEEL_PLATFORMS = {
    "manylinux_2_28_x86_64": ("linux", "x86_64"),
    "manylinux_2_28_aarch64": ("linux", "aarch64"),
    "win_amd64": ("win_amd64",),
    "macosx_10_15_universal2": ("macosx", "universal2"),
}


class AddonBuildError(RuntimeError):
    pass


def blender_ext_tool() -> Path:
    """Blender's extension command-line tool, from the installed ``bpy`` module."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or spec.origin is None:
        raise AddonBuildError("building the extension needs Blender's tools from the bpy module: pip install -e '.[fbx]'")
    found = sorted(Path(spec.origin).parent.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    if not found:
        raise AddonBuildError(f"no blender_ext.py inside {Path(spec.origin).parent}")
    return found[-1]


def _cached_wheels(cache: Path, fragments: tuple[str, ...]) -> list[Path]:
    return [w for w in cache.glob(f"pyzmq-{version('pyzmq')}-*.whl") if all(f in w.name for f in fragments)]


def pyzmq_wheels(cache: Path) -> list[Path]:
    """pyzmq wheels (this environment's pyzmq version) for CPython 3.11 on each platform, cached."""
    cache.mkdir(parents=True, exist_ok=True)
    pinned = f"pyzmq=={version('pyzmq')}"
    wheels = []
    for platform, fragments in WHEEL_PLATFORMS.items():
        if not _cached_wheels(cache, fragments):
            command = [
                sys.executable,
                "-m",
                "pip",
                "download",
                pinned,
                "--only-binary=:all:",
                "--no-deps",
                "--quiet",
                "--python-version",
                "3.11",
                "--implementation",
                "cp",
                "--abi",
                "cp311",
                "--abi",
                "abi3",
                "--platform",
                platform,
                "--dest",
                str(cache),
            ]
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                raise AddonBuildError(f"could not download {pinned} for {platform}: {result.stderr.strip()[-500:]}")
        wheels += _cached_wheels(cache, fragments)[:1]
    return wheels


def _run_tool(*args: str) -> str:
    result = subprocess.run([sys.executable, str(blender_ext_tool()), *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise AddonBuildError(f"blender_ext {args[0]} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def build_addon(out: Path, cache: Path = REPO / "build" / "wheels") -> Path:
    """Build, validate and return the extension zip in ``out``."""
    manifest = (SOURCE / "blender_manifest.toml").read_text()
    addon_version = re.search(r'^version = "([^"]+)"', manifest, re.M).group(1)
    wheels = pyzmq_wheels(cache)
    with tempfile.TemporaryDirectory() as scratch:
        staging = Path(scratch) / "mocap_capture"
        shutil.copytree(SOURCE, staging, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for name, engine_file in LINKED.items():
            shutil.copy2(engine_file, staging / "link" / name)
        (staging / "wheels").mkdir()
        for wheel in wheels:
            shutil.copy2(wheel, staging / "wheels" / wheel.name)
        listed = ", ".join(f'"./wheels/{w.name}"' for w in wheels)
        (staging / "blender_manifest.toml").write_text(manifest.replace("wheels = []", f"wheels = [{listed}]"))
        out.mkdir(parents=True, exist_ok=True)
        target = out / f"mocap_capture-{addon_version}.zip"
        target.unlink(missing_ok=True)
        flat = Path(scratch) / "flat.zip"
        _run_tool("build", "--source-dir", str(staging), "--output-filepath", str(flat))
        _nest(flat, target, SOURCE.name)
    _run_tool("validate", str(target))
    return target


def _nest(flat: Path, target: Path, folder: str) -> None:
    """Copy the zip ``flat`` to ``target`` with every file moved into ``folder/``."""
    with zipfile.ZipFile(flat) as source, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as nested:
        for info in source.infolist():
            info_copy = zipfile.ZipInfo(f"{folder}/{info.filename}", info.date_time)
            info_copy.external_attr = info.external_attr
            nested.writestr(info_copy, source.read(info), zipfile.ZIP_DEFLATED)
