"""A T-posed character of other proportions than the clip's (the same legs, a longer trunk and arms, a
bigger head) with the humanoid's bone names, as a glb: the retarget target of blender_picture.py.

    python tests/tools/make_character.py OUT.glb
"""
import sys

import numpy as np

from poselift.engine.outputs.gltf import Animated, write_glb
from poselift.models.humanoid import tpose
from poselift.models.motion import H36M_BONE_MM
from poselift.models.skeletons import H36M

STRETCH = {"spine": 1.15, "thorax": 1.15, "left_elbow": 1.2, "left_wrist": 1.2, "right_elbow": 1.2,
           "right_wrist": 1.2, "neck_nose": 1.4, "head_top": 1.4}

lengths = H36M_BONE_MM / 1000 * np.array([STRETCH.get(j, 1.0) for j in H36M.joints])
stand = tpose(lengths)
stand[:, 1] -= stand[:, 1].min()
write_glb(sys.argv[1], [Animated("character", stand[None], np.zeros(1))], 30.0)
