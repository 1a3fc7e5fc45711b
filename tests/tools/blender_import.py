"""Import a BVH into Blender (the bpy module) with the README's settings and print, as JSON, what a
user would see: the scene's frame rate and length, and per frame the joints' lowest and highest
points above the grid and the root's position (metres, Blender's Z up).

    python tests/tools/blender_import.py FILE.bvh     (with a Python that has bpy)
"""
import json
import sys

import bpy

path = sys.argv[-1]
bpy.ops.wm.read_factory_settings(use_empty=True)
# The README's settings: scale 0.01 (the BVH is in cm), Update Scene FPS and Duration, forward -Z, up Y.
bpy.ops.import_anim.bvh(filepath=path, global_scale=0.01, update_scene_fps=True, update_scene_duration=True,
                        axis_forward="-Z", axis_up="Y")
scene = bpy.context.scene
armature = next(o for o in scene.objects if o.type == "ARMATURE")
root = next(b for b in armature.pose.bones if b.parent is None)
low, high, roots = [], [], []
for frame in range(scene.frame_start, scene.frame_end + 1):
    scene.frame_set(frame)
    heads = [armature.matrix_world @ b.head for b in armature.pose.bones]
    low.append(min(p.z for p in heads))
    high.append(max(p.z for p in heads))
    r = armature.matrix_world @ root.head
    roots.append([r.x, r.y, r.z])
print("BLENDER " + json.dumps({"fps": scene.render.fps / scene.render.fps_base,
                               "frames": int(round(armature.animation_data.action.frame_range[1])), "root_name": root.name,
                               "low": low, "high": high, "root": roots}))
