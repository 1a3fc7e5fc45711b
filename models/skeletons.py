"""Skeleton formats and the mappings between them, each defined once.

H36M-17 is canonical. Every mapping here is linear in the joint positions (a ``(J_out, J_in)`` weight
matrix), so one table serves 2D pixels, normalised image coordinates and 3D millimetres alike; a
mapped joint's confidence is the lowest confidence among the joints it is built from.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np


# The limbs every skeleton here has on both sides, each named from the trunk outwards: the leg, the arm.
LIMBS = (("hip", "knee", "ankle"), ("shoulder", "elbow", "wrist"))


@dataclass(frozen=True)
class Skeleton:
    name: str
    joints: tuple[str, ...]
    parents: tuple[int, ...]  # -1 for the root; a tree used for traversal, bones and drawing

    def __post_init__(self) -> None:
        assert len(self.joints) == len(self.parents), self.name

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    @cached_property
    def bones(self) -> list[tuple[int, int]]:
        """(parent, child) pairs."""
        return [(p, j) for j, p in enumerate(self.parents) if p >= 0]

    @cached_property
    def flip_index(self) -> np.ndarray:
        """Permutation that swaps every left joint with its right twin (centre joints stay)."""
        index = {n: i for i, n in enumerate(self.joints)}
        swap = {"left": "right", "right": "left"}
        out = []
        for n in self.joints:
            side, _, rest = n.partition("_")
            out.append(index[f"{swap[side]}_{rest}"] if side in swap else index[n])
        return np.array(out)

    @cached_property
    def bone_flip_index(self) -> np.ndarray:
        """Per bone (in ``bones``' order): the index of its left/right twin (itself for a centre bone)."""
        twin = self.flip_index
        return np.array([self.bones.index((int(twin[p]), int(twin[j]))) for p, j in self.bones])

    @cached_property
    def limb_pairs(self) -> np.ndarray:
        """(6, 2): the (left, right) joints of ``LIMBS``, in its order (the legs', then the arms')."""
        return np.array([[self.index(f"left_{n}"), self.index(f"right_{n}")] for limb in LIMBS for n in limb])

    @cached_property
    def sides(self) -> np.ndarray:
        """Per joint: -1 left, +1 right, 0 centre (for colouring)."""
        return np.array([-1 if n.startswith("left_") else 1 if n.startswith("right_") else 0 for n in self.joints])

    def index(self, name: str) -> int:
        return self.joints.index(name)


def flip_pose(pose, skeleton: Skeleton, axis: int = 0):
    """Mirror a pose (..., J, D), a numpy array or a torch tensor, about coordinate ``axis`` (x) and
    swap left/right joints. Rows past the skeleton's J (the lifter input's pelvis row) keep their place."""
    index = np.r_[skeleton.flip_index, np.arange(skeleton.num_joints, pose.shape[-2])]
    out = pose[..., index, :]  # advanced indexing: a copy
    out[..., axis] *= -1
    return out


H36M = Skeleton(
    "h36m17",
    ("pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
     "spine", "thorax", "neck_nose", "head_top", "left_shoulder", "left_elbow", "left_wrist",
     "right_shoulder", "right_elbow", "right_wrist"),
    (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15),
)

COCO = Skeleton(
    "coco17",
    ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
     "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
     "left_knee", "right_knee", "left_ankle", "right_ankle"),
    (-1, 0, 0, 1, 2, 0, 0, 5, 6, 7, 8, 5, 6, 11, 12, 13, 14),
)

MPI_INF_3DHP = Skeleton(
    "mpi_inf_3dhp17",
    ("head_top", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
     "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
     "pelvis", "spine", "head"),
    (16, 15, 1, 2, 3, 1, 5, 6, 14, 8, 9, 14, 11, 12, -1, 14, 1),
)

MEDIAPIPE = Skeleton(
    "mediapipe33",
    ("nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
     "right_eye_outer", "left_ear", "right_ear", "left_mouth", "right_mouth", "left_shoulder",
     "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
     "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
     "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel", "right_heel",
     "left_foot_index", "right_foot_index"),
    # Rooted at the nose; each shoulder hangs from it so that the tree stays left/right symmetric.
    (-1, 0, 1, 2, 0, 4, 5, 3, 6, 0, 0, 0, 0, 11, 12, 13, 14, 15, 16, 15, 16, 15, 16, 11, 12,
     23, 24, 25, 26, 27, 28, 27, 28),
)

SKELETONS = {s.name: s for s in (H36M, COCO, MPI_INF_3DHP, MEDIAPIPE)}


def get_skeleton(name: str) -> Skeleton:
    if name not in SKELETONS:
        raise ValueError(f"unknown skeleton format {name!r}: choose one of {', '.join(SKELETONS)}.")
    return SKELETONS[name]


# --- MediaPipe-33 -> H36M-17 ------------------------------------------------------------------
# Measured on real Human3.6M frames: MediaPipe's hip landmarks sit ~15 % of the torso length
# (shoulder centre to hip centre) below H36M's hip joint centres and span only 0.73x their width in
# 2D (0.80x in 3D); its shoulders match H36M's. The trunk and head ratios below are means over the
# H36M training subjects (thorax 1.125 of the way from pelvis to shoulder centre, spine 0.483 of the
# way from pelvis to thorax, head top 1.45x the shoulder-centre-to-ears distance above the shoulders).
MP_HIP_RAISE = 0.15
MP_HIP_WIDTH = {2: 0.73, 3: 0.80}
H36M_THORAX_ALONG_TRUNK = 1.125
H36M_SPINE_ALONG_TRUNK = 0.483
H36M_HEAD_ABOVE_EARS = 1.45


def _weights(rows: dict[int, dict[int, float]], n_out: int, n_in: int) -> np.ndarray:
    w = np.zeros((n_out, n_in))
    for j, terms in rows.items():
        for i, v in terms.items():
            w[j, i] += v
    return w


def _mediapipe_to_h36m_weights(dim: int) -> np.ndarray:
    mp = MEDIAPIPE.index
    lh, rh, ls, rs = mp("left_hip"), mp("right_hip"), mp("left_shoulder"), mp("right_shoulder")
    mid_hip = {lh: 0.5, rh: 0.5}
    mid_sh = {ls: 0.5, rs: 0.5}
    ears = {mp("left_ear"): 0.5, mp("right_ear"): 0.5}

    def lin(*terms: tuple[float, dict[int, float]]) -> dict[int, float]:
        out: dict[int, float] = {}
        for a, t in terms:
            for i, v in t.items():
                out[i] = out.get(i, 0.0) + a * v
        return out

    pelvis = lin((1 - MP_HIP_RAISE, mid_hip), (MP_HIP_RAISE, mid_sh))
    half_hip = lin((0.5 / MP_HIP_WIDTH[dim], {rh: 1.0}), (-0.5 / MP_HIP_WIDTH[dim], {lh: 1.0}))
    thorax = lin((1 - H36M_THORAX_ALONG_TRUNK, pelvis), (H36M_THORAX_ALONG_TRUNK, mid_sh))
    h = H36M.index
    rows = {
        h("pelvis"): pelvis,
        h("right_hip"): lin((1, pelvis), (1, half_hip)),
        h("left_hip"): lin((1, pelvis), (-1, half_hip)),
        h("spine"): lin((1 - H36M_SPINE_ALONG_TRUNK, pelvis), (H36M_SPINE_ALONG_TRUNK, thorax)),
        h("thorax"): thorax,
        # H36M's "neck/nose" marker sits between the face and the head centre at nose height.
        h("neck_nose"): lin((0.5, {mp("nose"): 1.0}), (0.5, ears)),
        h("head_top"): lin((1 - H36M_HEAD_ABOVE_EARS, mid_sh), (H36M_HEAD_ABOVE_EARS, ears)),
    }
    for name in ("knee", "ankle", "shoulder", "elbow", "wrist"):
        for side in ("left", "right"):
            rows[h(f"{side}_{name}")] = {mp(f"{side}_{name}"): 1.0}
    return _weights(rows, H36M.num_joints, MEDIAPIPE.num_joints)


# --- H36M-17 -> COCO-17 and MPI-INF-3DHP-17 ------------------------------------------------------
# COCO's face points have no H36M counterpart: eyes and ears are placed about the head using the
# shoulder line for left/right (eyes 12 %, ears 25 % of shoulder width off the midline; eyes a third
# of the way from neck/nose to head top, ears a fifth). A rough stand-in for drawing and export only.
def _h36m_to_coco_weights() -> np.ndarray:
    h, c = H36M.index, COCO.index
    nose, top = h("neck_nose"), h("head_top")
    lat = {h("left_shoulder"): 1.0, h("right_shoulder"): -1.0}  # points to the person's left

    def face(up: float, side: float) -> dict[int, float]:
        out = {nose: 1 - up, top: up}
        for i, v in lat.items():
            out[i] = side * v
        return out

    rows = {c("nose"): {nose: 1.0},
            c("left_eye"): face(1 / 3, 0.12), c("right_eye"): face(1 / 3, -0.12),
            c("left_ear"): face(0.2, 0.25), c("right_ear"): face(0.2, -0.25)}
    for name in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle"):
        for side in ("left", "right"):
            rows[c(f"{side}_{name}")] = {h(f"{side}_{name}"): 1.0}
    return _weights(rows, COCO.num_joints, H36M.num_joints)


# MPI-INF-3DHP's neck is the base of the neck (H36M's thorax) and its head the head centre (H36M's
# neck/nose marker is the nearest); the other joints correspond one to one.
def _h36m_to_mpi_weights() -> np.ndarray:
    h, m = H36M.index, MPI_INF_3DHP.index
    rows = {m("neck"): {h("thorax"): 1.0}, m("head"): {h("neck_nose"): 1.0}}
    for name in MPI_INF_3DHP.joints:
        if name not in ("neck", "head"):
            rows[m(name)] = {h(name): 1.0}
    return _weights(rows, MPI_INF_3DHP.num_joints, H36M.num_joints)


_MAPPINGS: dict[tuple[str, str, int], np.ndarray] = {}


def mapping_weights(src: str, dst: str, dim: int = 3) -> np.ndarray:
    """The (J_dst, J_src) weight matrix that maps ``src`` joints onto ``dst`` joints."""
    key = (src, dst, dim if src == MEDIAPIPE.name else 0)
    if key not in _MAPPINGS:
        if src == dst:
            w = np.eye(get_skeleton(src).num_joints)
        elif (src, dst) == (MEDIAPIPE.name, H36M.name):
            w = _mediapipe_to_h36m_weights(dim)
        elif (src, dst) == (H36M.name, COCO.name):
            w = _h36m_to_coco_weights()
        elif (src, dst) == (H36M.name, MPI_INF_3DHP.name):
            w = _h36m_to_mpi_weights()
        else:
            raise ValueError(f"no mapping from {src} to {dst}: map to {H36M.name} first, then out of it.")
        _MAPPINGS[key] = w
    return _MAPPINGS[key]


def convert(points: np.ndarray, src: str, dst: str) -> np.ndarray:
    """Map poses (..., J_src, D) from skeleton ``src`` to ``dst`` (D = 2 or 3)."""
    n_src = get_skeleton(src).num_joints
    if points.ndim < 2 or points.shape[-2] != n_src or points.shape[-1] not in (2, 3):
        raise ValueError(f"expected poses shaped (..., {n_src}, 2 or 3) for {src}, got {points.shape}.")
    w = mapping_weights(src, dst, points.shape[-1])
    return np.einsum("oj,...jd->...od", w, points)


def convert_confidence(conf: np.ndarray, src: str, dst: str) -> np.ndarray:
    """Per-joint confidence (..., J_src) -> (..., J_dst): the lowest among each mapped joint's sources."""
    masked = np.where(_sources(src, dst), conf[..., None, :], np.inf)
    return masked.min(axis=-1)


def convert_largest(values: np.ndarray, src: str, dst: str) -> np.ndarray:
    """Per-joint values (..., J_src) -> (..., J_dst): the largest among each mapped joint's sources
    (an uncertainty, say)."""
    return -convert_confidence(-values, src, dst)


@lru_cache(maxsize=None)
def _sources(src: str, dst: str) -> np.ndarray:
    """(J_dst, J_src) mask of the joints each mapped joint is built from (cached: used every frame)."""
    return mapping_weights(src, dst, 2) != 0
