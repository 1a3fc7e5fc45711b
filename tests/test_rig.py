"""The rigged humanoid as glTF and FBX: the file read back joint for joint, several people in one file at
their own times, Blender's glTF and FBX importers within 1 mm, and FBX without Blender one clear
sentence."""
import numpy as np
import pytest
from pygltflib import GLTF2
from scipy.spatial.transform import Rotation

from conftest import grounded_clip
from poselift.engine.outputs.clip import in_format
from poselift.engine.outputs.export import ExportOptions, export_clip
from poselift.errors import UserError
from poselift.models.humanoid import BONES, Humanoid
from poselift.models.skeletons import H36M
from test_tools import python_with, run_tool

COMPONENTS = {5121: np.uint8, 5123: np.uint16, 5126: np.float32}
WIDTH = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}


def accessor(gltf: GLTF2, index: int) -> np.ndarray:
    a = gltf.accessors[index]
    view = gltf.bufferViews[a.bufferView]
    data = np.frombuffer(gltf.binary_blob(), COMPONENTS[a.componentType], a.count * WIDTH[a.type],
                         view.byteOffset + (a.byteOffset or 0))
    return data.reshape(a.count, -1) if WIDTH[a.type] > 1 else data


def two_people():
    """The walker, and a second person seen from 0.5 s on, one metre to the side, as ``--people 2`` gives."""
    first, world = grounded_clip()
    second, _ = grounded_clip(gaps=tuple(range(15)))
    second.trajectory = second.trajectory + np.float32([0.0, 0.0, 1000.0])  # a metre further away
    second.meta = {**second.meta, "person": 1}
    first.meta = {**first.meta, "person": 0}
    return first, second


def animated_joints(gltf: GLTF2, skin: int) -> tuple[np.ndarray, np.ndarray]:
    """The keyframe times (T,) and the skin's joint positions (T, N, 3) from the file's animation."""
    joints = gltf.skins[skin].joints
    channels = {(c.target.node, c.target.path): gltf.animations[0].samplers[c.sampler] for c in gltf.animations[0].channels}
    times = accessor(gltf, channels[(joints[0], "translation")].input)
    local_r = np.stack([Rotation.from_quat(accessor(gltf, channels[(n, "rotation")].output)).as_matrix()
                        if (n, "rotation") in channels else np.broadcast_to(np.eye(3), (len(times), 3, 3))
                        for n in joints], 1)
    local_t = np.stack([accessor(gltf, channels[(n, "translation")].output) for n in joints], 1)
    parent = {c: p for p in joints for c in (gltf.nodes[p].children or [])}
    rot, pos = np.zeros_like(local_r), np.zeros_like(local_t, dtype=np.float64)
    for i, n in enumerate(joints):  # parents come first
        if n in parent:
            p = joints.index(parent[n])
            rot[:, i] = rot[:, p] @ local_r[:, i]
            pos[:, i] = pos[:, p] + np.einsum("tij,tj->ti", rot[:, p], local_t[:, i])
        else:
            rot[:, i], pos[:, i] = local_r[:, i], local_t[:, i]
    return times, pos


def test_two_people_in_one_glb_each_joint_where_their_clip_has_it_at_their_own_times(tmp_path):
    first, second = two_people()
    out, note = export_clip(first, "glb", tmp_path / "two.glb", others=(second,))
    assert "The animation of person1 runs from 0.50 s" in note and "gaps" not in note.split("person1")[1]
    gltf = GLTF2().load(str(out))
    assert len(gltf.skins) == 2 and [gltf.nodes[s.joints[0]].name for s in gltf.skins] == ["hips", "hips"]
    assert {gltf.nodes[n].name for n in gltf.skins[0].joints} == set(BONES) | {"headTop"}
    assert len(gltf.meshes) == 2 and gltf.asset.extras["fps"] == 30.0
    scale = [c for c in gltf.animations[0].channels if c.target.path == "scale"]
    assert [gltf.nodes[c.target.node].name for c in scale] == ["person1"]  # hidden until they come into view
    sampler = gltf.animations[0].samplers[scale[0].sampler]
    assert sampler.interpolation == "STEP" and np.allclose(accessor(gltf, sampler.input), [0.0, 0.5])
    assert np.allclose(accessor(gltf, sampler.output), [[1e-3] * 3, [1, 1, 1]])
    humanoid = Humanoid()
    for skin, clip, start in ((0, first, 0), (1, second, 15)):
        times, pos = animated_joints(gltf, skin)
        truth = in_format(clip, H36M, world=True)[0][start:] / 1000
        assert np.allclose(times, clip.timestamps[start:], atol=1e-5)  # both on the video's clock
        seen = np.isfinite(truth).all(axis=(1, 2))
        assert np.abs(pos[seen] - truth[seen][:, humanoid.joints]).max() < 1e-5  # float32 in the file
        assert np.all(pos[~seen, :, 1] > -0.01)  # the 2-frame gap interpolated, on the floor


def test_a_root_relative_clip_stands_on_the_floor_at_the_origin_and_only_glb_and_fbx_take_several(tmp_path):
    clip, _ = grounded_clip(gaps=())
    out, _ = export_clip(clip, "glb", tmp_path / "camera.glb", options=ExportOptions(frame="camera"))
    _, pos = animated_joints(GLTF2().load(str(out)), 0)
    assert np.abs(pos[:, 0, [0, 2]]).max() < 1e-6  # the hips over the origin
    assert abs(np.median(pos[:, :, 1].min(axis=1))) < 1e-6  # the lowest joint on the floor
    with pytest.raises(UserError, match="bvh holds one person"):
        export_clip(clip, "bvh", tmp_path / "two.bvh", others=(clip,))


def test_fbx_without_blender_says_how_to_get_it(tmp_path, monkeypatch):
    clip, _ = grounded_clip()
    monkeypatch.setenv("POSELIFT_BPY_PYTHON", str(tmp_path / "no-python"))
    with pytest.raises(UserError, match="POSELIFT_BPY_PYTHON=.* does not run"):
        export_clip(clip, "fbx", tmp_path / "walk.fbx")
    monkeypatch.delenv("POSELIFT_BPY_PYTHON")
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    with pytest.raises(UserError, match="pip install bpy"):
        export_clip(clip, "fbx", tmp_path / "walk.fbx")
    assert not (tmp_path / "walk.fbx").exists()


@pytest.mark.parametrize("fmt", ["glb", "fbx"])
def test_blender_imports_both_people_within_a_millimetre(tmp_path, fmt):
    python = python_with("bpy", "POSELIFT_BPY_PYTHON")
    first, second = two_people()
    out, _ = export_clip(first, fmt, tmp_path / f"two.{fmt}", others=(second,))
    got = run_tool(python, "blender_rig.py", out, first.fps, tag="RIG")
    assert sorted(got["armatures"]) == ["person0", "person1"]
    humanoid = Humanoid()
    for name, clip in (("person0", first), ("person1", second)):
        truth = in_format(clip, H36M, world=True)[0] / 1000
        bones = got["bones"][name]
        heads = np.stack([np.array(bones[node]) for node in humanoid.nodes], 1)[:len(clip)]
        seen = np.isfinite(truth).all(axis=(1, 2))
        error = np.abs(heads[seen] - truth[seen][:, humanoid.joints]).max()
        assert error < 0.001, f"{name}: {1000 * error:.2f} mm"
