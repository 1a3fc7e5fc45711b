import json
import subprocess
import sys

import av
import numpy as np
import pandas as pd
import pytest

from conftest import needs_h36m, synthetic_clip
from poselift.calibration.floor import camera_to_y_up
from poselift.engine.outputs.clip import CLIP_VERSION, Clip, ClipError
from poselift.engine.outputs.export import ExportError, ExportOptions, export_clip
from poselift.models.skeletons import COCO, H36M, convert, get_skeleton


def bvh_world_positions(path, frames):
    """Forward kinematics of a BVH file by an independent parser (bvhio): joint name -> (T, 3) cm."""
    import bvhio
    root = bvhio.readAsHierarchy(str(path))
    joints = {j.Name: j for j, *_ in root.layout()}
    out = {name: [] for name in joints}
    for f in range(frames):
        root.loadPose(f)
        for name, j in joints.items():
            p = j.PositionWorld
            out[name].append((p.x, p.y, p.z))
    return {k: np.array(v) for k, v in out.items()}


def check_bvh_reproduces(clip, path, skeleton, tol_mm):
    pose = camera_to_y_up(convert(clip.pose3d.astype(float), "h36m17", skeleton.name)) / 10  # cm, Y up
    world = bvh_world_positions(path, len(clip))
    got = np.stack([world[name] for name in skeleton.joints], axis=1)
    valid = np.isfinite(pose).all(axis=(1, 2))
    rel_got = got - got[:, :1]
    rel_want = pose - pose[:, :1]
    err_mm = 10 * np.linalg.norm(rel_got[valid] - rel_want[valid], axis=-1)
    assert err_mm.max() < tol_mm
    for p, c in skeleton.bones:
        a = rel_got[valid][:, c] - rel_got[valid][:, p]
        b = rel_want[valid][:, c] - rel_want[valid][:, p]
        cos = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
        assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 1.0, skeleton.joints[c]
    return got, valid


@needs_h36m
def test_bvh_forward_kinematics_reproduces_motion_capture(s9, tmp_path):
    seq = next(s for s in s9 if s.take == "Walking 1")
    pose = (seq.pose3d - seq.pose3d[:, :1])[:150]
    clip = Clip(pose, seq.pose2d[:150], np.ones((150, 17), np.float32), np.full((150, 17), 20, np.float32),
                np.arange(150) / 50, 50.0, None, {"skeleton": "h36m17"})
    out, note = export_clip(clip, "bvh", tmp_path / "walk.bvh")
    assert note is None
    got, _ = check_bvh_reproduces(clip, out, H36M, tol_mm=1.0)
    assert got[:, H36M.index("right_ankle"), 1].min() > -1.0  # standing on the floor (Y up, cm)


def test_bvh_of_a_clip_with_gaps_and_other_formats(tmp_path):
    clip = synthetic_clip()
    out, note = export_clip(clip, "bvh", tmp_path / "turn.bvh")
    assert note is None  # a gap of 0.1 s is interpolated
    got, valid = check_bvh_reproduces(clip, out, H36M, tol_mm=1.0)
    rel = got - got[:, :1]
    assert np.abs(rel[11] - (rel[9] + rel[13]) / 2).max() < 2.0 and np.abs(rel[11] - rel[9]).max() > 2.0
    out, _ = export_clip(clip, "bvh", tmp_path / "coco.bvh", skeleton="coco17")
    check_bvh_reproduces(clip, out, COCO, tol_mm=1.0)
    text = out.read_text()
    assert "ROOT pelvis" in text and f"Frames: {len(clip)}" in text
    got = bvh_world_positions(out, len(clip))
    coco = camera_to_y_up(convert(clip.pose3d.astype(float), "h36m17", "coco17")) / 10
    hips = (coco[:, COCO.index("left_hip")] + coco[:, COCO.index("right_hip")]) / 2
    rel = got["pelvis"] - got["nose"]
    want = hips - coco[:, COCO.index("nose")]
    assert np.abs(rel[valid] - want[valid]).max() < 0.1  # the root is the mid-hip
    hierarchy = text.split("MOTION")[0]
    assert hierarchy.index("JOINT pelvis_to_left_hip") < hierarchy.index("JOINT left_hip")  # the hips hang from it
    assert "JOINT thorax_to_left_shoulder" in hierarchy and "JOINT thorax_to_nose" in hierarchy


def test_bvh_starts_and_ends_where_the_person_is_and_holds_only_long_gaps(tmp_path):
    clip = synthetic_clip(gaps=(0, 1, 2, 3, 4, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 57, 58, 59))
    out, note = export_clip(clip, "bvh", tmp_path / "cut.bvh")
    text = out.read_text()
    assert "Frames: 52" in text  # frames 5-56: no frozen copies of the first or last pose
    assert "runs from 0.17 s to 1.87 s (the clip's frames 5-56)" in note
    assert "The BVH holds the last pose seen where the person is missing for over 0.25 s" in note and note.endswith("1.00-1.30 s.")
    got = bvh_world_positions(out, 52)
    pose = camera_to_y_up(clip.pose3d.astype(float)) / 10
    rel = np.stack([got[n] for n in H36M.joints], axis=1)
    rel = rel - rel[:, :1]
    want = pose[5:57] - pose[5:57, :1]
    assert np.abs(rel[0] - want[0]).max() < 0.1 and np.abs(rel[-1] - want[-1]).max() < 0.1  # BVH frame 0 = clip frame 5
    assert np.allclose(rel[30 - 5], rel[29 - 5]) and np.allclose(rel[39 - 5], rel[29 - 5])  # a 0.33 s gap holds
    _, note = export_clip(clip, "bvh", tmp_path / "filled.bvh", options=ExportOptions(fill_gaps_s=0.5))
    assert "held" not in note


def test_each_format_keeps_the_frames_without_the_person_as_gaps_and_names_them(tmp_path):
    clip = synthetic_clip(gaps=(0, 1, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39))
    for fmt, kept_as in (("csv", "empty cells"), ("json", "null"), ("c3d", "invalid points"), ("angles", "empty cells"),
                         ("npz", "NaN")):
        out, note = export_clip(clip, fmt, tmp_path / f"g.{fmt}", options=ExportOptions(marker_names="poselift"))
        assert f"kept as {kept_as}: 0.00-0.03 s, 1.00-1.30 s." in note, fmt
    out, note = export_clip(clip, "trc", tmp_path / "g.trc", options=ExportOptions(marker_names="pose2sim"))
    assert "kept as NaN markers: 0.00-0.03 s, 1.00-1.30 s." in note
    table = pd.read_csv(tmp_path / "g.csv", comment="#")
    assert table[table.frame.isin(range(30, 40))][["x_mm", "y_mm", "z_mm"]].isna().all().all()
    assert json.loads((tmp_path / "g.json").read_text())["frames"][35]["pose3d_mm"] is None
    out, note = export_clip(clip, "trc", tmp_path / "model.trc")  # the OpenSim model's markers leave them out
    assert "left out: 0.00-0.03 s, 1.00-1.30 s." in note
    assert int(out.read_text().splitlines()[2].split("\t")[2]) == 60 - 12


def test_start_and_end_cut_the_clip_at_the_videos_time(tmp_path):
    clip = synthetic_clip()
    out, note = export_clip(clip, "csv", tmp_path / "cut.csv", options=ExportOptions(start_s=0.5, end_s=1.0))
    table = pd.read_csv(out, comment="#")
    assert table.time_s.min() == pytest.approx(0.5) and table.time_s.max() == pytest.approx(1.0) and note is None
    assert len(table) == 16 * 17
    with pytest.raises(ExportError, match="no frame of the clip lies between --start and --end: give times within "
                                          "0.00-1.97 s"):
        export_clip(clip, "csv", tmp_path / "none.csv", options=ExportOptions(start_s=5.0))
    with pytest.raises(ExportError, match="--start 2 is not before --end 1"):
        ExportOptions(start_s=2.0, end_s=1.0)


def test_csv_and_json(tmp_path):
    clip = synthetic_clip()
    out, _ = export_clip(clip, "csv", tmp_path / "c.csv", skeleton="mpi_inf_3dhp17")
    table = pd.read_csv(out, comment="#")
    assert list(table.columns[:6]) == ["frame", "time_s", "joint", "x_mm", "y_mm", "z_mm"]
    assert len(table) == len(clip) * 17
    mpi = convert(clip.pose3d.astype(float), "h36m17", "mpi_inf_3dhp17")
    row = table[(table.frame == 20) & (table.joint == "head_top")].iloc[0]
    assert np.allclose([row.x_mm, row.y_mm, row.z_mm], mpi[20, 0], atol=0.01)
    assert table[table.frame == 11][["x_mm", "y_mm", "z_mm"]].isna().all().all()  # a gap stays a gap

    out, _ = export_clip(clip, "json", tmp_path / "c.json")
    doc = json.loads(out.read_text())
    assert doc["skeleton"] == "h36m17" and doc["units"]["pose3d"] == "mm" and doc["fps"] == 30
    assert doc["frames"][11]["pose3d_mm"] is None
    assert np.allclose(doc["frames"][20]["pose3d_mm"], clip.pose3d[20], atol=0.01)


def test_trc_and_c3d_markers_match_the_clip(tmp_path):
    import ezc3d
    clip = synthetic_clip()
    want = camera_to_y_up(clip.pose3d.astype(float))
    out, _ = export_clip(clip, "trc", tmp_path / "m.trc", options=ExportOptions(marker_names="pose2sim"))
    lines = out.read_text().splitlines()
    assert lines[2].split("\t")[:5] == ["30", "30", "60", "17", "m"]
    data = pd.read_csv(out, sep="\t", skiprows=5, header=None)
    values = 1000 * data.iloc[:, 2:2 + 51].to_numpy(float).reshape(-1, 17, 3)
    assert np.allclose(values[20], want[20], atol=1e-3)
    assert np.isnan(values[11]).all()

    out, _ = export_clip(clip, "c3d", tmp_path / "m.c3d", options=ExportOptions(marker_names="pose2sim"))
    c3d = ezc3d.c3d(str(out))  # an independent reader
    assert c3d["parameters"]["POINT"]["LABELS"]["value"][:3] == ["Hip", "RHip", "RKnee"]
    assert c3d["parameters"]["POINT"]["RATE"]["value"][0] == 30
    points = np.transpose(c3d["data"]["points"][:3], (2, 1, 0))
    assert points.shape == (60, 17, 3)
    assert np.allclose(points[20], want[20], atol=0.01)
    assert np.isnan(points[11]).all()
    out, _ = export_clip(clip, "c3d", tmp_path / "model.c3d")  # the OpenSim model's markers, in its ground
    c3d = ezc3d.c3d(str(out))
    labels = c3d["parameters"]["POINT"]["LABELS"]["value"]
    assert labels == ["LShoulder", "RShoulder", "LElbow", "RElbow", "LWrist", "RWrist", "LHip", "RHip", "LKnee", "RKnee",
                      "LAnkle", "RAnkle"]
    points = np.transpose(c3d["data"]["points"][:3], (2, 1, 0))
    assert points.shape == (60, 12, 3) and np.isfinite(points).all()  # the 0.1 s gap is filled, as in its TRC
    width = np.linalg.norm(points[20, labels.index("LHip")] - points[20, labels.index("RHip")])
    assert width == pytest.approx(np.linalg.norm(want[20, 4] - want[20, 1]), abs=0.01)  # mm


def test_mp4_has_the_clips_frame_count(tmp_path):
    clip = synthetic_clip(frames=25)
    out, _ = export_clip(clip, "mp4", tmp_path / "r.mp4")
    with av.open(str(out)) as f:
        assert sum(1 for _ in f.decode(video=0)) == 25


def test_npz_in_another_format_reads_back(tmp_path):
    clip = synthetic_clip()
    clip.refined = np.zeros((60, 17), bool)
    clip.refined[20, H36M.index("left_wrist")] = True
    out, _ = export_clip(clip, "npz", tmp_path / "coco.npz", skeleton="coco17")
    again = Clip.load(out)
    assert again.meta["skeleton"] == "coco17" and again.pose3d.shape == (60, 17, 3)
    assert np.flatnonzero(again.refined[20]).tolist() == [COCO.index("left_wrist")] and again.refined.sum() == 1
    assert np.isnan(again.pose3d[11]).all()
    assert np.allclose(again.pose3d[20], convert(clip.pose3d[20].astype(float), "h36m17", "coco17"), atol=1e-3)


def test_bad_requests_are_one_sentence_and_lose_nothing(tmp_path):
    clip = synthetic_clip()
    src = tmp_path / "clip.npz"
    clip.save(src)
    with pytest.raises(ExportError, match="unknown export format 'usd'"):
        export_clip(clip, "usd", tmp_path / "x.usd")
    with pytest.raises(ExportError, match="clip is empty"):
        export_clip(synthetic_clip(frames=0, gaps=()), "csv", tmp_path / "e.csv")
    with pytest.raises(ExportError, match="folder .*nowhere does not exist"):
        export_clip(clip, "csv", tmp_path / "nowhere" / "x.csv")
    (tmp_path / "taken.csv").write_text("precious")
    with pytest.raises(ExportError, match="already exists"):
        export_clip(clip, "csv", tmp_path / "taken.csv")
    assert (tmp_path / "taken.csv").read_text() == "precious"
    newer = dict(np.load(src))
    meta = json.loads(str(newer["meta"]))
    meta["version"] = CLIP_VERSION + 1
    newer["meta"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "newer.npz", **newer)
    with pytest.raises(ClipError, match="newer poselift"):
        Clip.load(tmp_path / "newer.npz")
    data = src.read_bytes()
    for cut in (64, len(data) - 200):  # a clip cut short, as by a full disk or an interrupted copy
        (tmp_path / "cut.npz").write_bytes(data[:cut])
        with pytest.raises(ClipError, match="cut.npz is damaged or not a poselift clip"):
            Clip.load(tmp_path / "cut.npz")
    result = subprocess.run([sys.executable, "-m", "poselift", "export", str(src), "--to", "bvh", "-o",
                             str(tmp_path / "nowhere" / "a.bvh")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "does not exist" in result.stderr and "Traceback" not in result.stderr
    assert Clip.load(src).pose3d.shape == clip.pose3d.shape  # the source clip is untouched
    assert get_skeleton("coco17") is COCO


def test_grounded_clip_exports_the_walk_through_the_world(tmp_path):
    from conftest import grounded_clip
    from poselift.engine.outputs.export import ExportOptions
    clip, world = grounded_clip()
    want = (world - world[0, 0] * [1, 0, 1]) / 10  # cm, Y up, floor 0, starting over the origin
    valid = np.isfinite(clip.pose3d).all(axis=(1, 2))
    for rest in ("mean", "tpose"):
        out, note = export_clip(clip, "bvh", tmp_path / f"{rest}.bvh", options=ExportOptions(rest=rest))
        got = bvh_world_positions(out, len(clip))
        pos = np.stack([got[name] for name in H36M.joints], axis=1)
        assert np.abs(pos[valid] - want[valid]).max() < 0.1  # within 1 mm, root motion included
        assert note is None  # 2 frames of gap are interpolated
    tpose = out.read_text().split("MOTION")[0]
    assert "JOINT left_shoulder" in tpose and "OFFSET 0.000000 0.000000 0.000000" in tpose
    out, _ = export_clip(clip, "bvh", tmp_path / "m.bvh", options=ExportOptions(units="m"))
    pos = np.stack([bvh_world_positions(out, len(clip))[n] for n in H36M.joints], axis=1)
    assert np.abs(pos[valid] - want[valid] / 100).max() < 0.001

    out, _ = export_clip(clip, "csv", tmp_path / "w.csv", options=ExportOptions(rows="frame", units="m"))
    header = [ln for ln in out.read_text().splitlines() if ln.startswith("#")]
    assert "# fps: 30.0" in header and "# skeleton: h36m17" in header and "# units: m" in header
    assert any(h.startswith("# axes: world: Y up") for h in header)
    table = pd.read_csv(out, comment="#")
    assert len(table) == len(clip) and "right_ankle_y_m" in table.columns
    assert np.allclose(table["pelvis_y_m"][valid], world[valid, 0, 1] / 1000, atol=1e-4)
    assert table.loc[40, "pelvis_x_m"] != table.loc[40, "pelvis_x_m"]  # a gap stays a gap (NaN)

    doc = json.loads(export_clip(clip, "json", tmp_path / "w.json")[0].read_text())
    assert doc["axes"].startswith("world") and np.allclose(doc["camera_position_mm"][1], 1500, atol=1)
    # root-relative on request, as clips before grounding
    out, _ = export_clip(clip, "csv", tmp_path / "c.csv", options=ExportOptions(frame="camera"))
    assert "root-relative" in out.read_text().splitlines()[3]


def test_a_person_never_on_a_floor_is_told_so_not_to_process_again(tmp_path):
    # grounded, but the person's feet never rested in view (a false detection, someone seen in the air)
    clip = synthetic_clip()
    clip.meta["world"] = {"height_m": 1.7}
    with pytest.raises(ExportError, match="feet never rest on a floor in the clip, .* export it with --frame camera"):
        export_clip(clip, "trc", tmp_path / "w.trc", options=ExportOptions(frame="world"))
    with pytest.raises(ExportError, match="need the person on a floor, and this person's feet never rest on one"):
        export_clip(clip, "mot", tmp_path / "w.mot")
    _, note = export_clip(clip, "angles", tmp_path / "a.csv")
    assert "never rest on a floor" in note and "process the video again" not in note


def test_old_clips_export_as_before_and_refuse_world_options_in_one_sentence(tmp_path):
    from poselift.engine.outputs.export import ExportOptions
    clip = synthetic_clip()
    out, _ = export_clip(clip, "bvh", tmp_path / "coco.bvh", skeleton="coco17")
    got = bvh_world_positions(out, len(clip))
    lowest = np.min([got[n][:, 1] for n in COCO.joints], axis=0)
    assert np.abs(np.median(lowest)) < 0.5  # the feet on the floor, not the nose at the pelvis's height
    with pytest.raises(ExportError, match="this clip has no world trajectory .* export it with --frame camera"):
        export_clip(clip, "trc", tmp_path / "w.trc", options=ExportOptions(frame="world"))
    assert not (tmp_path / "w.trc").exists()
    src = clip.save(tmp_path / "old.npz")
    result = subprocess.run([sys.executable, "-m", "poselift", "export", str(src), "-o",
                             str(tmp_path / "w.bvh"), "--frame", "world"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "no world trajectory" in result.stderr


@pytest.mark.parametrize("output, message", [(".", "is a folder: give -o the file to write"),
                                             ("walk", "has no extension to name the format")])
def test_an_output_that_names_no_file_format_is_refused_in_one_sentence(tmp_path, output, message):
    src = synthetic_clip().save(tmp_path / "clip.npz")
    result = subprocess.run([sys.executable, "-m", "poselift", "export", str(src), "-o", str(tmp_path / output)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.npz"]
