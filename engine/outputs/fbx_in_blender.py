"""Run by the Python that has ``bpy`` (see ``fbx``): GLB FBX FPS -> Blender's glTF importer, then its
FBX exporter. It imports nothing of poselift."""
import sys

import bpy


def main(glb: str, fbx: str, fps: float) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps = max(1, round(fps))
    scene.render.fps_base = scene.render.fps / fps
    bpy.ops.import_scene.gltf(filepath=glb)
    ends = [a.frame_range[1] for a in bpy.data.actions]
    scene.frame_start, scene.frame_end = 0, int(round(max(ends))) if ends else 0
    bpy.ops.export_scene.fbx(filepath=fbx, bake_anim=True, add_leaf_bones=False,
                             axis_forward="-Z", axis_up="Y", apply_unit_scale=True, bake_anim_simplify_factor=0.0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
