"""The figures docs/world.md quotes for a `poselift process ... --people 2` clip of the demo's walker:
python3 tests/tools/walker_figures.py OUT/walk_outdoor_p1_3d.npz"""
import sys

import numpy as np

from poselift.engine.live.world import world_pose
from poselift.engine.outputs.clip import Clip
from poselift.models.angles import joint_angles
from poselift.models.skeletons import H36M
from poselift.models.world import ANKLES, foot_skating

clip = Clip.load(sys.argv[1])
world = world_pose(clip)
seen = np.flatnonzero(np.isfinite(world[:, 0, 0]))
root = world[seen, 0]
angles = joint_angles(world[seen])
lean = np.abs(angles["trunk_lateral"])
per_frame = np.linalg.norm(np.diff(root, axis=0), axis=1) / np.diff(seen)
slides = foot_skating(world[:, ANKLES], clip.contacts)
ground = clip.meta["world"]["ground"]
print(f"floor: pitch {ground['pitch_deg']} deg, roll {ground['roll_deg']} deg, camera {ground['camera_height_mm'] / 1000:.2f} m up")
print(f"travel (x, y, z) m: {np.round((root[-1] - root[0]) / 1000, 2)}")
print(f"medians: head top {np.median(world[seen, H36M.index('head_top'), 1]):.0f} mm, "
      f"ankles {np.median(world[seen][:, ANKLES, 1]):.0f} mm")
print(f"trunk lean sideways: median {np.median(lean):.1f} deg, 90 % {np.percentile(lean, 90):.1f} deg; "
      f"flexion median {np.median(angles['trunk_flexion']):.1f} deg (negative: forward)")
print(f"pelvis height: first 20 frames {np.median(root[:20, 1]):.0f} mm, last 20 {np.median(root[-20:, 1]):.0f} mm")
print(f"largest root step per frame {per_frame.max():.0f} mm (frame {seen[1:][per_frame.argmax()]})")
print(f"{len(slides)} steps, planted feet sliding median {np.median(slides):.1f} mm, largest {slides.max():.0f} mm")
