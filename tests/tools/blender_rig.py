"""Import a glb (Blender's glTF importer) or an FBX (its FBX importer) into Blender (the bpy module) at
the clip's frame rate and print, as JSON, where each armature's bones are per frame (their heads:
the joints), metres, in glTF's axes (Y up) so that they compare with the clip as written.

    python tests/tools/blender_rig.py FILE.glb|FILE.fbx FPS     (with a Python that has bpy)
"""
import json
import sys

import bpy

path, fps = sys.argv[-2], float(sys.argv[-1])
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.render.fps, scene.render.fps_base = round(fps), round(fps) / fps
if path.endswith(".fbx"):
    bpy.ops.import_scene.fbx(filepath=path)
else:
    bpy.ops.import_scene.gltf(filepath=path)
armatures = sorted((o for o in scene.objects if o.type == "ARMATURE"), key=lambda o: o.name)
first = min(int(a.animation_data.action.frame_range[0]) for a in armatures)
last = max(int(a.animation_data.action.frame_range[1]) for a in armatures)
heads = {a.name: {b.name: [] for b in a.pose.bones} for a in armatures}
for frame in range(first, last + 1):
    scene.frame_set(frame)
    for a in armatures:
        for b in a.pose.bones:
            p = a.matrix_world @ b.head
            heads[a.name][b.name].append([p.x, p.z, -p.y])  # Blender's Z up -> Y up
print("RIG " + json.dumps({"first_frame": first, "armatures": {a.name: a.data.name for a in armatures},
                           "bones": heads}))
