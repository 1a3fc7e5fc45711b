"""engine.live.bones: each person's bones at one length, the running mean of their lengths so far (left and
right averaged), each frame rebuilt from the root along its own bone directions."""
import numpy as np

from poselift.engine.live.bones import SteadyBones
from poselift.models.skeletons import H36M

BONES = H36M.bones
MIRROR = H36M.bone_flip_index


def lengths(pose: np.ndarray) -> np.ndarray:
    return np.array([np.linalg.norm(pose[j] - pose[p]) for p, j in BONES])


def symmetric(pose: np.ndarray) -> np.ndarray:
    b = lengths(pose)
    return 0.5 * (b + b[MIRROR])


def body(rng: np.random.Generator, frames: int) -> np.ndarray:
    """Poses (frames, 17, 3) mm of one body: fixed, symmetric bone lengths, each bone turning freely."""
    length = rng.uniform(100, 450, len(BONES))
    length = 0.5 * (length + length[MIRROR])
    poses = np.zeros((frames, H36M.num_joints, 3))
    for b, (p, j) in sorted(enumerate(BONES), key=lambda item: item[1][1]):  # parents come before children
        turn = rng.normal(size=(frames, 3))
        poses[:, j] = poses[:, p] + length[b] * turn / np.linalg.norm(turn, axis=1, keepdims=True)
    return poses


def directions(pose: np.ndarray) -> np.ndarray:
    d = np.array([pose[j] - pose[p] for p, j in BONES])
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def test_bones_keep_the_running_mean_length_and_their_own_directions():
    rng = np.random.default_rng(0)
    noisy = body(rng, 40) + rng.normal(0, 15, (40, H36M.num_joints, 3))  # bones a few cm longer or shorter each frame
    bones = SteadyBones(H36M)
    out = np.array([bones(p) for p in noisy])
    expected = np.cumsum([symmetric(p) for p in noisy], axis=0) / np.arange(1, len(noisy) + 1)[:, None]
    assert np.allclose([lengths(p) for p in out], expected)
    assert np.allclose([directions(p) for p in out], [directions(p) for p in noisy])
    assert np.allclose(out[:, 0], noisy[:, 0])  # the root stays where it was
    spread = lambda x: np.std([lengths(p) for p in x[20:]], axis=0).max()  # noqa: E731
    assert spread(out) < 0.2 * spread(noisy)


def test_a_frame_without_the_person_passes_and_a_reset_starts_over():
    pose = body(np.random.default_rng(1), 1)[0]
    bigger = 1.5 * pose
    bones = SteadyBones(H36M)
    bones(pose)
    assert np.isnan(bones(np.full_like(pose, np.nan))).all()  # and it does not count
    assert np.allclose(lengths(bones(bigger)), 0.5 * (symmetric(pose) + symmetric(bigger)))
    bones.reset()
    assert np.allclose(lengths(bones(bigger)), symmetric(bigger))
