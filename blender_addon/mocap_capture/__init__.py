"""Mocap Capture: the Blender side of mocap-engine.

The sidebar's **Capture from video** sends the clip to an engine (``engine serve``, on this
machine or another) over ZeroMQ and keys the motion it streams back onto the selected rig;
**Live** follows an ``engine live`` stream (a camera) on the same rig, keying it while
**Record** is on.
Only bpy, numpy and pyzmq run here; the engine's protocol, client, joints, geometry and
lifter registry modules are copied into ``link/`` by ``engine addon build``, so both sides
speak through the same code.

Split as Blender's own io add-ons are: ``preferences`` (the engine's address, a local
engine), ``properties`` (the scene's capture settings), ``local_engine`` (the ``engine serve``
process started from here), ``receiver`` (the timer that keys what streams in), ``live`` (the
Live toggle's timer), ``operators``
(thin), ``panel`` (the sidebar); ``keys``, ``retarget`` and ``bone_maps`` below them.
"""

bl_info = {  # for installing as a legacy add-on (the same zip); extensions read blender_manifest.toml
    "name": "Mocap Capture",
    "description": "Capture a person's motion from a video onto any rig",
    "author": "mocap-engine developers",
    "version": (0, 1, 0),
    "blender": (4, 2, 0),
    "location": "3D Viewport > Sidebar > Mocap",
    "category": "Animation",
}

from .bundled_pyzmq import ensure_pyzmq  # noqa: E402  (bl_info first: Blender reads it without importing)

ensure_pyzmq()  # a legacy install has no wheels installed by Blender

from . import live, local_engine, operators, panel, preferences, properties, receiver  # noqa: E402

_MODULES = (preferences, properties, local_engine, receiver, live, operators, panel)


def register() -> None:
    for module in _MODULES:
        module.register()


def unregister() -> None:
    for module in reversed(_MODULES):
        module.unregister()
