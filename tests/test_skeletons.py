import numpy as np
import pytest

from poselift.models import skeletons as sk


@pytest.mark.parametrize("skeleton", list(sk.SKELETONS.values()), ids=lambda s: s.name)
def test_tree_flip_and_sides(skeleton):
    parents = np.array(skeleton.parents)
    assert (parents == -1).sum() == 1
    for j in range(skeleton.num_joints):  # every joint reaches the root without a cycle
        seen, k = set(), j
        while k != -1:
            assert k not in seen
            seen.add(k)
            k = parents[k]
    flip = skeleton.flip_index
    assert np.array_equal(flip[flip], np.arange(skeleton.num_joints))
    for i, name in enumerate(skeleton.joints):
        if name.startswith("left_"):
            assert skeleton.joints[flip[i]] == "right_" + name[5:]
    pose = np.random.default_rng(0).normal(size=(4, skeleton.num_joints, 3))
    assert np.allclose(sk.flip_pose(sk.flip_pose(pose, skeleton), skeleton), pose)
    # A mirrored bone keeps its length: the tree is symmetric under the flip.
    for p, c in skeleton.bones:
        assert (skeleton.parents[flip[c]] == flip[p])


def person(skeleton, dim):
    """A synthetic pose whose left joints sit at x > 0 and right joints at x < 0 (the person faces -z)."""
    rng = np.random.default_rng(0)
    pose = rng.uniform(-1, 1, (skeleton.num_joints, dim)) * 0.1
    pose[skeleton.sides < 0, 0] = rng.uniform(1, 2, (skeleton.sides < 0).sum())
    pose[skeleton.sides > 0, 0] = -rng.uniform(1, 2, (skeleton.sides > 0).sum())
    return pose


@pytest.mark.parametrize("src,dst", [("mediapipe33", "h36m17"), ("h36m17", "coco17"), ("h36m17", "mpi_inf_3dhp17")])
@pytest.mark.parametrize("dim", [2, 3])
def test_mappings_keep_left_left(src, dst, dim):
    s, d = sk.get_skeleton(src), sk.get_skeleton(dst)
    out = sk.convert(person(s, dim), src, dst)
    assert out.shape == (d.num_joints, dim)
    assert (out[d.sides < 0, 0] > 0).all() and (out[d.sides > 0, 0] < 0).all()
    # Mapping commutes with the mirror: flipping before equals flipping after.
    pose = np.random.default_rng(3).normal(size=(s.num_joints, dim))
    assert np.allclose(sk.convert(sk.flip_pose(pose, s), src, dst), sk.flip_pose(sk.convert(pose, src, dst), d))


def test_mediapipe_hips_are_corrected():
    mp = sk.MEDIAPIPE
    pose = np.zeros((33, 2))
    pose[mp.index("left_hip")] = [1.0, 0]
    pose[mp.index("right_hip")] = [-1.0, 0]
    pose[mp.index("left_shoulder")] = [1.0, -10]
    pose[mp.index("right_shoulder")] = [-1.0, -10]
    h36 = sk.convert(pose, "mediapipe33", "h36m17")
    h = sk.H36M.index
    assert np.allclose(h36[h("pelvis")], [0, -1.5])  # raised 15 % of the 10-unit torso
    assert np.isclose(h36[h("left_hip"), 0] - h36[h("right_hip"), 0], 2 / 0.73)
    h36_3d = sk.convert(np.concatenate([pose, np.zeros((33, 1))], 1), "mediapipe33", "h36m17")
    assert np.isclose(h36_3d[h("left_hip"), 0] - h36_3d[h("right_hip"), 0], 2 / 0.80)


def test_confidence_is_the_weakest_source():
    conf = np.ones(33)
    conf[sk.MEDIAPIPE.index("left_hip")] = 0.2
    out = sk.convert_confidence(conf, "mediapipe33", "h36m17")
    h = sk.H36M.index
    assert out[h("pelvis")] == 0.2 and out[h("right_hip")] == 0.2  # both hips build each hip centre
    assert out[h("left_knee")] == 1.0


def test_bad_shapes_and_names():
    with pytest.raises(ValueError, match=r"expected poses shaped \(\.\.\., 33, 2 or 3\)"):
        sk.convert(np.zeros((17, 2)), "mediapipe33", "h36m17")
    with pytest.raises(ValueError, match="unknown skeleton format 'smpl'"):
        sk.get_skeleton("smpl")
    with pytest.raises(ValueError, match="no mapping from coco17 to h36m17"):
        sk.convert(np.zeros((17, 2)), "coco17", "h36m17")
