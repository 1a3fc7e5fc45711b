"""Latency measurements: medians and 90th percentiles, never single runs."""
from __future__ import annotations

import time

import numpy as np
import torch

from ..models.lifter import LifterStep, TemporalLifter, normalize_2d


def _stats(name: str, seconds: list[float], **extra) -> dict:
    ms = np.asarray(seconds) * 1000
    return {"stage": name, "median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)),
            "runs": len(ms), **extra}


@torch.no_grad()
def bench_lifter_step(model: TemporalLifter, steps: int = 2000, threads: int = 1) -> list[dict]:
    """Time one live step (2D normalisation + cached temporal step), batch 1, on the CPU."""
    torch.set_num_threads(threads)
    step = LifterStep(model.cpu().eval())
    state = step.initial_state()
    rng = np.random.default_rng(0)
    kp = torch.from_numpy(rng.normal(0, 0.1, (steps, model.spec.num_joints, 2)).astype(np.float32))
    conf = torch.ones(steps, model.spec.num_joints)
    times = []
    for i in range(steps):
        t0 = time.perf_counter()
        x = normalize_2d(kp[i], conf[i]).reshape(-1)
        _, _, *state = step(x, *state)
        times.append(time.perf_counter() - t0)
    warm = min(100, steps // 10)
    return [_stats("lifter step (eager, cpu)", times[warm:], threads=threads,
                   receptive_field=model.spec.receptive_field)]


def format_table(rows: list[dict]) -> str:
    lines = ["| stage | median (ms) | p90 (ms) | runs |", "|---|---|---|---|"]
    lines += [f"| {r['stage']} | {r['median_ms']:.3f} | {r['p90_ms']:.3f} | {r['runs']} |" for r in rows]
    return "\n".join(lines)
