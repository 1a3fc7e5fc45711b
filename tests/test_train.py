import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from conftest import BANDAI, DATA, needs_bandai, needs_h36m

# Half the windows through virtual cameras (Human3.6M and Bandai world mocap), MediaPipe-shaped 2D,
# and the cross-dataset validation on Bandai dataset-1.
TINY = {"subjects": ["S1"], "validation_subject": "S1", "model": {"channels": 32, "levels": 2},
        "augment": {"virtual": 0.5, "bandai": 0.5, "jitter": 0.02, "swap": 0.1, "bone_scale": 0.05},
        "cross_validation": True, "batch_size": 32, "outputs_per_window": 4, "val_every": 2, "warmup_steps": 2,
        "checkpoint_minutes": 0.0, "threads": 1}


def run_train(tmp_path, steps, *launcher):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump({**TINY, "out": str(tmp_path / "run"), "steps": steps}))
    env = {**os.environ, "POSELIFT_DATA": str(DATA), "POSELIFT_BANDAI": str(BANDAI), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, *launcher, "-m", "poselift", "train", "--config", str(cfg), "--quiet"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def validation_steps(tmp_path):
    lines = (tmp_path / "run" / "log.jsonl").read_text().splitlines()
    return [r["step"] for r in map(json.loads, lines) if "val/p1_gt" in r]


@needs_h36m
@needs_bandai
def test_training_resumes_where_it_stopped(tmp_path):
    first = run_train(tmp_path, 4)
    assert first.returncode == 0, first.stderr
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["step"] == 4
    second = run_train(tmp_path, 8)
    assert second.returncode == 0, second.stderr
    assert validation_steps(tmp_path) == [2, 4, 6, 8]
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=True)
    assert best["arch"] == "temporal_lifter" and best["meta"]["val_score"] > 0
    lines = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert all(r["val/p1_cross"] > 0 for r in lines if "val/p1_gt" in r)


@needs_h36m
@needs_bandai
def test_two_process_gloo_run(tmp_path):
    result = run_train(tmp_path, 4, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517")
    assert result.returncode == 0, result.stderr[-2000:]
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert state["step"] == 4
    assert validation_steps(tmp_path) == [2, 4]  # logged once, by rank 0


def test_test_subjects_are_refused(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump({"subjects": ["S1", "S9"]}))
    result = subprocess.run([sys.executable, "-m", "poselift", "train", "--config", str(cfg)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "training subjects ['S9'] are test subjects" in result.stderr
    assert "Traceback" not in result.stderr


@needs_h36m
def test_refiner_trains_through_the_same_command(tmp_path):
    cfg = tmp_path / "refiner.yaml"
    cfg.write_text(yaml.safe_dump({
        "lifter": str(Path(__file__).resolve().parents[1] / "weights" / "lifter_tcn81.pt"),
        "out": str(tmp_path / "run"), "subjects": ["S1"], "validation_subject": "S1", "variants": 1,
        "model": {"window": 9, "hidden": 32, "blocks": 1}, "batch_size": 32, "steps": 4, "val_every": 2,
        "warmup_steps": 1, "checkpoint_minutes": 0.0, "threads": 1}))
    env = {**os.environ, "POSELIFT_DATA": str(DATA), "POSELIFT_BANDAI": str(BANDAI), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "poselift", "train", "--config", str(cfg), "--quiet"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=True)
    assert best["arch"] == "diffusion_refiner" and best["spec"]["window"] == 9
    lines = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines if "val/p1_refined" in r] == [2, 4]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["variants"] == 1


def test_bone_rescaling_changes_lengths_and_reprojects():
    from poselift.models.skeletons import H36M
    from poselift.models.windows import rescale_bones

    g = torch.Generator().manual_seed(0)
    rel = 300 * torch.randn(2, 3, 17, 3, generator=g)
    rel -= rel[:, :, :1].clone()
    root = torch.tensor([100.0, -50.0, 5000.0]) * torch.ones(2, 3, 1, 1)
    kp = (rel + root)[..., :2] / (rel + root)[..., 2:]
    same_kp, same_3d = rescale_bones(kp, rel, root, torch.ones(2, 17), 3)
    assert torch.allclose(same_kp, kp, atol=1e-6) and torch.allclose(same_3d, rel, atol=1e-3)

    knee, hip, ankle = H36M.index("left_knee"), H36M.index("left_hip"), H36M.index("left_ankle")
    factors = torch.ones(2, 17)
    factors[:, knee] = 1.2
    new_kp, new_3d = rescale_bones(kp, rel, root, factors, 2)

    def length(p, a, b):
        return (p[:, :, a] - p[:, :, b]).norm(dim=-1)
    assert torch.allclose(length(new_3d, knee, hip), 1.2 * length(rel[:, -2:], knee, hip), rtol=1e-4)
    assert torch.allclose(length(new_3d, ankle, knee), length(rel[:, -2:], ankle, knee), rtol=1e-4)
    projected = (new_3d + root[:, -2:])[..., :2] / (new_3d + root[:, -2:])[..., 2:]
    assert torch.allclose(new_kp[:, -2:], projected, atol=1e-5)
    assert not torch.allclose(new_kp, kp, atol=1e-4)


def test_validation_holds_out_takes_or_the_whole_subject():
    from types import SimpleNamespace

    from poselift.models.loop import split_sequences

    seqs = [SimpleNamespace(subject=s, take=t) for s in ("S1", "S8") for t in ("Walking", "Walking 1")]
    train, val = split_sequences(seqs, "S8")
    assert [(s.subject, s.take) for s in val] == [("S8", "Walking 1")] and len(train) == 3
    train, val = split_sequences(seqs, "S8", whole_subject=True)
    assert {s.subject for s in val} == {"S8"} and len(val) == 2 and {s.subject for s in train} == {"S1"}


def tiny_loop():
    """A tiny TCN's spec, a loss and a batch stream for the optimisation loop's own tests."""
    from poselift.models.lifter import LifterSpec

    spec = LifterSpec(channels=16, levels=1)

    def loss_fn(net, batch):
        pose, _ = net(batch)
        return pose.square().mean(), {}

    def batches(step):
        while True:
            yield torch.randn(2, spec.receptive_field, spec.num_joints, 3)

    return spec, loss_fn, batches


def test_training_starts_from_init_weights_of_the_same_architecture(tmp_path):
    from poselift.models.checkpoint import load_weights, save_weights
    from poselift.models.errors import ConfigError
    from poselift.models.lifter import LifterSpec, TemporalLifter
    from poselift.models.loop import LoopConfig, fit

    spec, loss_fn, batches = tiny_loop()
    torch.manual_seed(1)
    save_weights(tmp_path / "start.pt", TemporalLifter(spec))
    start = load_weights(tmp_path / "start.pt")
    cfg = LoopConfig(steps=2, lr=0.0, val_every=2, warmup_steps=1, init=str(tmp_path / "start.pt"))
    torch.manual_seed(2)
    best = fit(cfg, TemporalLifter(spec), tmp_path / "run", batches, loss_fn, lambda m: (1.0, {}), progress=False)
    trained = load_weights(best)
    # lr 0: the weights stay where they started (batch-norm statistics still move with the data)
    assert all(torch.equal(a, b) for a, b in zip(trained.parameters(), start.parameters()))
    assert not torch.equal(next(trained.parameters()), next(TemporalLifter(spec).parameters()))

    wider = TemporalLifter(LifterSpec(channels=32, levels=1))
    with pytest.raises(ConfigError, match="start.pt have the architecture"):
        fit(cfg, wider, tmp_path / "other", batches, loss_fn, lambda m: (1.0, {}), progress=False)


def test_a_time_budget_stops_the_run_validated_and_resumable(tmp_path):
    from poselift.models.lifter import TemporalLifter
    from poselift.models.loop import LoopConfig, fit

    spec, loss_fn, batches = tiny_loop()
    validated = []
    cfg = LoopConfig(steps=1000, val_every=1000, warmup_steps=1, max_minutes=1e-9)
    best = fit(cfg, TemporalLifter(spec), tmp_path / "run", batches, loss_fn,
               lambda m: (validated.append(1) or 1.0, {}), progress=False)
    last = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert last["step"] == 1 and validated == [1] and best.is_file()  # stopped at once, scored and saved
    fit(cfg, TemporalLifter(spec), tmp_path / "run", batches, loss_fn, lambda m: (2.0, {}), progress=False)
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["step"] == 2


@needs_h36m
@needs_bandai
def test_training_throughput_is_measured(tmp_path, monkeypatch):
    from poselift.engine.live.bench import format_table
    from poselift.models.train import load_train_config, measure_throughput
    monkeypatch.setenv("POSELIFT_DATA", str(DATA))
    monkeypatch.setenv("POSELIFT_BANDAI", str(BANDAI))
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump({**TINY, "out": str(tmp_path / "run")}))
    row = measure_throughput(load_train_config(str(cfg)), "cpu", steps=3)
    assert row["runs"] == 3 and row["windows_per_s"] > 0 and 0 < row["steps_per_s"] == pytest.approx(1000 / row["median_ms"])
    assert "Training step (cpu, batch 32): " in format_table([row])
