"""The same zip installed as a *legacy* add-on (Preferences → Add-ons → Install from Disk in
Blender before 4.2, ``bpy.ops.preferences.addon_install`` headless), in a Blender whose Python
has no pyzmq: the add-on must unpack its own bundled wheel and talk to a real engine with it.

tests/test_addon.py runs this module in a process of its own (``zmq`` must not be imported
before it), with ``BLENDER_USER_SCRIPTS`` pointing at an empty folder and the same
``MOCAP_ADDON_ZIP`` and ``MOCAP_ENGINE`` as tests/blender/test_in_blender.py.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import site
import sys
from pathlib import Path


class HideEnvironmentPyzmq(importlib.abc.MetaPathFinder):
    """Find ``zmq`` anywhere but this test environment's site-packages, as in a Blender without it."""

    def find_spec(self, name, path, target=None):
        if name != "zmq":
            return None
        hidden = set(site.getsitepackages())
        spec = importlib.machinery.PathFinder.find_spec(name, [p for p in sys.path if p not in hidden])
        if spec is None:
            raise ModuleNotFoundError("No module named 'zmq'", name=name)
        return spec


sys.meta_path.insert(0, HideEnvironmentPyzmq())

import bpy  # noqa: E402  (puts Blender's own modules on the path)

# isort: split
import addon_utils  # noqa: E402
import pytest  # noqa: E402
from real_engine import free_address, start_engine, wait_for_engine  # noqa: E402


@pytest.fixture(scope="module")
def legacy_addon():
    assert "zmq" not in sys.modules
    with pytest.raises(ModuleNotFoundError):
        import zmq  # noqa: F401
    bpy.ops.wm.read_factory_settings(use_empty=True)
    assert bpy.ops.preferences.addon_install(filepath=os.environ["MOCAP_ADDON_ZIP"]) == {"FINISHED"}
    addon_utils.enable("mocap_capture", default_set=True, handle_error=lambda e: pytest.fail(f"enable failed: {e!r}"))
    yield Path(bpy.utils.user_resource("SCRIPTS", path="addons")) / "mocap_capture"
    addon_utils.disable("mocap_capture", default_set=True)


def test_the_zip_installs_as_a_legacy_addon_with_its_own_pyzmq(legacy_addon):
    assert (legacy_addon / "__init__.py").is_file()
    assert hasattr(bpy.types, "MOCAP_PT_capture") and hasattr(bpy.ops.mocap, "capture")
    assert bpy.context.preferences.addons["mocap_capture"].preferences.engine_address == "tcp://127.0.0.1:5557"
    import zmq

    assert Path(zmq.__file__).is_relative_to(legacy_addon / "vendor")


def test_the_legacy_addon_talks_to_a_real_engine(legacy_addon, tmp_path):
    prefs = bpy.context.preferences.addons["mocap_capture"].preferences
    prefs.engine_address = free_address()
    engine = start_engine(prefs.engine_address, tmp_path)
    try:
        wait_for_engine(prefs)
    finally:
        engine.kill()
        engine.wait()
