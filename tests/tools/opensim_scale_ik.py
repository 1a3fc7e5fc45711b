"""Scale Pose2Sim's model (Model_Pose2Sim_simple.osim, BlazePose markers) on a TRC and run inverse
kinematics on the whole file with Pose2Sim's shipped setups (Scaling_Setup_Pose2Sim_Blazepose.xml,
IK_Setup_Pose2Sim_Blazepose.xml: their measurements, marker weights and coordinate tasks; the file
names and time ranges are this TRC's, the static frames for scaling all of it unless given). With a
.mot, also reads it with OpenSim's Storage (what the GUI's Load Motion uses). Prints, as JSON after
"OPENSIM_IK ", the IK's coordinates (deg, pelvis_t* m) per frame, its marker errors and the scale factors.

    python tests/tools/opensim_scale_ik.py FILE.trc OUT_DIR [FILE.mot] [--static T0 T1] [--opensim DIR]
"""
import argparse
import json
import os
import shutil
from pathlib import Path

import opensim as osim

parser = argparse.ArgumentParser()
parser.add_argument("trc")
parser.add_argument("out")
parser.add_argument("mot", nargs="?")
parser.add_argument("--static", nargs=2, type=float, help="time range of the frames to scale on (s)")
parser.add_argument("--opensim", default=str(Path(__file__).resolve().parents[3] / "shared/data/pose2sim/opensim"))
args = parser.parse_args()
src, out = Path(args.opensim).resolve(), Path(args.out).resolve()
trc, mot = Path(args.trc).resolve(), args.mot and Path(args.mot).resolve()
out.mkdir(parents=True, exist_ok=True)
os.chdir(out)  # OpenSim's tools resolve files, and fail on long absolute paths, from the working folder
for name in ("Model_Pose2Sim_simple.osim", "Markers_BlazePose.xml", "Scaling_Setup_Pose2Sim_Blazepose.xml",
             "IK_Setup_Pose2Sim_Blazepose.xml"):
    shutil.copy(src / name, name)
shutil.copy(trc, "markers.trc")
report = {}
if mot:
    shutil.copy(mot, "motion.mot")
    storage = osim.Storage("motion.mot")
    labels = storage.getColumnLabels()
    report["storage"] = {"rows": storage.getSize(), "columns": [labels.get(i) for i in range(labels.getSize())],
                         "in_degrees": storage.isInDegrees(), "first_time": storage.getFirstTime(),
                         "last_time": storage.getLastTime()}

table = osim.TimeSeriesTableVec3("markers.trc")
times = list(table.getIndependentColumn())
model = osim.Model("Model_Pose2Sim_simple.osim")
model.updateMarkerSet(osim.MarkerSet("Markers_BlazePose.xml"))
model.initSystem()
scale = osim.ScaleTool("Scaling_Setup_Pose2Sim_Blazepose.xml")
scaler = scale.getModelScaler()
scaler.setMarkerFileName("markers.trc")
static = osim.ArrayDouble()
for t in (args.static or (times[0], times[-1])):
    static.append(t)
scaler.setTimeRange(static)
scaler.setPrintResultFiles(False)
report["scaled"] = bool(scaler.processModel(model, "", scale.getSubjectMass()))
model.initSystem()
bodies = model.getBodySet()
report["scale_factors"] = {}
for i in range(bodies.getSize()):
    b = bodies.get(i)
    if b.getName() in ("pelvis", "femur_r", "tibia_r", "calcn_r", "torso", "humerus_r"):
        report["scale_factors"][b.getName()] = [b.get_attached_geometry(0).get_scale_factors()[k] for k in range(3)] \
            if b.getPropertyByName("attached_geometry").size() else None

# The tool runs on the scaled model in memory (loaded back from a file, OpenSim 4.6's IK fails at random).
ik = osim.InverseKinematicsTool("IK_Setup_Pose2Sim_Blazepose.xml", False)
ik.setModel(model)
ik.setMarkerDataFileName("markers.trc")
ik.setStartTime(times[0])
ik.setEndTime(times[-1])
ik.setOutputMotionFileName("ik.mot")
ik.setResultsDir(".")
try:
    report["ok"], report["error"] = bool(ik.run()), None
except RuntimeError as e:
    report["ok"], report["error"] = False, str(e)
if report["ok"]:
    motion = osim.TimeSeriesTable("ik.mot")
    report["time"] = list(motion.getIndependentColumn())
    report["coordinates"] = {c: motion.getDependentColumn(c).to_numpy().tolist() for c in motion.getColumnLabels()}
    errors = next(Path(".").glob("*ik_marker_errors.sto"), None)
    if errors is not None:
        err = osim.TimeSeriesTable(str(errors))
        report["marker_rms_m"] = err.getDependentColumn("marker_error_RMS").to_numpy().tolist()
print("OPENSIM_IK " + json.dumps(report))
