"""Add-on preferences: where the engine (and a live one) is, and how to start one on this machine."""

from __future__ import annotations

import bpy
from bpy.props import StringProperty

from .link.protocol import DEFAULT_ADDRESS, DEFAULT_LIVE_ADDRESS


class MocapPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    engine_address: StringProperty(
        name="Engine address", default=DEFAULT_ADDRESS, description="Where `engine serve` listens (ZeroMQ address)"
    )
    live_address: StringProperty(
        name="Live address", default=DEFAULT_LIVE_ADDRESS, description="Where `engine live` streams (ZeroMQ address)"
    )
    server_key: StringProperty(
        name="Server key", subtype="FILE_PATH", description="The engine's server.pub, when it serves beyond this machine with CURVE keys"
    )
    engine_command: StringProperty(
        name="Local engine",
        subtype="FILE_PATH",
        description="The `engine` executable of an installed mocap-engine, or the Python of its environment, to start one here on demand",
    )
    engine_status: StringProperty(name="Status", default="not tested")

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.prop(self, "engine_address")
        layout.prop(self, "live_address")
        layout.prop(self, "server_key")
        row = layout.row()
        row.operator("mocap.test_connection", icon="LINKED")
        row.label(text=self.engine_status)
        layout.prop(self, "engine_command")
        layout.operator("mocap.start_engine", icon="PLAY")


def preferences(context: bpy.types.Context) -> MocapPreferences:
    return context.preferences.addons[__package__].preferences


def register() -> None:
    bpy.utils.register_class(MocapPreferences)


def unregister() -> None:
    bpy.utils.unregister_class(MocapPreferences)
