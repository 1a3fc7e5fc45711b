"""Joint and segment angles: conventions on constructed poses, the .mot (the OpenSim model's coordinates)
and angle CSV exports, the plots."""
import numpy as np
import pandas as pd
import pytest

from conftest import TEMPLATE, grounded_clip, synthetic_clip
from poselift.engine.outputs.export import ExportError, ExportOptions, export_clip
from poselift.models import opensim as mo
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


def test_mot_holds_the_opensim_models_coordinates_and_the_angle_csv_poselifts(tmp_path):
    clip, _ = grounded_clip(gaps=(0, 1, 40, 41, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69))
    out, note = export_clip(clip, "mot", tmp_path / "a.mot")
    assert note == "Frames without the person (or a gap over 0.25 s) are left out: 0.00-0.03 s, 2.00-2.30 s."
    lines = out.read_text().splitlines()
    kept = 90 - 2 - 10
    coordinates = [c for c in mo.COORDINATES if not c.startswith("ankle")]  # no MediaPipe 3D: no feet
    assert lines[:6] == ["a", "version=1", f"nRows={kept}", f"nColumns={len(coordinates) + 1}", "inDegrees=yes",
                         "endheader"]
    table = pd.read_csv(out, sep="\t", skiprows=6)
    assert list(table.columns) == ["time", *coordinates] and len(table) == kept and table.notna().all().all()
    assert np.allclose(table.time, [t for k, t in enumerate(clip.timestamps) if k > 1 and not 60 <= k <= 69])
    swing = table["hip_flexion_l"].to_numpy()
    assert swing.max() - swing.min() > 40 and abs(swing.mean()) < 5  # the legs swing +-0.4 rad (+-23 deg)
    assert np.corrcoef(swing, table["hip_flexion_r"])[0, 1] < -0.9  # in opposition
    assert table["knee_angle_r"].abs().max() < 6  # straight legs (the model's knee reads ~2 deg when straight)
    # the model faces the way the pelvis does (the camera), and the person moves 3 m to their left: the model's -Z
    assert np.ptp(table.pelvis_tx) < 0.02 and table.pelvis_tz.iloc[-1] - table.pelvis_tz.iloc[0] < -2.8
    _, note = export_clip(clip, "mot", tmp_path / "b.mot", options=ExportOptions(fill_gaps_s=0.5))
    assert note == "Frames without the person (or a gap over 0.5 s) are left out: 0.00-0.03 s."
    for old, options in ((synthetic_clip(), ExportOptions()), (clip, ExportOptions(frame="camera"))):
        with pytest.raises(ExportError, match="a .mot holds the OpenSim model's coordinates, which need the clip in "
                                              "the world: .* export --to angles"):
            export_clip(old, "mot", tmp_path / "c.mot", options=options)
    out, note = export_clip(synthetic_clip(), "angles", tmp_path / "a.csv")
    assert "camera as level" in note
    csv = pd.read_csv(out, comment="#")
    assert list(csv.columns[:3]) == ["frame", "time_s", ANGLE_NAMES[0]] and len(csv) == 60


def test_process_plots_are_pngs_that_break_and_shade_the_frames_without_the_person(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import cv2
    from matplotlib.figure import Figure

    from poselift.engine.outputs.plots import write_plots
    figures = []
    save = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: (figures.append(fig), save(fig, *a, **k))[1])
    clip, _ = grounded_clip(gaps=(40, 41, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69))
    paths = write_plots(clip, tmp_path, "walk")
    assert [p.name for p in paths] == ["walk_angles.png", "walk_trajectory.png"]
    for p in paths:
        image = cv2.imread(str(p))
        assert image is not None and image.shape[0] > 300 and image.std() > 10
    angles, trajectory = figures
    assert "no person 1.33-1.37 s, 2.00-2.30 s" in angles._suptitle.get_text()
    for ax in [*angles.axes, trajectory.axes[1]]:
        bands = [p.get_x() for p in ax.patches]  # axvspan's rectangles
        assert np.allclose(sorted(bands), [40 / 30 - 1 / 60, 2.0 - 1 / 60]), ax.get_title()
        for line in ax.get_lines():
            y = np.asarray(line.get_ydata(), float)
            assert np.isnan(y[60:70]).all() and np.isfinite(y[50:58]).all(), ax.get_title()  # broken, not joined
    root = trajectory.axes[0].get_lines()[0]
    assert np.isnan(np.asarray(root.get_xdata(), float)[60:70]).all()
    assert [p.name for p in write_plots(synthetic_clip(), tmp_path, "old")] == ["old_angles.png"]
