"""Model cards: what a weights file is, how it was made, and what it measures, beside the weights."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from .evaluate import METRIC_NAMES
from .h36m import MISSING_NOTE

LICENSE = "trained on Human3.6M: research/non-commercial use only (Human3.6M licence)"


def _training_stage(run: Path) -> dict:
    config = json.loads((run / "config.json").read_text())
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    steps = [r for r in log if "train/mpjpe" in r]
    # Wall-clock training time: the sum of gaps between log lines, leaving out pauses between resumed runs.
    times = [r["time"] for r in log]
    gaps = [b - a for a, b in zip(times, times[1:]) if 0 < b - a < 600]
    return {"steps": steps[-1]["step"] if steps else 0, "hours_cpu": round(sum(gaps) / 3600, 2), "config": config}


def write_card(weights: Path, eval_json: Path, runs: list[Path], bench_json: Path | None, out: Path,
               notes: Path | None = None) -> tuple[Path, Path]:
    """Write ``out``.json (machine-readable) and ``out``.md (for people). ``runs`` are the training
    runs in order (a later one starting from an earlier one's weights); ``notes`` (markdown) is
    appended to the card."""
    state = torch.load(weights, map_location="cpu", weights_only=True)
    params = sum(v.numel() for k, v in state["state_dict"].items() if not k.endswith(("running_mean", "running_var",
                                                                                        "num_batches_tracked")))
    results = json.loads(eval_json.read_text())["results"]
    bench = json.loads(bench_json.read_text()) if bench_json else []
    stages = [_training_stage(run) for run in runs]
    config = stages[-1]["config"]
    steps, hours = sum(st["steps"] for st in stages), sum(st["hours_cpu"] for st in stages)
    takes = "" if config.get("validation") == "subject" else " second takes"
    card = {"weights": weights.name, "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
            "architecture": "causal dilated temporal convolutions (streaming, cached)", "spec": state["spec"],
            "receptive_field": 3 ** state["spec"]["levels"], "parameters": params, "license": LICENSE,
            "data": {"train": config["subjects"], "validation": f"{config['validation_subject']}{takes}, held out",
                     "test": ["S9", "S11"], "note": MISSING_NOTE},
            "training": {"steps": steps, "hours_cpu": round(hours, 2), "stages": stages},
            "evaluation": results, "bench": bench}
    json_path = out.with_suffix(".json")
    json_path.write_text(json.dumps(card, indent=2))

    lines = [f"# {weights.name}", "",
             f"Causal temporal-convolution lifter: receptive field {card['receptive_field']} frames, "
             f"{params / 1e6:.2f} M parameters, {state['spec']['channels']} channels. **{LICENSE}.**", "",
             f"- sha256: `{card['sha256']}`",
             f"- trained: {' + '.join(str(st['steps']) for st in stages)} steps of {config['batch_size']} "
             f"windows, {hours:.1f} h on a 2-core CPU"
             + (f" ({len(stages)} schedules, each starting from the previous one's best weights)" if len(stages) > 1 else "")
             + f"; subjects {', '.join(config['subjects'])} (validation: {card['data']['validation']}); these "
             f"weights are the EMA at step {state['meta'].get('step', '?')} of the last schedule, the best on validation",
             "",
             "## Human3.6M, S9 and S11 (causal, every frame"
             + (", each frame averaged with its mirror image)" if all(r.get("flip") for r in results) else ")"), "",
             MISSING_NOTE, "",
             "| 2D input | fps | P1 (mm) | P2 (mm) | N-MPJPE | 3DPCK | AUC | Accel (mm/frame²) | uncertainty-error corr. |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        m = r["mean"]
        lines.append(f"| {r['source'].upper()} | {r['fps']:g} | {m['p1']:.1f} | {m['p2']:.1f} | {m['n_mpjpe']:.1f} | "
                     f"{m['pck']:.1f} | {m['auc']:.1f} | {m.get('accel', float('nan')):.2f} | "
                     f"{m.get('uncertainty_corr', float('nan')):.2f} |")
    for r in results:
        if r["fps"] == 50:
            actions = list(r["per_action"])
            lines += ["", f"Per action, {r['source'].upper()} 2D, 50 fps:", "",
                      "| metric | " + " | ".join(actions) + " | mean |", "|---" * (len(actions) + 2) + "|"]
            for key in ("p1", "p2"):
                vals = " | ".join(f"{r['per_action'][a][key]:.1f}" for a in actions)
                lines.append(f"| {METRIC_NAMES[key]} | {vals} | {r['mean'][key]:.1f} |")
    if bench:
        lines += ["", "## Speed (`poselift bench`, this machine's 2-core CPU, batch 1)", "",
                  "| stage | median (ms) | p90 (ms) |", "|---|---|---|"]
        lines += [f"| {b['stage']} | {b['median_ms']:.3f} | {b['p90_ms']:.3f} |" for b in bench if "median_ms" in b]
    if notes:
        lines += ["", notes.read_text().strip()]
    md_path = out.with_suffix(".md")
    md_path.write_text("\n".join(lines) + "\n")
    return json_path, md_path
