"""How far planted feet slide, pooled over clips, as docs/fusion.md quotes it:
python3 tests/tools/foot_sliding.py OUT/*_p*_3d.npz

Every step (a run of at least three planted frames) of every clip's person, in the world as the clip
places it: the planted ankle's largest move along the floor from where it touched down (mm). Prints the
steps' count, median, mean and 90th percentile, and each clip's count and median."""
import sys

import numpy as np

from poselift.engine.live.world import has_world, world_pose
from poselift.engine.outputs.clip import Clip
from poselift.models.world import ANKLES, foot_skating

steps = []
for path in sys.argv[1:]:
    clip = Clip.load(path)
    if not has_world(clip):
        print(f"{path}: never on a floor, left out")
        continue
    slides = foot_skating(world_pose(clip)[:, ANKLES], clip.contacts)
    steps += list(slides)
    print(f"{path}: {len(slides)} steps, median {np.median(slides) if len(slides) else float('nan'):.1f} mm")
steps = np.array(steps)
print(f"all: {len(steps)} steps, median {np.median(steps):.1f} mm, mean {steps.mean():.1f} mm, "
      f"90 % {np.percentile(steps, 90):.1f} mm")
