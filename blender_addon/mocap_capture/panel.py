"""The sidebar panel: 3D Viewport → Sidebar → Mocap."""

from __future__ import annotations

import bpy


class MOCAP_UL_bone_map(bpy.types.UIList):
    def draw_item(self, context, layout, data, item, icon, active_data, active_property, index=0, flt_flag=0) -> None:  # noqa: ANN001
        row = layout.row(align=True)
        row.label(text=item.joint)
        target = context.scene.mocap.target
        if target is not None:
            row.prop_search(item, "bone", target.data, "bones", text="")
        else:
            row.prop(item, "bone", text="")


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
        layout.prop(settings, "lifter")
        box = layout.box()
        row = box.row(align=True)
        row.label(text=f"Bone map: {settings.preset or 'detected at capture'}")
        row.operator("mocap.detect_bone_map", text="", icon="VIEWZOOM")
        row.operator("mocap.load_bone_map", text="", icon="FILEBROWSER")
        row.operator("mocap.save_bone_map", text="", icon="FILE_TICK")
        if len(settings.bone_map):
            box.template_list("MOCAP_UL_bone_map", "", settings, "bone_map", settings, "bone_map_index", rows=6)
        layout.prop(settings, "start_frame")
        layout.prop(settings, "fps_mode")
        layout.prop(settings, "root_motion")
        layout.prop(settings, "foot_lock")
        layout.prop(settings, "smooth")
        layout.prop(settings, "origin")
        layout.prop(settings, "keep_empty")
        layout.prop(settings, "push_to_nla")
        if settings.running:
            layout.progress(factor=settings.progress, text=settings.stage) if hasattr(layout, "progress") else layout.label(
                text=settings.stage
            )
            layout.operator("mocap.cancel", icon="CANCEL")
        else:
            layout.operator("mocap.capture", icon="REC")
        box = layout.box()  # Live: engine live's stream onto the same rig, bone map and root motion
        row = box.row(align=True)
        row.operator("mocap.live", text="Stop live" if settings.live_running else "Live", icon="PAUSE" if settings.live_running else "PLAY")
        row.prop(settings, "live_record", icon="REC")
        if settings.live_message:
            box.label(text=settings.live_message)
        row = layout.row(align=True)
        row.operator("mocap.export", text="Export FBX", icon="EXPORT").format = "FBX"
        row.operator("mocap.export", text="Export BVH", icon="EXPORT").format = "BVH"
        if settings.message:
            for line in settings.message.split("\n"):
                layout.label(text=line)


def register() -> None:
    bpy.utils.register_class(MOCAP_UL_bone_map)
    bpy.utils.register_class(MOCAP_PT_capture)


def unregister() -> None:
    bpy.utils.unregister_class(MOCAP_PT_capture)
    bpy.utils.unregister_class(MOCAP_UL_bone_map)
