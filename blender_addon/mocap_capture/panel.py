"""The sidebar panel: 3D Viewport → Sidebar → Mocap."""

from __future__ import annotations

import bpy


class MOCAP_PT_capture(bpy.types.Panel):
    bl_idname = "MOCAP_PT_capture"
    bl_label = "Capture from video"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Mocap"

    def draw(self, context: bpy.types.Context) -> None:
        settings, layout = context.scene.mocap, self.layout
        layout.prop(settings, "video")
        layout.prop(settings, "target")
        layout.prop(settings, "start_frame")
        layout.prop(settings, "foot_lock")
        layout.prop(settings, "smooth")
        layout.prop(settings, "push_to_nla")
        if settings.running:
            layout.progress(factor=settings.progress, text=settings.stage) if hasattr(layout, "progress") else layout.label(text=settings.stage)
            layout.operator("mocap.cancel", icon="CANCEL")
        else:
            layout.operator("mocap.capture", icon="REC")
        if settings.message:
            for line in settings.message.split("\n"):
                layout.label(text=line)


def register() -> None:
    bpy.utils.register_class(MOCAP_PT_capture)


def unregister() -> None:
    bpy.utils.unregister_class(MOCAP_PT_capture)
