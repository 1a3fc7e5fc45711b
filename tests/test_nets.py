"""The lifter architectures beside the TCN: causal step == dense output, causality, the non-causal
forms, weights round trip, one streaming interface in the engine, the trajectory head, and each
architecture trained end to end by `poselift train` with its CI-sized config."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import BANDAI, DATA, needs_bandai, needs_h36m
from poselift.models.checkpoint import LIFTERS, load_weights, save_weights
from poselift.models.errors import WeightsError
from poselift.models.nets.tgraphnet import log_root_size, root_position

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"gentg_tgt": {"dim": 16, "heads": 2, "layers": 2, "window": 4},
         "dstformer": {"dim": 16, "heads": 2, "layers": 2, "window": 4},
         "tgraphnet": {"channels": 16, "dilations": (1, 2, 3)},
         "sparse_gcn_transformer": {"dim": 16, "heads": 2}}
NON_CAUSAL = ["gentg_tgt", "dstformer", "tgraphnet"]


def build(arch: str, **changes) -> torch.nn.Module:
    spec_class, model_class, _ = LIFTERS[arch]
    torch.manual_seed(0)
    return model_class(spec_class(**{**SMALL[arch], **changes})).eval()


def random_input(frames: int) -> torch.Tensor:
    x = torch.randn(2, frames, 18, 3)
    x[..., 2] = torch.rand(2, frames, 18)
    x[0, 5:9, 3, 2] = 0.0  # a joint lost for a few frames: the mask token
    x[..., 17, 2] = 0.0  # the pelvis row's third value is always 0
    return x


@pytest.mark.parametrize("arch", SMALL)
def test_primed_streaming_step_equals_dense_output(arch):
    """The live step, primed with the first frame, gives what the edge-padded window gives densely."""
    model, frames = build(arch), 30
    x = random_input(frames)
    past, future = model.context
    assert future == 0
    with torch.no_grad():
        dense, dense_ls = model(torch.cat([x[:, :1].expand(-1, past, -1, -1), x], 1))
        step = model.step_module()
        state, poses = step.prime(x[:, 0].flatten(1)), []
        for t in range(frames):
            pose, log_scale, *state = step(x[:, t].flatten(1), *state)
            poses.append(pose)
    assert dense.shape == (2, frames, 17, 3)
    assert torch.allclose(torch.stack(poses, 1), dense, atol=1e-3)
    assert torch.allclose(log_scale, dense_ls[:, -1], atol=1e-4)
    assert (dense[..., 0, :] == 0).all()


@pytest.mark.parametrize("arch", SMALL)
def test_output_depends_only_on_the_past(arch):
    model = build(arch)
    x = random_input(40)
    y = x.clone()
    y[:, 35:, :, :2] += 1.0
    with torch.no_grad():
        a, _ = model(x)
        b, _ = model(y)
    changed = 35 - model.context[0]  # the first output frame that sees frame 35
    assert torch.equal(a[:, :changed], b[:, :changed])
    assert not torch.allclose(a[:, changed], b[:, changed])


@pytest.mark.parametrize("arch", NON_CAUSAL)
def test_non_causal_form_sees_both_sides_and_does_not_stream(arch):
    model = build(arch, causal=False, **({} if arch == "tgraphnet" else {"window": 5}))
    past, future = model.context
    assert past == future > 0
    x = random_input(2 * past + 5)
    with torch.no_grad():
        a, _ = model(x)
        y = x.clone()
        y[:, -1, :, :2] += 1.0  # the last frame is in the future of the last output frame
        b, _ = model(y)
    assert a.shape[1] == 5 and not torch.allclose(a[:, -1], b[:, -1])
    with pytest.raises(WeightsError, match="non-causal form"):
        model.step_module()


@pytest.mark.parametrize("arch", SMALL)
def test_weights_round_trip_and_the_engine_streams_any_architecture(arch, tmp_path):
    """Saved weights name their architecture; the engine's backend steps them through the same
    interface as the TCN, and a live stream reproduces the evaluation's causal prediction."""
    from poselift.engine.live.backends import make_backend
    from poselift.models.evaluate import predict_sequence
    from poselift.models.lifter import input_from_rows, window_2d

    path = tmp_path / f"{arch}.pt"
    save_weights(path, build(arch))
    model = load_weights(path)
    assert model.arch == arch and type(model) is LIFTERS[arch][1]
    rng = np.random.default_rng(0)
    kp = (rng.normal(0, 0.1, (25, 17, 2)) + np.linspace(0, 0.2, 25)[:, None, None]).astype(np.float32)
    rows = window_2d(kp, np.ones((25, 17), np.float32))
    expected, sigma = predict_sequence(model, rows, flip=True)
    backend = make_backend("eager", model, flip=True)
    streamed = [backend.step(input_from_rows(rows[t], model.spec).numpy()) for t in range(25)]
    assert np.allclose(np.stack([p for p, _ in streamed]), expected, atol=1e-3)
    assert np.allclose(np.stack([s for _, s in streamed]), sigma, rtol=1e-3)


def test_onnx_backend_runs_a_cached_attention_step():
    pytest.importorskip("onnxruntime")
    from poselift.engine.live.backends import make_backend

    model, x = build("dstformer"), np.random.default_rng(1).normal(0, 0.3, (6, 18, 3)).astype(np.float32)
    x[:, 17, 2] = 0.0
    eager, onnx = make_backend("eager", model), make_backend("onnx", model)
    for t in range(6):
        a, b = eager.step(x[t]), onnx.step(x[t])
        assert np.allclose(a[0], b[0], atol=1e-2) and np.allclose(a[1], b[1], rtol=1e-3)


def test_root_position_inverts_the_trajectory_target():
    kp = torch.randn(5, 17, 2) * 0.1 + torch.tensor([0.2, -0.1])
    conf = torch.rand(5, 17)
    depth = torch.linspace(2000, 6000, 5)
    root = torch.cat([kp[:, 0] * depth[:, None], depth[:, None]], -1)
    assert torch.allclose(root_position(log_root_size(root, kp, conf), kp, conf), root, rtol=1e-4)


@needs_h36m
@needs_bandai
def test_sampler_root_is_where_the_pelvis_is_seen():
    """With a root, the sampler's roots project onto the windows' pelvis (mirrored windows too)."""
    from poselift.models.bandai import load_bandai
    from poselift.models.h36m import load_sequences
    from poselift.models.windows import Augment, WindowSampler

    sampler = WindowSampler(load_sequences(["S1"], DATA)[:4], 12, outputs=3, clips={"bandai": load_bandai(2, BANDAI)[:20]})
    kp, conf, target, root = sampler.sample(64, torch.Generator().manual_seed(0),
                                            Augment(virtual=1.0, flip=0.5, hip_spread=0.0), with_root=True)
    assert root.shape == (64, 3, 3) and (root[..., 2] > 0).all()
    seen = kp[:, -3:, 0]
    assert torch.allclose(root[..., :2] / root[..., 2:], seen, atol=1e-4)


@needs_h36m
def test_evaluation_scores_the_trajectory_head(s9):
    from poselift.models.evaluate import evaluate, markdown_table

    seqs = [s for s in s9 if s.take == "Walking 1"][:1]
    result = evaluate(build("tgraphnet"), seqs, "gt", flip=True)
    assert result["mean"]["mrpe"] > 0 and "MRPE" in markdown_table(result)
    assert "mrpe" not in evaluate(build("dstformer"), seqs, "gt")["mean"]


@needs_h36m
@needs_bandai
@pytest.mark.parametrize("arch", SMALL)
def test_each_architecture_trains_end_to_end(arch, tmp_path):
    env = {**os.environ, "POSELIFT_DATA": str(DATA), "POSELIFT_BANDAI": str(BANDAI), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "poselift", "train", "--config", str(ROOT / "assets/configs/ci" / f"{arch}.yaml"),
           "--out", str(tmp_path / "run"), "--quiet"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    best = load_weights(tmp_path / "run" / "best.pt")
    assert best.arch == arch
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "val/p1_gt" in r] == [2, 4]
    assert all(np.isfinite(r["val/p1_sh"]) for r in log if "val/p1_sh" in r)
    from poselift.models.train import export_latest, load_train_config
    latest = export_latest(load_train_config(str(ROOT / "assets/configs/ci" / f"{arch}.yaml"), {"out": str(tmp_path / "run")}),
                           tmp_path / "latest.pt")
    assert torch.load(latest, weights_only=True)["meta"] == {"step": 4}
    assert load_weights(latest).arch == arch


@needs_h36m
@needs_bandai
def test_a_non_causal_form_trains_end_to_end(tmp_path):
    """`causal: false` trains through the same command: windows carry the future frames it needs."""
    import yaml

    config = yaml.safe_load((ROOT / "assets/configs/ci/tgraphnet.yaml").read_text())
    config["model"]["causal"] = False
    (tmp_path / "centred.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "POSELIFT_DATA": str(DATA), "POSELIFT_BANDAI": str(BANDAI), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "poselift", "train", "--config", str(tmp_path / "centred.yaml"),
           "--out", str(tmp_path / "run"), "--quiet"]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    best = load_weights(tmp_path / "run" / "best.pt")
    assert not best.spec.causal and best.context == (4, 4)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["val/p1_gt"]) for r in log if "val/p1_gt" in r)


@pytest.mark.parametrize("arch", ["dstformer", "tgraphnet"])
def test_dense_evaluation_in_chunks_equals_one_pass(arch, monkeypatch):
    """Evaluation runs long sequences in chunks (attention over time costs a chunk's length squared);
    the chunk borders change nothing."""
    from poselift.models.evaluate import predict_sequence
    from poselift.models.lifter import window_2d

    model = build(arch)
    rng = np.random.default_rng(2)
    rows = window_2d(rng.normal(0, 0.1, (70, 17, 2)).astype(np.float32), np.ones((70, 17), np.float32))
    whole, _ = predict_sequence(model, rows, flip=False)
    monkeypatch.setattr(model, "eval_chunk", 16)
    chunked, _ = predict_sequence(model, rows, flip=False)
    assert np.allclose(chunked, whole, atol=1e-3)


@pytest.mark.parametrize("arch", ["dstformer", "tgraphnet"])
def test_evaluation_of_a_non_causal_form_centres_every_frame(arch, monkeypatch):
    """`poselift eval` of non-causal weights: every frame is scored from the window centred on it, the
    ends padded with copies of the first and last frame, in chunks as for a causal one."""
    from poselift.models.evaluate import predict_sequence
    from poselift.models.lifter import input_from_rows, window_2d

    model = build(arch, causal=False, **({} if arch == "tgraphnet" else {"window": 5}))
    past, future = model.context
    rng = np.random.default_rng(3)
    rows = window_2d(rng.normal(0, 0.1, (40, 17, 2)).astype(np.float32), np.ones((40, 17), np.float32))
    pose, sigma = predict_sequence(model, rows, flip=False)
    assert pose.shape == (40, 17, 3) and sigma.shape == (40, 17)
    x = input_from_rows(rows, model.spec)
    with torch.no_grad():
        centred, _ = model(x[20 - past: 21 + future][None])
        last, _ = model(torch.cat([x[-1 - past:], x[-1:].expand(future, -1, -1)])[None])
    assert np.allclose(pose[20], centred[0, 0].numpy(), atol=1e-3)
    assert np.allclose(pose[-1], last[0, 0].numpy(), atol=1e-3)
    monkeypatch.setattr(model, "eval_chunk", 16)
    assert np.allclose(predict_sequence(model, rows, flip=False)[0], pose, atol=1e-3)


def test_the_non_causal_form_starts_from_the_causal_forms_weights(tmp_path):
    """`init:` accepts the other form of the same architecture (they share their parameters)."""
    from poselift.models.loop import LoopConfig, fit

    save_weights(tmp_path / "causal.pt", build("dstformer", window=5))
    centred = build("dstformer", window=5, causal=False)
    frames = sum(centred.context) + 3

    def batches(step):
        while True:
            yield random_input(frames)

    cfg = LoopConfig(steps=1, lr=0.0, val_every=1, warmup_steps=1, init=str(tmp_path / "causal.pt"))
    best = load_weights(fit(cfg, centred, tmp_path / "run", batches, lambda net, b: (net(b)[0].square().mean(), {}),
                            lambda m: (1.0, {}), progress=False))
    assert not best.spec.causal and best.context == (4, 4)
    assert all(torch.equal(a, b) for a, b in zip(best.parameters(), load_weights(tmp_path / "causal.pt").parameters()))


@pytest.mark.parametrize("arch", SMALL)
def test_many_streams_step_at_once_as_the_live_step(arch):
    """The batched route steps streams of different lengths together, dropping finished ones from the
    state (streams first in every architecture's state); each gets what its own live stream gets."""
    from poselift.engine.live.backends import make_backend
    from poselift.engine.offline.batch_lift import BatchLifter, Track2D
    from poselift.models.lifter import normalize_2d

    model = build(arch)
    rng = np.random.default_rng(1)
    streams = [normalize_2d(torch.tensor(rng.normal(0, 0.1, (n, 17, 2)), dtype=torch.float32), torch.rand(n, 17),
                            True).numpy() for n in (12, 3, 7)]
    lifted = BatchLifter(model, flip=True, max_streams=4).lift([Track2D([], streams)])[0]
    for pose, stream in zip(lifted.poses, streams):
        live = make_backend("eager", model, flip=True)
        np.testing.assert_allclose(pose, np.stack([live.step(x)[0] for x in stream]), atol=1e-3)


@pytest.mark.parametrize("name", ["gentg_tgt", "gentg_tgt_noncausal", "dstformer", "dstformer_noncausal",
                                  "tgraphnet", "tgraphnet_noncausal", "sparse_gcn_transformer"])
def test_shipped_weights_match_their_cards(name):
    """Every shipped architecture's weights load, and their card describes exactly these weights."""
    import hashlib

    path = ROOT / "weights" / f"{name}.pt"
    model = load_weights(path)
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert card["arch"] == model.arch and card["spec"].get("causal", True) is (not name.endswith("_noncausal"))
    assert {r["suite"] for r in card["evaluation"]} == {"h36m", "h36m-virtual", "bandai1-virtual"}


def test_bench_compares_lifters_taking_turns(tmp_path):
    """`bench --compare` times several lifters' live steps in one run and gives each one's ratio to the
    first; a non-causal form is refused in one sentence."""
    weights = ROOT / "weights"
    cmd = [sys.executable, "-m", "poselift", "bench", "--weights", str(weights / "lifter_tcn81.pt"),
           "--compare", str(weights / "sparse_gcn_transformer.pt"), "--steps", "60", "--json", str(tmp_path / "b.json")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    tcn, sparse = json.loads((tmp_path / "b.json").read_text())
    assert "lifter_tcn81.pt" in tcn["stage"] and "sparse_gcn_transformer.pt" in sparse["stage"]
    assert tcn["runs"] == sparse["runs"] == 48 and tcn["x_first"] == 1.0
    assert sparse["x_first"] == pytest.approx(sparse["median_ms"] / tcn["median_ms"])
    assert f"({sparse['x_first']:.2f}x the first)" in result.stdout
    refused = subprocess.run(cmd[:-4] + [str(weights / "gentg_tgt_noncausal.pt")], capture_output=True, text=True,
                             timeout=300)
    assert refused.returncode == 2 and "non-causal form, which needs future frames" in refused.stderr
