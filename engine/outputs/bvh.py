"""BVH export: joint positions -> a skeleton hierarchy and per-frame joint rotations.

The hierarchy's offsets are the clip's median bone lengths along each bone's mean direction (a rest
pose the person actually held, on average). Each bone's rotation is solved from the positions:
the swing that turns its rest direction onto its direction in the frame. A joint with several
children (the pelvis, the thorax) is oriented by the best rigid fit of all its child bones, and each
child hangs from a zero-length branch joint of its own, so every bone direction is reproduced
exactly; positions are exact too when the clip's bone lengths are constant (motion capture), and
otherwise off only by each bone's deviation from its median length. Y up, centimetres by default,
channels ZXY (Blender's importer default); the root carries the translation: the person's path
through the world for a grounded clip, else the pelvis held over the origin, feet on the floor. The
root is the pelvis: a skeleton without one (COCO-17, rooted at the nose) gets a pelvis (mid-hip) and a
thorax (mid-shoulder) joint, from which its hips, and its shoulders and head, hang.

BVH has no missing frame: the file runs from the first to the last frame with a pose; a gap inside
up to ``max_gap`` frames is interpolated, a longer one holds the last pose seen before it.

The rest pose is either that mean pose or (``rest="tpose"``, for retargeting onto other rigs) a
T-pose facing +Z: legs straight down, trunk and head straight up, arms out sideways, the same bone
lengths.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from ...calibration.floor import camera_to_y_up
from ...models.humanoid import tpose_direction
from ...models.opensim import fill_gaps
from ...models.rotations import rigid_fit, swing, unit
from ...models.skeletons import Skeleton

MM_TO_CM = 0.1
REST_POSES = ("mean", "tpose")


@dataclass
class BvhJoint:
    name: str
    parent: int  # index into the joint list, -1 for the root
    offset: np.ndarray  # (3,) cm, in the parent's rest frame
    source: int  # skeleton joint this BVH joint sits on
    bone_to: int | None  # skeleton joint whose direction this joint's rotation follows (None: a leaf)
    end_site: np.ndarray | None = None


def build_hierarchy(rest: np.ndarray, skeleton: Skeleton) -> list[BvhJoint]:
    """BVH joints (depth-first) for the rest pose ``rest`` (J, 3) in cm, Y up."""
    children = {j: [c for c, p in enumerate(skeleton.parents) if p == j] for j in range(skeleton.num_joints)}
    root = skeleton.parents.index(-1)
    joints: list[BvhJoint] = []

    def add(j: int, parent: int, offset: np.ndarray) -> None:
        kids = children[j]
        me = len(joints)
        joints.append(BvhJoint(skeleton.joints[j], parent, offset, j, kids[0] if len(kids) == 1 else None))
        if not kids:
            tip = rest[j] - rest[skeleton.parents[j]] if skeleton.parents[j] >= 0 else np.array([0, 1.0, 0])
            joints[me].end_site = 0.25 * tip  # a short stub along the last bone
        elif len(kids) == 1:
            add(kids[0], me, rest[kids[0]] - rest[j])
        else:
            for c in kids:
                branch = len(joints)
                joints.append(BvhJoint(f"{skeleton.joints[j]}_to_{skeleton.joints[c]}", me, np.zeros(3), j, c))
                add(c, branch, rest[c] - rest[j])

    add(root, -1, np.zeros(3))
    return joints


def solve_rotations(positions: np.ndarray, rest: np.ndarray, joints: list[BvhJoint],
                    skeleton: Skeleton) -> np.ndarray:
    """Local rotation matrices (T, N, 3, 3) of every BVH joint for positions (T, J, 3), cm, Y up."""
    t = len(positions)
    world = np.zeros((t, len(joints), 3, 3))
    local = np.zeros_like(world)
    for i, bj in enumerate(joints):
        if bj.bone_to is not None:
            rot = swing(unit(rest[bj.bone_to] - rest[bj.source]), unit(positions[:, bj.bone_to] - positions[:, bj.source]))
        else:
            kids = [c for c, p in enumerate(skeleton.parents) if p == bj.source]
            if len(kids) >= 2:
                rot = rigid_fit(unit(rest[kids] - rest[bj.source]), unit(positions[:, kids] - positions[:, bj.source, None]))
            else:  # a leaf keeps its parent's orientation
                rot = world[:, bj.parent] if bj.parent >= 0 else np.broadcast_to(np.eye(3), (t, 3, 3))
        world[:, i] = rot
        parent = world[:, bj.parent] if bj.parent >= 0 else np.eye(3)
        local[:, i] = np.swapaxes(parent, -1, -2) @ rot
    return local


def animation_frames(pose: np.ndarray, max_gap: int) -> tuple[np.ndarray, slice, np.ndarray]:
    """The poses (T, J, 3) from the first to the last frame with a pose, each gap inside up to
    ``max_gap`` frames interpolated and each longer one holding the last pose before it; also which
    frames of ``pose`` are kept, and which of the kept frames hold a pose."""
    valid = np.isfinite(pose).all(axis=(1, 2))
    if not valid.any():
        raise ValueError("the clip has no frame with a pose: there is nothing to animate.")
    seen = np.flatnonzero(valid)
    kept = slice(int(seen[0]), int(seen[-1]) + 1)
    filled = fill_gaps(pose[kept], max_gap)
    ok = np.isfinite(filled).all(axis=(1, 2))
    idx = np.maximum.accumulate(np.where(ok, np.arange(len(filled)), 0))
    return filled[idx], kept, ~ok


def with_pelvis(skeleton: Skeleton, pose: np.ndarray) -> tuple[Skeleton, np.ndarray]:
    """``skeleton`` and ``pose`` (T, J, 3) unchanged when rooted at a pelvis; otherwise with a pelvis root
    (mid-hip) and a thorax (mid-shoulder) added in front, the hips hanging from the pelvis and the
    shoulders and the old root from the thorax."""
    if skeleton.joints[skeleton.parents.index(-1)] == "pelvis":
        return skeleton, pose
    j = skeleton.index
    pelvis = (pose[:, j("left_hip")] + pose[:, j("right_hip")]) / 2
    thorax = (pose[:, j("left_shoulder")] + pose[:, j("right_shoulder")]) / 2
    parents = [-1, 0]
    for name, p in zip(skeleton.joints, skeleton.parents):
        parents.append(0 if name.endswith("_hip") else 1 if p < 0 or name.endswith("_shoulder") else p + 2)
    rooted = Skeleton(skeleton.name, ("pelvis", "thorax", *skeleton.joints), tuple(parents))
    return rooted, np.concatenate([pelvis[:, None], thorax[:, None], pose], axis=1)


def rest_pose(rel: np.ndarray, skeleton: Skeleton, rest: str = "mean") -> np.ndarray:
    """Rest joint positions (J, 3) from root-relative positions (T, J, 3): median bone lengths along
    each bone's mean direction (``mean``) or along the T-pose's (``tpose``)."""
    root = skeleton.parents.index(-1)
    lengths = {c: np.median(np.linalg.norm(rel[:, c] - rel[:, p], axis=-1)) for p, c in skeleton.bones}
    out = np.zeros((skeleton.num_joints, 3))
    order = [root]
    while order:
        j = order.pop(0)
        for c in (c for c, p in enumerate(skeleton.parents) if p == j):
            direction = tpose_direction(skeleton, c) if rest == "tpose" else unit(unit(rel[:, c] - rel[:, j]).mean(axis=0))
            out[c] = out[j] + lengths[c] * direction
            order.append(c)
    return out


def on_the_floor(pose: np.ndarray, root: int, y_up: bool) -> np.ndarray:
    """Poses (T, J, 3) Y up: as they are when already ``y_up`` (the world), else root-relative camera
    axes turned Y up with the ``root`` over the origin and the lowest joint on the floor (Y = 0)."""
    if y_up:
        return pose
    pos = camera_to_y_up(pose)
    pos = pos - pos[:, root:root + 1] * [1.0, 0.0, 1.0]
    return pos - np.array([0.0, np.median(pos[:, :, 1].min(axis=1)), 0.0])


def write_bvh(path, pose3d_mm: np.ndarray, fps: float, skeleton: Skeleton, y_up: bool = False,
              units_per_mm: float = MM_TO_CM, rest: str = "mean", max_gap: int = 0) -> tuple[slice, np.ndarray]:
    """Write ``pose3d_mm`` (T, J, 3) as BVH: world positions already Y up with the floor at 0 when
    ``y_up``, else root-relative camera axes (then the lowest joint is stood on the floor, the root
    over the origin). Returns the frames of ``pose3d_mm`` written and which of them hold the last pose
    seen (see :func:`animation_frames`)."""
    pose, kept, held = animation_frames(np.asarray(pose3d_mm, dtype=np.float64), max_gap)
    skeleton, pose = with_pelvis(skeleton, pose)
    root = skeleton.parents.index(-1)
    pos = on_the_floor(pose, root, y_up) * units_per_mm
    rel = pos - pos[:, root:root + 1]
    rest = rest_pose(rel, skeleton, rest)
    joints = build_hierarchy(rest, skeleton)
    local = solve_rotations(rel, rest, joints, skeleton)
    euler = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_euler("ZXY", degrees=True).reshape(len(pos), -1, 3)

    lines = ["HIERARCHY"]

    def emit(i: int, depth: int) -> None:
        bj, pad = joints[i], "  " * depth
        kind = "ROOT" if bj.parent < 0 else "JOINT"
        lines.append(f"{pad}{kind} {bj.name}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {bj.offset[0]:.6f} {bj.offset[1]:.6f} {bj.offset[2]:.6f}")
        channels = "6 Xposition Yposition Zposition" if bj.parent < 0 else "3"
        lines.append(f"{pad}  CHANNELS {channels} Zrotation Xrotation Yrotation")
        for k, other in enumerate(joints):
            if other.parent == i:
                emit(k, depth + 1)
        if bj.end_site is not None:
            e = bj.end_site
            lines.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET {e[0]:.6f} {e[1]:.6f} {e[2]:.6f}",
                          f"{pad}  }}"])
        lines.append(f"{pad}}}")

    emit(0, 0)
    lines += ["MOTION", f"Frames: {len(pos)}", f"Frame Time: {1.0 / fps:.8f}"]
    root_pos = pos[:, root]
    for f in range(len(pos)):
        values = list(root_pos[f]) + list(euler[f].ravel())
        lines.append(" ".join(f"{v:.6f}" for v in values))
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return kept, held
