"""Grounded exports opened by the tools users open them in: Blender's BVH importer (bpy) and
OpenSim's TRC reader and inverse kinematics. Each runs where the package imports, in this Python or
in the one named by POSELIFT_BPY_PYTHON / POSELIFT_OPENSIM_PYTHON (bpy and opensim pin different
numpy versions, so they often live in venvs of their own); otherwise it skips, saying so. The strict
TRC layout check, modelled on OpenSim's reader, always runs."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import grounded_clip
from poselift.engine.outputs.export import ExportOptions, export_clip

TOOLS = Path(__file__).parent / "tools"


def python_with(module: str, env: str) -> str:
    if importlib.util.find_spec(module) is not None:
        return sys.executable
    if os.environ.get(env):
        return os.environ[env]
    pytest.skip(f"{module} is not importable here: pip install {module} (or set {env} to a Python that has it).")


def run_tool(python: str, script: str, *args, tag: str) -> dict:
    out = subprocess.run([python, str(TOOLS / script), *map(str, args)], capture_output=True, text=True, timeout=300)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith(tag + " ")), None)
    assert line, out.stdout[-2000:] + out.stderr[-2000:]
    return json.loads(line[len(tag) + 1:])


@pytest.mark.parametrize("rest", ["mean", "tpose"])
def test_bvh_imports_in_blender_upright_on_the_grid_walking_at_the_clips_fps(tmp_path, rest):
    python = python_with("bpy", "POSELIFT_BPY_PYTHON")
    clip, world = grounded_clip()
    out, _ = export_clip(clip, "bvh", tmp_path / "walk.bvh", options=ExportOptions(rest=rest))
    got = run_tool(python, "blender_import.py", out, tag="BLENDER")
    assert abs(got["fps"] - clip.fps) < 0.01 and got["frames"] == len(clip)
    low, high, root = np.array(got["low"][:len(clip)]), np.array(got["high"][:len(clip)]), np.array(got["root"][:len(clip)])
    assert np.all((low > -0.005) & (low < 0.15))  # the ankles just above the grid (legs swinging), never under it
    assert np.all((high > 1.5) & (high < 1.9))  # the head top, metres above the grid
    travel = root[-1] - root[0]
    assert abs(travel[0] - 3.0) < 0.01 and abs(travel[1]) < 0.01  # 3 m along the camera's right
    assert np.allclose(root[:, 2], (world[:, 0, 1]) / 1000, atol=0.002)  # pelvis height, Blender's Z up


def test_coco_bvh_imports_in_blender_rooted_at_the_pelvis_from_the_first_to_the_last_frame_with_the_person(tmp_path):
    python = python_with("bpy", "POSELIFT_BPY_PYTHON")
    clip, world = grounded_clip(gaps=(0, 1, 2, 40, 41, 88, 89))
    out, note = export_clip(clip, "bvh", tmp_path / "coco.bvh", skeleton="coco17")
    assert "the clip's frames 3-87" in note
    got = run_tool(python, "blender_import.py", out, tag="BLENDER")
    assert got["root_name"] == "pelvis" and got["frames"] == 85
    root, low = np.array(got["root"][:85]), np.array(got["low"][:85])
    hips = (world[3:88, 1] + world[3:88, 4]) / 2000  # COCO's hips are H36M's: the mid-hip, m
    assert np.allclose(root[:, 2], hips[:, 1], atol=0.002)  # Blender's Z up
    assert abs((root[-1, 0] - root[0, 0]) - (hips[-1, 0] - hips[0, 0])) < 0.01
    assert np.all((low > -0.005) & (low < 0.15))  # the ankles on the grid, not the nose


def test_trc_with_gaps_reads_in_opensim_and_its_inverse_kinematics_runs(tmp_path):
    python = python_with("opensim", "POSELIFT_OPENSIM_PYTHON")
    clip, world = grounded_clip()
    gaps, _ = export_clip(clip, "trc", tmp_path / "gaps.trc", options=ExportOptions(marker_names="pose2sim"))
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    got = run_tool(python, "opensim_ik.py", gaps, tmp_path / "a", tag="OPENSIM")
    assert got["rows"] == len(clip) and got["gap_rows"] == 2 and got["units"] == "m"
    assert got["markers"][:4] == ["Hip", "RHip", "RKnee", "RAnkle"]
    filled, _ = export_clip(clip, "trc", tmp_path / "filled.trc",
                            options=ExportOptions(marker_names="pose2sim", fill_gaps_s=0.5))
    got = run_tool(python, "opensim_ik.py", filled, tmp_path / "b", tag="OPENSIM")
    assert got["ok"], got["error"]
    assert got["ik_frames"] == len(clip) and got["gap_rows"] == 0
    pelvis, hip = np.array(got["pelvis_m"]), np.array(got["hip_marker_m"])
    assert np.abs((pelvis - pelvis[0]) - (hip - hip[0])).max() < 0.002  # IK follows the walk


def test_trc_layout_follows_opensims_reader_rules(tmp_path):
    clip, _ = grounded_clip()
    for names, units in (("pose2sim", "m"), ("poselift", "mm")):
        out, _ = export_clip(clip, "trc", tmp_path / f"{names}.trc", options=ExportOptions(marker_names=names, units=units))
        lines = out.read_text().split("\n")
        assert lines[0].split("\t")[:3] == ["PathFileType", "4", "(X/Y/Z)"] and lines[0].endswith("\t" + out.name)
        keys, values = lines[1].split("\t"), lines[2].split("\t")
        meta = dict(zip(keys, values))
        assert len(keys) == len(values) == 8 and meta["Units"] == units and float(meta["DataRate"]) == clip.fps
        n, j = int(meta["NumFrames"]), int(meta["NumMarkers"])
        labels = lines[3].rstrip("\t").split("\t")
        markers = [x for x in labels[2:] if x]
        assert labels[:2] == ["Frame#", "Time"] and len(markers) == j == len(set(markers)) == 17
        assert lines[4].split("\t")[2:5] == ["X1", "Y1", "Z1"] and lines[5] == ""
        rows = [ln for ln in lines[6:] if ln]
        assert len(rows) == n == len(clip)  # data starts at line 7, one row per frame
        for i, row in enumerate(rows):
            cells = row.split("\t")
            assert row.endswith("\t") and len(cells) == 2 + 3 * j + 1, f"line {7 + i}"
            assert int(cells[0]) == i + 1
            [float(c) for c in cells[1:-1]]  # every cell a number, a gap's as NaN
        assert np.isnan([float(c) for c in rows[40].split("\t")[2:-1]]).all()
        if names == "poselift":
            assert markers[:2] == ["pelvis", "right_hip"]
    clip, _ = grounded_clip(gaps=(0, 1, 40, 41))
    out, note = export_clip(clip, "trc", tmp_path / "model.trc", options=ExportOptions(units="mm"))
    lines = out.read_text().split("\n")
    meta = dict(zip(lines[1].split("\t"), lines[2].split("\t")))
    assert meta["Units"] == "mm" and meta["NumFrames"] == "88" and meta["OrigDataStartFrame"] == "3"
    assert [x for x in lines[3].rstrip("\t").split("\t")[2:] if x][:3] == ["LShoulder", "RShoulder", "LElbow"]
    rows = [ln.split("\t") for ln in lines[6:] if ln]
    assert len(rows) == 88 and [r[0] for r in rows[:2]] == ["3", "4"]  # the clip's frame numbers
    assert all(np.isfinite([float(c) for c in r[1:-1]]).all() for r in rows)  # gap 40-41 filled, 0-1 left out
    assert note == "Frames without the person (or a gap over 0.25 s) are left out: 0.00-0.03 s."


def test_c3d_gap_points_are_invalid_and_zero_not_the_previous_frame(tmp_path):
    import c3d
    clip, _ = grounded_clip()
    out, _ = export_clip(clip, "c3d", tmp_path / "m.c3d", options=ExportOptions(marker_names="pose2sim"))
    with open(out, "rb") as fh:
        frames = [points for _, points, _ in c3d.Reader(fh).read_frames()]
    assert len(frames) == len(clip)
    assert (frames[40][:, 3] == -1).all() and (frames[40][:, :3] == 0).all()
    assert (frames[39][:, 3] >= 0).all() and np.abs(frames[39][:, :3]).max() > 100
