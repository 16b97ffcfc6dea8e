"""pyzmq for a *legacy* install of the add-on.

Installed as an extension, Blender installs the pyzmq wheels listed in the manifest itself.
Installed as a legacy add-on (``bl_info``), nothing does: so when ``zmq`` cannot be imported,
the wheel bundled for this platform is unpacked once into the add-on's ``vendor/`` folder and
put on ``sys.path``. A wheel is a zip, so this is extraction, not pip.
"""

from __future__ import annotations

import importlib
import platform
import shutil
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def wheel_name_parts() -> tuple[str, ...]:
    """What the name of the bundled pyzmq wheel for this machine contains."""
    if sys.platform == "win32":
        return ("win_amd64",)
    if sys.platform == "darwin":
        return ("macosx", "universal2")
    return ("linux", "aarch64" if platform.machine().lower() in ("aarch64", "arm64") else "x86_64")


def ensure_pyzmq(wheels: Path = HERE / "wheels", vendor: Path = HERE / "vendor") -> None:
    """Make ``import zmq`` work: nothing to do when it already does; else unpack the bundled wheel."""
    try:
        import zmq  # noqa: F401

        return
    except ImportError:
        pass
    matching = sorted(w for w in wheels.glob("pyzmq-*.whl") if all(part in w.name for part in wheel_name_parts()))
    if not matching:
        raise ImportError(
            f"Mocap Capture needs pyzmq: no bundled wheel for {sys.platform} {platform.machine()} "
            f"in {wheels}; install pyzmq into Blender's Python"
        )
    target = vendor / matching[-1].stem
    if not target.is_dir():
        partial = target.with_name(target.name + ".partial")  # renamed when whole: an interrupted unpack is redone
        shutil.rmtree(partial, ignore_errors=True)
        with zipfile.ZipFile(matching[-1]) as wheel:
            wheel.extractall(partial)
        partial.rename(target)
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
