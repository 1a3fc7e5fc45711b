"""Joint and segment angles: conventions on constructed poses, the .mot and angle CSV exports, the plots."""
import numpy as np
import pandas as pd
import pytest

from conftest import TEMPLATE, grounded_clip, synthetic_clip
from poselift.engine.outputs.export import export_clip
from poselift.models.angles import ANGLE_NAMES, angle_difference, joint_angles
from poselift.models.skeletons import H36M

STAND = np.array(TEMPLATE, float) * [1, -1, -1]  # Y up, facing +Z (the camera), left at +X
h = H36M.index


def rotate_about(points, centre, axis, degrees):
    from scipy.spatial.transform import Rotation
    return Rotation.from_rotvec(np.radians(degrees) * np.asarray(axis, float)).apply(points - centre) + centre


def test_standing_straight_reads_zero_and_each_angle_moves_its_way():
    a = joint_angles(STAND)
    assert set(a) == set(ANGLE_NAMES)
    for name in ("hip_flexion_l", "knee_flexion_r", "trunk_flexion", "pelvis_tilt", "pelvis_obliquity", "pelvis_rotation"):
        assert abs(a[name]) < 0.5, name
    pose = STAND.copy()  # left thigh 30 deg forward (towards +Z, where the body faces), knee bent 40 deg back
    leg = [h("left_knee"), h("left_ankle")]
    pose[leg] = rotate_about(pose[leg], pose[h("left_hip")], [-1, 0, 0], 30)
    pose[[h("left_ankle")]] = rotate_about(pose[[h("left_ankle")]], pose[h("left_knee")], [1, 0, 0], 70)
    a = joint_angles(pose)
    assert abs(a["hip_flexion_l"] - 30) < 0.5 and abs(a["knee_flexion_l"] - 70) < 0.5 and abs(a["hip_flexion_r"]) < 0.5
    out = STAND.copy()  # right arm raised sideways 90 deg
    arm = [h("right_elbow"), h("right_wrist")]
    out[arm] = rotate_about(out[arm], out[h("right_shoulder")], [0, 0, 1], -90)
    assert joint_angles(out)["shoulder_abduction_r"] > 80
    lean = rotate_about(STAND, STAND[0], [1, 0, 0], 20)  # the whole body pitched forward 20 deg
    a = joint_angles(lean)
    assert abs(a["trunk_flexion"] - 20) < 0.5 and abs(a["pelvis_tilt"] - 20) < 0.5
    turned = rotate_about(STAND, STAND[0], [0, 1, 0], 90)
    assert abs(joint_angles(turned)["pelvis_rotation"] - 90) < 0.5
    assert angle_difference(179.0, -179.0) == pytest.approx(-2.0)


def test_mot_and_angle_csv_exports(tmp_path):
    clip, _ = grounded_clip()
    out, note = export_clip(clip, "mot", tmp_path / "a.mot")
    assert note is None
    lines = out.read_text().splitlines()
    assert lines[:6] == ["a.mot", "version=1", f"nRows={len(clip)}", f"nColumns={len(ANGLE_NAMES) + 1}",
                         "inDegrees=yes", "endheader"]
    table = pd.read_csv(out, sep="\t", skiprows=6)
    assert list(table.columns) == ["time", *ANGLE_NAMES] and len(table) == len(clip)
    assert table.loc[40].isna().sum() == len(ANGLE_NAMES)  # a gap stays a gap
    swing = table["hip_flexion_l"].to_numpy()
    assert np.nanmax(swing) - np.nanmin(swing) > 30  # the legs swing +-0.4 rad
    out, note = export_clip(synthetic_clip(), "angles", tmp_path / "a.csv")
    assert "camera as level" in note
    csv = pd.read_csv(out, comment="#")
    assert list(csv.columns[:3]) == ["frame", "time_s", ANGLE_NAMES[0]] and len(csv) == 60


def test_process_plots_are_pngs(tmp_path):
    pytest.importorskip("matplotlib")
    import cv2

    from poselift.engine.outputs.plots import write_plots
    clip, _ = grounded_clip()
    paths = write_plots(clip, tmp_path, "walk")
    assert [p.name for p in paths] == ["walk_angles.png", "walk_trajectory.png"]
    for p in paths:
        image = cv2.imread(str(p))
        assert image is not None and image.shape[0] > 300 and image.std() > 10
    assert [p.name for p in write_plots(synthetic_clip(), tmp_path, "old")] == ["old_angles.png"]
