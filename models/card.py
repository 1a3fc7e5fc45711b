"""Model cards: what a weights file is, how it was made, and what it measures, beside the weights."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import dataclasses

import torch
from torch.utils.flop_counter import FlopCounterMode

from .checkpoint import LIFTERS, load_weights
from .evaluate import METRIC_NAMES
from .h36m import MISSING_NOTE

LICENSE = "trained on Human3.6M: research/non-commercial use only (Human3.6M licence)"
BANDAI_LICENSE = ("trained on Human3.6M and the Bandai-Namco-Research-Motiondataset: research/non-commercial use "
                  "only (Human3.6M licence; Bandai data © 2022 Bandai Namco Research Inc., CC BY-NC 4.0)")


def _uses_bandai(config: dict) -> bool:
    aug = config.get("augment", {})
    return aug.get("virtual", 0) > 0 and aug.get("bandai", 0) > 0


def _training_stages(run: Path) -> list[dict]:
    """A run folder's stage, or, for a model card JSON (weights a run started from), that card's stages."""
    if run.suffix == ".json":
        return json.loads(run.read_text())["training"]["stages"]
    config = json.loads((run / "config.json").read_text())
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    steps = [r for r in log if "train/mpjpe" in r]
    # Wall-clock training time: the sum of gaps between log lines, leaving out pauses between resumed runs.
    times = [r["time"] for r in log]
    gaps = [b - a for a, b in zip(times, times[1:]) if 0 < b - a < 600]
    return [{"steps": steps[-1]["step"] if steps else 0, "hours_cpu": round(sum(gaps) / 3600, 2), "config": config}]


def macs_per_frame(model: torch.nn.Module) -> int:
    """Multiply-accumulates of one live step for one stream: what each new frame costs. A non-causal
    model is counted by its causal twin (the same layers, the band of frames on one side)."""
    if not getattr(model.spec, "causal", True):
        model = type(model)(dataclasses.replace(model.spec, causal=True))
    step = model.cpu().eval().step_module()
    rows = model.spec.num_joints + model.spec.root_features
    frame = torch.zeros(1, rows * 3)
    with torch.no_grad():
        state = step.prime(frame)
        with FlopCounterMode(display=False) as counter:
            step(frame, *state)
    return counter.get_total_flops() // 2


def describe(model: torch.nn.Module) -> str:
    """One line on what a lifter is: architecture, causality, frames it sees, size and cost."""
    params = sum(p.numel() for p in model.parameters())
    past, future = model.context
    if model.arch == "temporal_lifter":
        return (f"Causal temporal-convolution lifter: receptive field {model.spec.receptive_field} frames, "
                f"{params / 1e6:.2f} M parameters, {model.spec.channels} channels")
    seen = "one frame" if past + future == 0 else (
        f"causal, each frame sees the {past} before it" if not future else
        f"non-causal, each frame sees {past} frames before it and {future} after")
    return f"{LIFTERS[model.arch][2]} ({seen}), {params / 1e6:.2f} M parameters"


def write_card(weights: Path, eval_json: Path | list[Path], runs: list[Path], bench_json: Path | None, out: Path,
               notes: Path | None = None) -> tuple[Path, Path]:
    """Write ``out``.json (machine-readable) and ``out``.md (for people). ``runs`` are the training
    runs in order (a later one starting from an earlier one's weights; a model card JSON stands for
    the runs behind the weights it describes); ``eval_json``: one or more files from ``poselift eval
    --json``; ``notes`` (markdown) is appended to the card."""
    state = torch.load(weights, map_location="cpu", weights_only=True)
    params = sum(v.numel() for k, v in state["state_dict"].items() if not k.endswith(("running_mean", "running_var",
                                                                                        "num_batches_tracked")))
    evals = eval_json if isinstance(eval_json, list) else [eval_json]
    results = [r for path in evals for r in json.loads(path.read_text())["results"]]
    bench = json.loads(bench_json.read_text()) if bench_json else []
    stages = [stage for run in runs for stage in _training_stages(run)]
    config = stages[-1]["config"]
    steps, hours = sum(st["steps"] for st in stages), sum(st["hours_cpu"] for st in stages)
    takes = "" if config.get("validation") == "subject" else " second takes"
    bandai = any(_uses_bandai(st["config"]) for st in stages)
    validation = f"{config['validation_subject']}{takes}, held out" + (
        "; Bandai dataset-1 through seeded virtual cameras" if config.get("cross_validation") else "")
    standard = [r for r in results if r.get("suite", "h36m") == "h36m"]
    suites = [r for r in results if r.get("suite", "h36m") != "h36m"]
    model = load_weights(weights)
    card = {"weights": weights.name, "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
            "arch": model.arch, "architecture": describe(model), "spec": state["spec"],
            "receptive_field": model.context[0] + model.context[1] + 1, "parameters": params,
            "macs_per_frame": macs_per_frame(model),
            "license": BANDAI_LICENSE if bandai else LICENSE,
            "data": {"train": config["subjects"] + (["Bandai dataset-2"] if bandai else []), "validation": validation,
                     "test": ["S9", "S11"], "note": MISSING_NOTE},
            "training": {"steps": steps, "hours_cpu": round(hours, 2), "stages": stages},
            "evaluation": results, "bench": bench}
    form = "causal" if model.context[1] == 0 else "non-causal"
    json_path = out.with_suffix(".json")
    json_path.write_text(json.dumps(card, indent=2))

    lines = [f"# {weights.name}", "",
             f"{card['architecture']}; {card['macs_per_frame'] / 1e6:.2f} M multiply-accumulates per frame. "
             f"**{card['license']}.**", "",
             f"- sha256: `{card['sha256']}`",
             f"- trained: {' + '.join(str(st['steps']) for st in stages)} steps of {config['batch_size']} "
             f"windows, {hours:.1f} h on a 2-core CPU"
             + (f" ({len(stages)} schedules, each starting from the previous one's best weights)" if len(stages) > 1 else "")
             + f"; {', '.join(card['data']['train'])} (validation: {card['data']['validation']}); these "
             f"weights are the EMA at step {state['meta'].get('step', '?')} of the last schedule, "
             + ("the best on validation" if "val_score" in state["meta"] else "its latest (the run was stopped there)"),
             "",
             f"## Human3.6M, S9 and S11 ({form}, every frame"
             + (", each frame averaged with its mirror image)" if all(r.get("flip") for r in standard) else ")"), "",
             MISSING_NOTE, "",
             "| 2D input | fps | P1 (mm) | P2 (mm) | N-MPJPE | 3DPCK | AUC | Accel (mm/frame²) | uncertainty-error corr. |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in standard:
        m = r["mean"]
        lines.append(f"| {r['source'].upper()} | {r['fps']:g} | {m['p1']:.1f} | {m['p2']:.1f} | {m['n_mpjpe']:.1f} | "
                     f"{m['pck']:.1f} | {m['auc']:.1f} | {m.get('accel', float('nan')):.2f} | "
                     f"{m.get('uncertainty_corr', float('nan')):.2f} |")
    roots = [r for r in standard if "mrpe" in r["mean"]]
    if roots:
        lines += ["", "Trajectory head, the root's position in the camera frame (MRPE, mm): "
                  + ", ".join(f"{r['source'].upper()} {r['fps']:g} fps {r['mean']['mrpe']:.0f}" for r in roots) + "."]
    steps = {r.get("suite", "h36m"): r.get("sequence_step", 1) for r in results}
    if set(steps.values()) != {1}:
        full = [suite for suite, k in steps.items() if k == 1]
        lines += ["", "A subset for a short-trained model (`poselift eval --sequence-step K`, every K-th sequence; "
                  "8 keeps one take per action through the first camera): "
                  + ", ".join(f"{suite} every {k}" for suite, k in steps.items() if k > 1)
                  + (f"; {', '.join(full)} in full" if full else "") + "."]
    for r in standard:
        if r["fps"] == 50:
            actions = list(r["per_action"])
            lines += ["", f"Per action, {r['source'].upper()} 2D, 50 fps:", "",
                      "| metric | " + " | ".join(actions) + " | mean |", "|---" * (len(actions) + 2) + "|"]
            for key in ("p1", "p2"):
                vals = " | ".join(f"{r['per_action'][a][key]:.1f}" for a in actions)
                lines.append(f"| {METRIC_NAMES[key]} | {vals} | {r['mean'][key]:.1f} |")
    if suites:
        lines += ["", f"## Generalisation suites (`poselift eval --suites ...`, {form}, every frame)", "",
                  "Cameras, people and motions the standard protocol does not have: S9 and S11 filmed by seeded "
                  "random virtual cameras (2 per take), and Bandai dataset-1 (never trained on) by 4 per clip. "
                  "MP: ground-truth 2D with MediaPipe-shaped errors (seeded).", "",
                  "| suite | 2D input | fps | frames | P1 (mm) | P2 (mm) | 3DPCK | Accel (mm/frame²) |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in suites:
            m = r["mean"]
            lines.append(f"| {r['suite']} | {r['source'].upper()} | {r['fps']:g} | {r['frames']} | {m['p1']:.1f} | "
                         f"{m['p2']:.1f} | {m['pck']:.1f} | {m.get('accel', float('nan')):.2f} |")
    if bench:
        lines += ["", "## Speed (`poselift bench`, this machine's 2-core CPU, batch 1)", "",
                  "| stage | median (ms) | p90 (ms) |", "|---|---|---|"]
        lines += [f"| {b['stage']} | {b['median_ms']:.3f} | {b['p90_ms']:.3f} |" for b in bench if "median_ms" in b]
    if notes:
        lines += ["", notes.read_text().strip()]
    md_path = out.with_suffix(".md")
    md_path.write_text("\n".join(lines) + "\n")
    return json_path, md_path
