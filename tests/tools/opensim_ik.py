"""Read a TRC with OpenSim's own reader and run OpenSim's inverse kinematics on it: a model whose
pelvis body (free joint) carries the file's trunk markers as they sit in its first full frame. Prints, as
JSON, the table's size, how many of its rows are gaps, and the pelvis translation IK found per frame.

    python tests/tools/opensim_ik.py FILE.trc OUT_DIR     (with a Python that has opensim)
"""
import json
import math
import os
import sys
from pathlib import Path

import shutil

import opensim as osim

TRUNK = ("Hip", "LHip", "RHip", "Spine", "Neck", "LShoulder", "RShoulder")  # rigid on the pelvis body
trc, out = str(Path(sys.argv[-2]).resolve()), Path(sys.argv[-1]).resolve()
os.chdir(out)  # OpenSim writes its log, and resolves its files, in the working folder
# The IK tool fails on long absolute paths (std::string length errors), so every file it reads or
# writes is named relative to the working folder.
shutil.copy(trc, "markers.trc")
trc = "markers.trc"
table = osim.TimeSeriesTableVec3(trc)  # OpenSim's TRCFileAdapter: rejects a malformed file
labels = list(table.getColumnLabels())
times = list(table.getIndependentColumn())
rows = [[table.getRowAtIndex(i)[k] for k in range(len(labels))] for i in range(table.getNumRows())]
gap = [all(math.isnan(v[0]) for v in row) for row in rows]
first = gap.index(False)
units = table.getTableMetaDataAsString("Units")
to_m = {"m": 1.0, "mm": 0.001}[units]

model = osim.Model()
model.setName("markers_on_a_pelvis")
body = osim.Body("pelvis", 10.0, osim.Vec3(0), osim.Inertia(0.1, 0.1, 0.1))
model.addBody(body)
model.addJoint(osim.FreeJoint("free", model.getGround(), body))
origin = rows[first][0]
tracked = [n for n in labels if n in TRUNK] or labels
for name, p in zip(labels, rows[first]):
    if name in tracked:
        model.addMarker(osim.Marker(name, body, osim.Vec3(*[(p[k] - origin[k]) * to_m for k in range(3)])))
model.finalizeConnections()
model.initSystem()

last = len(gap) - 1 - gap[::-1].index(False)
# the model's markers all weigh 1. The tool runs on the model in memory: loaded back from a setup file,
# OpenSim 4.6's IK fails at random (basic_string::_M_create), depending on the environment's size.
ik = osim.InverseKinematicsTool()
ik.setModel(model)
ik.setMarkerDataFileName(trc)
ik.setStartTime(times[first])
ik.setEndTime(times[last])
ik.setOutputMotionFileName("ik.mot")
ik.setResultsDir(".")
try:
    ok, error = bool(ik.run()), None
except RuntimeError as e:  # OpenSim's IK cannot solve a frame in which no marker is seen
    ok, error = False, str(e)
report = {"ok": ok, "error": error, "rows": table.getNumRows(), "markers": labels, "gap_rows": sum(gap),
          "units": units}
if ok:
    motion = osim.TimeSeriesTable("ik.mot")
    tx = [motion.getDependentColumn(c).to_numpy().tolist() for c in ("free_coord_3", "free_coord_4", "free_coord_5")]
    report.update(ik_frames=motion.getNumRows(), pelvis_m=list(zip(*tx)),
                  hip_marker_m=[[rows[i][0][k] * to_m for k in range(3)] for i in range(first, last + 1)])
print("OPENSIM " + json.dumps(report))
