"""The README's Blender picture: a clip's glb imported with Blender's glTF importer, and a character of
other proportions (a second glb with the same bone names) retargeted onto it by bone name, rendered
at one moment of the clip.

    python tests/tools/blender_picture.py CLIP.glb CHARACTER.glb OUT.png TIME_S FPS    (a Python with bpy)

The retarget is the one docs/export.md describes: per bone a Copy Rotation constraint in world space
onto the clip's bone of the same name, and the hips' location copied in their local space (the
character stands 1.2 m to the clip's left)."""
import math
import sys

import bpy
from mathutils import Vector

clip_path, character_path, out, time_s, fps = sys.argv[-5:]
time_s, fps = float(time_s), float(fps)
bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
scene.render.fps, scene.render.fps_base = round(fps), round(fps) / fps

bpy.ops.import_scene.gltf(filepath=clip_path)
clip = next(o for o in scene.objects if o.type == "ARMATURE")
before = set(scene.objects)
bpy.ops.import_scene.gltf(filepath=character_path)
character = next(o for o in scene.objects if o.type == "ARMATURE" and o not in before)
character.animation_data_clear()
for o in scene.objects:
    if o.type == "MESH" and o.parent is character or (o.type == "MESH" and o.find_armature() is character):
        for slot in o.material_slots:
            slot.material.node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = (0.2, 0.45, 0.8, 1)
character.location.x -= 1.2
for bone in character.pose.bones:
    turn = bone.constraints.new("COPY_ROTATION")
    turn.target, turn.subtarget = clip, bone.name
    if bone.name == "hips":
        move = bone.constraints.new("COPY_LOCATION")
        move.target, move.subtarget = clip, bone.name
        move.target_space = move.owner_space = "LOCAL"
for o in scene.objects:  # the little spheres the importer draws its bones with are not part of the scene
    if o.type == "MESH" and o.name.startswith("Icosphere"):
        o.hide_render = True
scene.frame_set(round(time_s * fps))

hips = clip.matrix_world @ clip.pose.bones["hips"].head
centre = Vector((hips.x - 0.6, hips.y, 0.9))
bpy.ops.mesh.primitive_plane_add(size=30, location=(centre.x, centre.y, 0))
floor = bpy.context.object
floor.data.materials.append(bpy.data.materials.new("floor"))
floor.data.materials[0].use_nodes = True
floor.data.materials[0].node_tree.nodes["Principled BSDF"].inputs["Base Color"].default_value = (0.7, 0.7, 0.68, 1)
bpy.ops.object.camera_add(location=centre + Vector((1.2, -4.2, 0.9)))
camera = bpy.context.object
camera.rotation_euler = (centre - camera.location).to_track_quat("-Z", "Y").to_euler()
camera.data.lens = 35
scene.camera = camera
bpy.ops.object.light_add(type="SUN", rotation=(math.radians(40), math.radians(20), math.radians(30)))
bpy.context.object.data.energy = 3.0
world = bpy.data.worlds.new("sky")
world.use_nodes = True
world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.55, 0.62, 0.7, 1)
world.node_tree.nodes["Background"].inputs["Strength"].default_value = 0.8
scene.world = world
scene.render.engine = "CYCLES"
scene.cycles.samples = 32
scene.cycles.device = "CPU"
scene.render.resolution_x, scene.render.resolution_y = 1000, 560
scene.render.image_settings.file_format = "JPEG" if out.lower().endswith((".jpg", ".jpeg")) else "PNG"
scene.render.filepath = out
bpy.ops.render.render(write_still=True)
print("PICTURE " + out)
