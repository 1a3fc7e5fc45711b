import json
import subprocess
import sys

import numpy as np

from conftest import DATA, needs_h36m
from poselift.models.evaluate import evaluate, markdown_table, resample
from poselift.models.h36m import ACTIONS


def test_resample_marks_the_frames_that_coincide():
    kp = np.arange(51, dtype=float)[:, None, None] * np.ones((1, 17, 2))
    out, src = resample(kp, 25.0)
    assert np.allclose(out[:, 0, 0], np.arange(0, 51, 2)) and (src == np.arange(0, 51, 2)).all()
    out, src = resample(kp, 30.0)
    assert np.allclose(out[1, 0, 0], 50 / 30)  # interpolated between source frames
    assert (src[::3] == np.arange(0, 51, 5)[: len(src[::3])]).all() and (src[1::3] == -1).all()


@needs_h36m
def test_protocol_on_a_few_sequences(s9, random_weights):
    from poselift.models.checkpoint import load_weights
    model = load_weights(random_weights)
    seqs = [s for s in s9 if s.take == "Walking 1"][:2] + [s for s in s9 if s.take == "Eating"][:2]
    r = evaluate(model, seqs, "gt")
    assert r["frames"] == sum(len(s) for s in seqs)
    assert set(r["per_action"]) <= set(ACTIONS) and set(r["per_action"]) == {"Walking", "Eating"}
    m = r["mean"]
    assert m["p2"] <= m["p1"] and 0 <= m["pck"] <= 100 and m["accel"] > 0
    assert "S9 Discussion 1" in markdown_table(r)
    sh = evaluate(model, seqs, "sh", fps=25)
    assert sh["frames"] == sum((len(s) + 1) // 2 for s in seqs if s.sh16 is not None)
    wide = evaluate(model, seqs, "gt", hfov_guess=90)  # an uncalibrated user's guess, not the calibration
    assert wide["frames"] == r["frames"] and wide["mean"]["p1"] != m["p1"] and wide["hfov_guess"] == 90
    assert "intrinsics guessed from a 90° field of view" in markdown_table(wide)


@needs_h36m
def test_eval_command_writes_json_and_markdown(tmp_path):
    import torch

    from poselift.models.checkpoint import save_weights
    from poselift.models.lifter import LifterSpec, TemporalLifter
    tiny = tmp_path / "tiny.pt"
    torch.manual_seed(0)
    save_weights(tiny, TemporalLifter(LifterSpec(channels=16, levels=2)).eval())
    cmd = [sys.executable, "-m", "poselift", "eval", "--weights", str(tiny), "--data", str(DATA),
           "--subjects", "S9", "--suites", "h36m", "h36m-virtual", "--sources", "gt", "sh", "mp",
           "--json", str(tmp_path / "e.json"), "--markdown", str(tmp_path / "e.md")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    doc = json.loads((tmp_path / "e.json").read_text())
    runs = [(r["suite"], r["source"]) for r in doc["results"]]
    # SH detections exist for Human3.6M's own cameras only.
    assert runs == [("h36m", "gt"), ("h36m", "sh"), ("h36m", "mp"), ("h36m-virtual", "gt"), ("h36m-virtual", "mp")]
    assert len(doc["results"][0]["per_action"]) == 15
    assert doc["results"][0]["mean"]["p1"] != doc["results"][3]["mean"]["p1"]
    text = (tmp_path / "e.md").read_text()
    assert "| P1 (mm) |" in text and "| h36m-virtual | MP | 50 |" in text and "2 seeded random virtual" in text
