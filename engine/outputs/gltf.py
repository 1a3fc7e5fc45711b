"""glTF 2.0 binary (.glb): each person as a rigged humanoid (``models.humanoid``: VRM 1.0 bone names, a
T-pose rest facing +Z) with a simple skinned body, so that it shows in any viewer, and one animation in
which every person moves at the clip's times.

Y up, metres, the root moving over the floor (a grounded clip) or root-relative and stood on the floor
at the origin (as BVH does). Each node's rotation and translation are animated, which puts every
joint exactly where the clip has it; humanoid retargeters read the rotations. Gaps are those of BVH
(:func:`bvh.animation_frames`): a person's animation runs from the first to the last frame they are seen, a
gap inside up to ``max_gap`` frames interpolated and a longer one holding the last pose seen; before
and after their span (a person who enters late, or leaves early) they are scaled down a thousandfold,
so that they appear when they come into view and vanish when they leave it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pygltflib import (ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER, FLOAT, GLTF2, SCALAR, UNSIGNED_BYTE, UNSIGNED_SHORT,
                       VEC3, VEC4, Accessor, Animation, AnimationChannel, AnimationChannelTarget,
                       AnimationSampler, Asset, Attributes, Buffer, BufferView, Material, Mesh, Node,
                       PbrMetallicRoughness, Primitive, Scene, Skin)

from ...models.humanoid import Humanoid, tpose
from ...models.rotations import unit

MAT4 = "MAT4"
COLOURS = ((0.85, 0.45, 0.2, 1.0), (0.2, 0.5, 0.85, 1.0), (0.3, 0.7, 0.35, 1.0), (0.75, 0.3, 0.65, 1.0))
FOOT_BOX = np.array([0.0, -0.05, 0.15])  # the foot's box, from the ankle down and forward (m)
HAND_BOX = 0.09  # the hand's box along the forearm (m)
HIDDEN = 1e-3  # the scale of a person out of view: not 0, which Blender cannot bake into FBX


@dataclass
class Animated:
    """One person for the file: poses (T, 17, 3) H36M-17, metres, Y up, without gaps, at ``times`` (T,)
    seconds from the file's start."""
    name: str
    pose: np.ndarray
    times: np.ndarray


class _Buffer:
    """The binary chunk and its views and accessors, one view per accessor, each 4-byte aligned."""

    def __init__(self, gltf: GLTF2):
        self.gltf, self.data = gltf, bytearray()

    def add(self, array: np.ndarray, kind: str, target: int | None = None, bounds: bool = False) -> int:
        component = {np.float32: FLOAT, np.uint8: UNSIGNED_BYTE, np.uint16: UNSIGNED_SHORT}[array.dtype.type]
        self.data.extend(b"\0" * (-len(self.data) % 4))
        view = len(self.gltf.bufferViews)
        self.gltf.bufferViews.append(BufferView(buffer=0, byteOffset=len(self.data), byteLength=array.nbytes,
                                                target=target))
        self.data.extend(array.tobytes())
        flat = array.reshape(len(array), -1)
        self.gltf.accessors.append(Accessor(bufferView=view, componentType=component, count=len(array), type=kind,
                                            min=flat.min(0).tolist() if bounds else None,
                                            max=flat.max(0).tolist() if bounds else None))
        return len(self.gltf.accessors) - 1


def _box(a: np.ndarray, b: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    """A box from ``a`` to ``b`` (3,) ``width`` across: 8 corners and 12 triangles wound outwards."""
    axis = b - a
    side = unit(np.cross(axis, [0.0, 0.0, 1.0] if abs(unit(axis)[2]) < 0.9 else [1.0, 0.0, 0.0]))
    other = unit(np.cross(axis, side))
    corners = np.array([a + e * axis + (i - 0.5) * width * side + (j - 0.5) * width * other
                        for e in (0, 1) for i in (0, 1) for j in (0, 1)])
    centre = corners.mean(0)
    faces = []
    for axis_bit in range(3):  # each pair of opposite faces: the corners agreeing on one bit of their index
        for value in (0, 1):
            ring = []
            for a, b in ((0, 0), (0, 1), (1, 1), (1, 0)):  # around the face
                bits = [a, b]
                bits.insert(axis_bit, value)
                ring.append(4 * bits[0] + 2 * bits[1] + bits[2])
            for tri in ((ring[0], ring[1], ring[2]), (ring[0], ring[2], ring[3])):
                p = corners[list(tri)]
                outwards = np.dot(np.cross(p[1] - p[0], p[2] - p[0]), p[0] - centre) > 0
                faces.append(tri if outwards else tri[::-1])
    return corners, np.array(faces)


def body_mesh(humanoid: Humanoid, rest: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes along the rest pose's bones (node positions ``rest`` (N, 3)): vertices (V, 3), the node
    each follows (V,), triangles (F, 3)."""
    vertices, owners, triangles = [], [], []

    def add(a: np.ndarray, b: np.ndarray, owner: int) -> None:
        length = np.linalg.norm(b - a)
        corners, faces = _box(a, b, float(np.clip(0.22 * length, 0.04, 0.1)))
        triangles.append(faces + sum(len(v) for v in vertices))
        vertices.append(corners)
        owners.append(np.full(len(corners), owner))

    for n, p in enumerate(humanoid.parents):
        if p >= 0 and np.linalg.norm(rest[n] - rest[p]) > 1e-6:
            add(rest[p], rest[n], p)
    for n, name in enumerate(humanoid.nodes):
        if name.endswith("Hand"):
            add(rest[n], rest[n] + HAND_BOX * unit(rest[n] - rest[humanoid.parents[n]]), n)
        elif name.endswith("Foot"):
            add(rest[n], rest[n] + FOOT_BOX, n)
    return np.concatenate(vertices), np.concatenate(owners), np.concatenate(triangles)


def in_view(times: np.ndarray, end: float, fps: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Step keys (K,) and scales (K, 3) that show a person only over ``times`` (their span, s) in a file
    that ends at ``end``; None when they are in view throughout."""
    keys, shown = [], []
    if times[0] > 0:
        keys, shown = [0.0], [0.0]
    keys, shown = keys + [float(times[0])], shown + [1.0]
    if times[-1] + 0.5 / fps < end:
        keys, shown = keys + [float(times[-1]) + 1.0 / fps], shown + [0.0]
    return None if len(keys) == 1 else (np.array(keys), np.repeat(np.maximum(shown, HIDDEN)[:, None], 3, axis=1))


def _add_person(gltf: GLTF2, buffer: _Buffer, person: Animated, colour: tuple, animation: Animation,
                end: float, fps: float) -> list[int]:
    """The person's nodes, skin, body and animation channels; returns the scene's new root nodes."""
    humanoid = Humanoid.fitted(person.pose)
    stand = tpose(humanoid.lengths)
    rest = stand[humanoid.joints] - [0.0, stand[:, 1].min(), 0.0]  # the T-pose on the floor
    offsets = humanoid.rest_offsets()
    first = len(gltf.nodes)
    for n, name in enumerate(humanoid.nodes):
        children = [first + c for c, p in enumerate(humanoid.parents) if p == n]
        translation = rest[n] if humanoid.parents[n] < 0 else offsets[n]
        gltf.nodes.append(Node(name=name, translation=translation.tolist(), children=children))
    joints = list(range(first, len(gltf.nodes)))
    root = len(gltf.nodes)
    gltf.nodes.append(Node(name=person.name, children=[first]))

    inverse_bind = np.tile(np.eye(4, dtype=np.float32), (len(joints), 1, 1))
    inverse_bind[:, 3, :3] = -rest  # column-major: the translation is the fourth column
    gltf.skins.append(Skin(name=person.name, joints=joints, skeleton=first,
                           inverseBindMatrices=buffer.add(inverse_bind, MAT4)))
    vertices, owners, triangles = body_mesh(humanoid, rest)
    weights = np.zeros((len(vertices), 4), np.float32)
    weights[:, 0] = 1.0
    influences = np.zeros((len(vertices), 4), np.uint8)
    influences[:, 0] = owners
    gltf.materials.append(Material(name=f"{person.name} body", pbrMetallicRoughness=PbrMetallicRoughness(
        baseColorFactor=list(colour), metallicFactor=0.0, roughnessFactor=0.8)))
    attributes = Attributes(POSITION=buffer.add(vertices.astype(np.float32), VEC3, ARRAY_BUFFER, bounds=True),
                            JOINTS_0=buffer.add(influences, VEC4, ARRAY_BUFFER),
                            WEIGHTS_0=buffer.add(weights, VEC4, ARRAY_BUFFER))
    indices = buffer.add(triangles.astype(np.uint16).ravel(), SCALAR, ELEMENT_ARRAY_BUFFER, bounds=True)
    gltf.meshes.append(Mesh(name=f"{person.name} body", primitives=[Primitive(
        attributes=attributes, indices=indices, material=len(gltf.materials) - 1)]))
    gltf.nodes.append(Node(name=f"{person.name} body", mesh=len(gltf.meshes) - 1, skin=len(gltf.skins) - 1))

    times = buffer.add(person.times.astype(np.float32), SCALAR, bounds=True)
    channels = (("rotation", humanoid.local_rotations(person.pose), VEC4),
                ("translation", humanoid.local_translations(person.pose), VEC3))
    for path, values, kind in channels:
        for n in range(values.shape[1]):
            animation.samplers.append(AnimationSampler(input=times, output=buffer.add(
                np.ascontiguousarray(values[:, n], np.float32), kind), interpolation="LINEAR"))
            animation.channels.append(AnimationChannel(sampler=len(animation.samplers) - 1,
                                                       target=AnimationChannelTarget(node=first + n, path=path)))
    visible = in_view(person.times, end, fps)
    if visible is not None:
        keys, scales = visible
        animation.samplers.append(AnimationSampler(input=buffer.add(keys.astype(np.float32), SCALAR, bounds=True),
                                                   output=buffer.add(scales.astype(np.float32), VEC3),
                                                   interpolation="STEP"))
        animation.channels.append(AnimationChannel(sampler=len(animation.samplers) - 1,
                                                   target=AnimationChannelTarget(node=root, path="scale")))
    return [root, len(gltf.nodes) - 1]


def write_glb(path: str | Path, people: list[Animated], fps: float) -> None:
    """Write ``people`` as one .glb: a skeleton and body each, one animation for all."""
    gltf = GLTF2(asset=Asset(generator="poselift", version="2.0", extras={"fps": fps}))
    buffer = _Buffer(gltf)
    animation = Animation(name="poselift")
    roots: list[int] = []
    end = max(float(p.times[-1]) for p in people)
    for k, person in enumerate(people):
        roots += _add_person(gltf, buffer, person, COLOURS[k % len(COLOURS)], animation, end, fps)
    gltf.animations.append(animation)
    gltf.scenes.append(Scene(name="poselift", nodes=roots))
    gltf.scene = 0
    buffer.data.extend(b"\0" * (-len(buffer.data) % 4))
    gltf.buffers.append(Buffer(byteLength=len(buffer.data)))
    gltf.set_binary_blob(bytes(buffer.data))
    gltf.save_binary(str(path))
