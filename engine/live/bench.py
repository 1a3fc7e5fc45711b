"""`poselift bench`: per-stage latency, end-to-end throughput, capture-to-result latency and memory.
Every figure is a median with its 90th percentile over many runs, measured in one process."""
from __future__ import annotations

import resource
import time
from pathlib import Path

import numpy as np
import torch

from ...models.lifter import IN_FEATURES, input_from_rows, normalize_2d, window_2d
from ...models.refiner import Denoiser
from ...models.skeletons import H36M, MEDIAPIPE, mapping_weights
from .backends import BackendUnavailable, LifterBackend, make_backend
from .fusion import WEIGHTINGS, Fusion
from .pipeline import Pipeline
from .refine import RefineSettings, StreamingRefiner
from .sources import VideoFileSource


def stats(name: str, seconds: list[float], **extra) -> dict:
    ms = np.asarray(seconds) * 1000
    return {"stage": name, "median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)),
            "runs": len(ms), **extra}


def rss_mb() -> float:
    """Resident memory now (Linux /proc), in MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _random_keypoints(model: torch.nn.Module, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded stream of 2D keypoints (normalised image coordinates) and confidences."""
    j = model.spec.num_joints
    kp = np.random.default_rng(0).normal(0, 0.1, (steps, j, 2)).astype(np.float32)
    return kp, np.ones((steps, j), np.float32)


@torch.no_grad()
def bench_lifter(model: torch.nn.Module, backends: list[str], steps: int = 2000, device: str | None = None,
                 flip: bool = True, people: int = 1) -> list[dict]:
    """One live step per backend (2D normalisation + cached temporal step, with ``flip`` for the
    frame and its mirror image, as live by default), for ``people`` people batched in one call."""
    torch.set_num_threads(1)  # as live: MediaPipe and decoding need the other cores
    kp, conf = _random_keypoints(model, steps)
    rows = []
    for name in backends:
        try:
            backend = make_backend(name, model, device, flip)
        except BackendUnavailable as e:
            rows.append({"stage": f"lifter step ({name})", "skipped": str(e)})
            continue
        times = [_step_seconds(backend, model, kp[i], conf[i], people) for i in range(steps)]
        mirror = ", + mirror image" if flip else ", no mirror image"
        who = f", {people} people in one batch" if people > 1 else ""
        rows.append(stats(f"lifter step ({name}, {backend.device.type}{mirror}{who})", times[_warm(steps):],
                          receptive_field=model.context[0] + 1))
    return rows


@torch.no_grad()
def bench_lifters_interleaved(models: dict[str, torch.nn.Module], steps: int = 2000, flip: bool = True) -> list[dict]:
    """The eager live step of several lifters, taking turns frame by frame (the turn order rotating), so
    that a shared machine's slow spells fall on all of them alike; each row's ``x_first`` is its
    median over the first lifter's."""
    torch.set_num_threads(1)
    backends = {name: make_backend("eager", model, None, flip) for name, model in models.items()}
    inputs = {name: _random_keypoints(model, steps) for name, model in models.items()}
    times: dict[str, list[float]] = {name: [] for name in models}
    names = list(models)
    for i in range(steps):
        for name in names[i % len(names):] + names[: i % len(names)]:
            kp, conf = inputs[name]
            times[name].append(_step_seconds(backends[name], models[name], kp[i], conf[i]))
    mirror = "+ mirror image" if flip else "no mirror image"
    rows = [stats(f"lifter step ({name}, eager, {mirror})", t[_warm(steps):]) for name, t in times.items()]
    for row in rows:
        row["x_first"] = row["median_ms"] / rows[0]["median_ms"]
    return rows


def _step_seconds(backend: LifterBackend, model: torch.nn.Module, kp: np.ndarray, conf: np.ndarray,
                  people: int = 1) -> float:
    """One live step as the engine takes it: the frame's 2D normalised, then ``people`` streams stepped."""
    t0 = time.perf_counter()
    x = normalize_2d(torch.from_numpy(kp), torch.from_numpy(conf), model.spec.root_features).numpy()
    backend.step_streams({person: x for person in range(people)})
    return time.perf_counter() - t0


def _warm(steps: int) -> int:
    return min(200, steps // 5)  # the first steps include compilation and allocation


@torch.no_grad()
def bench_streams(model: torch.nn.Module, streams: list[int], device: str = "cpu", compiled: bool = False,
                  max_steps: int = 2000, seconds: float = 2.0) -> list[dict]:
    """The streaming step for S streams at once (S people, or videos, one frame each; no mirror
    image): ms per step and person-frames per second. Each S runs for about ``seconds`` (at least 10
    steps, at most ``max_steps``) after 5 warm-up steps; on a GPU every step is waited for.
    ``compiled``: torch.compile, with CUDA graphs on a GPU. On the CPU one thread, as each worker lifts."""
    torch.set_num_threads(1)
    module = model.cpu().eval().step_module().to(device)
    run = torch.compile(module, mode="reduce-overhead" if device == "cuda" else "default", fullgraph=True,
                        dynamic=False) if compiled else module
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    rows = []
    for s in streams:
        frame = torch.randn(s, (model.spec.num_joints + model.spec.root_features) * IN_FEATURES, device=device)
        state = module.prime(frame)
        times: list[float] = []
        while len(times) < 5 + max_steps and (len(times) < 15 or sum(times[5:]) < seconds):
            t0 = time.perf_counter()
            _, _, *state = run(frame, *state)
            if compiled:
                state = [x.clone() for x in state]  # CUDA-graph outputs are overwritten by the next replay
            sync()
            times.append(time.perf_counter() - t0)
        kind = "compiled" if compiled else "eager"
        row = stats(f"lifter step, {s} streams ({kind}, {device})", times[5:], streams=s, device=device, step=kind,
                    threads=torch.get_num_threads())
        row["person_frames_per_s"] = s / (row["median_ms"] / 1000)
        rows.append(row)
    return rows


def format_streams_table(rows: list[dict]) -> str:
    lines = ["| device | step | streams | ms per step (median) | p90 | person-frames/s |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['device']} | {r['step']} | {r['streams']} | {r['median_ms']:.3f} | {r['p90_ms']:.3f} | "
                     f"{r['person_frames_per_s']:,.0f} |")
    return "\n".join(lines)


@torch.no_grad()
def bench_refiner(lifter: torch.nn.Module, refiner: Denoiser, settings: list[RefineSettings], steps: int = 1000
                  ) -> list[dict]:
    """The refine step beside the eager lifter step it follows, timed in the same loop, batch 1.
    Threshold 0 resamples every joint: the most a frame can cost."""
    torch.set_num_threads(1)
    kp, conf = _random_keypoints(lifter, steps)
    backend = make_backend("eager", lifter)
    stages = [StreamingRefiner(refiner, s) for s in settings]
    lifter_times, refine_times = [], [[] for _ in stages]
    for i in range(steps):
        t0 = time.perf_counter()
        rows = window_2d(kp[i], conf[i])
        pose, sigma = backend.step(input_from_rows(rows, lifter.spec).numpy())
        lifter_times.append(time.perf_counter() - t0)
        for stage, times in zip(stages, refine_times):
            t0 = time.perf_counter()
            stage(pose, sigma, rows)
            times.append(time.perf_counter() - t0)
    warm = _warm(steps)
    base = stats("lifter step (eager, cpu), beside the refiner", lifter_times[warm:])
    rows = [base]
    for s, times in zip(settings, refine_times):
        row = stats(f"refine step ({s.steps} DDIM steps, {s.hypotheses} hypotheses, threshold "
                    f"{s.threshold_mm:g} mm)", times[warm:])
        row["x_lifter_step"] = row["median_ms"] / base["median_ms"]
        rows.append(row)
    return rows


@torch.no_grad()
def bench_fusion(lifter: torch.nn.Module, steps: int = 2000, flip: bool = True) -> list[dict]:
    """The fusion with MediaPipe's 3D beside the eager lifter step it follows, in the same loop, one person:
    the lifter step, each weighting's fusion step, and the two together against the lifter step alone.
    The weightings take turns, each right after a lifter step, as the pipeline runs it (a second fusion
    in the same step ran 25 % faster, on what the first left in the cache). MediaPipe's 3D is the lift
    spread onto its 33 landmarks with 60 mm of noise per axis (its errors on real video are 69-89 mm RMS,
    docs/fusion.md), so the robust weighting leaves out what it would."""
    torch.set_num_threads(1)
    kp, conf = _random_keypoints(lifter, steps)
    spread = np.linalg.pinv(mapping_weights(MEDIAPIPE.name, H36M.name, 3))  # (33, 17)
    noise = np.random.default_rng(1).normal(0, 60, (steps, MEDIAPIPE.num_joints, 3))
    backend = make_backend("eager", lifter, None, flip)
    fusions = [Fusion(w) for w in WEIGHTINGS]
    lifter_times, fusion_times = [], []
    no_swap = np.zeros(lifter.spec.num_joints, bool)
    for i in range(steps):
        t0 = time.perf_counter()
        pose, sigma = backend.step(normalize_2d(torch.from_numpy(kp[i]), torch.from_numpy(conf[i]),
                                                lifter.spec.root_features).numpy())
        lifter_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        fusions[i % len(fusions)](pose, sigma, spread @ pose + noise[i], kp[i], no_swap, i / 30)
        fusion_times.append(time.perf_counter() - t0)
    warm = _warm(steps)
    mirror = "+ mirror image" if flip else "no mirror image"
    base = stats(f"lifter step (eager, cpu, {mirror}), beside the fusion", lifter_times[warm:])
    rows = [base]
    lifter_s, fusion_s = np.array(lifter_times), np.array(fusion_times)
    for k, w in enumerate(WEIGHTINGS):
        turns = np.arange(warm + (k - warm) % len(fusions), steps, len(fusions))  # this weighting's steps
        for name, t in ((f"fusion step ({w})", fusion_s[turns]),
                        (f"lifter + fusion step ({w})", lifter_s[turns] + fusion_s[turns])):
            row = stats(name, t.tolist())
            row["x_lifter_step"] = row["median_ms"] / base["median_ms"]
            rows.append(row)
    return rows


@torch.no_grad()
def bench_window_recompute(model: torch.nn.Module, steps: int = 300) -> dict:
    """What one step would cost without the streaming cache: the whole window through the network."""
    torch.set_num_threads(1)
    model = model.cpu().eval()
    frames = sum(model.context) + 1
    x = torch.randn(1, frames, model.spec.num_joints + model.spec.root_features, 3)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        model(x)
        times.append(time.perf_counter() - t0)
    return stats(f"whole {frames}-frame window, no cache (eager, cpu)", times[steps // 5:])


def bench_decode(path: str | Path, max_width: int | None = 640) -> dict:
    """Decoding (and scaling) alone, on the source's thread, with a consumer that never waits."""
    source = VideoFileSource(path, max_width=max_width, queue_size=1).start()
    stamps = [frame.t_capture for frame in source]
    source.stop()
    return stats(f"decode + scale to {source.width} px (own thread)", list(np.diff(stamps)))


def bench_file(path: str | Path, pipeline: Pipeline, max_width: int | None = 640, frames: int | None = None) -> list[dict]:
    """The whole pipeline on a video file, looped until ``frames`` frames (default: one pass).

    Decoding runs on its own thread, as live; the figures are per stage, end-to-end throughput, and
    capture-to-result latency; memory is sampled to show whether it grows over a long run."""
    waits, total, people = [], 0, 0
    stages: dict[str, list[float]] = {}
    memory = []
    want = frames
    t_start = time.perf_counter()
    while True:
        source = VideoFileSource(path, max_width=max_width).start()
        while True:
            t0 = time.perf_counter()
            frame = source.read()
            if frame is None or not hasattr(frame, "image"):
                break
            waits.append(time.perf_counter() - t0)
            result = pipeline.process(frame)
            for k, v in result.timings.items():
                stages.setdefault(k, []).append(v / 1000)
            total += 1
            people += len(result.people)
            if total % 500 == 0:
                memory.append(rss_mb())
            if want and total >= want:
                break
        source.stop()
        pipeline.reset()
        if not want or total >= want:
            break
    elapsed = time.perf_counter() - t_start
    who = f", up to {max_people(pipeline)} people" if max_people(pipeline) > 1 else ""
    rows = [stats((f"keypoints (MediaPipe, {source.width} px)" if k == "keypoints" else k) + who, v)
           for k, v in stages.items()]
    rows.append(stats("wait for the decoding thread" + who, waits))
    rows.append(bench_live_latency(path, pipeline, max_width))
    summary = {"stage": "end-to-end", "frames": total, "fps": total / elapsed, "seconds": elapsed,
               "peak_rss_mb": peak_rss_mb(), "people": max_people(pipeline),
               "people_per_frame": people / max(total, 1)}
    if len(memory) >= 4:
        early = memory[max(1, len(memory) // 10)]
        summary["rss_mb_early"] = early
        summary["rss_mb_end"] = memory[-1]
        summary["rss_growth_pct"] = 100 * (memory[-1] - early) / early
    rows.append(summary)
    return rows


def max_people(pipeline: Pipeline) -> int:
    """How many people the pipeline follows at most."""
    return pipeline.people


def bench_live_latency(path: str | Path, pipeline: Pipeline, max_width: int | None = 640) -> dict:
    """Capture-to-result latency with the file played in real time, as a camera would deliver it."""
    source = VideoFileSource(path, max_width=max_width, pace=True, live=True).start()
    latency = []
    for frame in source:
        result = pipeline.process(frame)
        latency.append(result.t_result - frame.t_capture)
    source.stop()
    pipeline.reset()
    who = f", up to {max_people(pipeline)} people" if max_people(pipeline) > 1 else ""
    return stats(f"capture-to-result latency (real-time playback{who})", latency, dropped=source.dropped)


def format_table(rows: list[dict]) -> str:
    lines = ["| stage | median (ms) | p90 (ms) | runs |", "|---|---|---|---|"]
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['stage']} | skipped: {r['skipped']} | | |")
        elif "median_ms" in r:
            ratio = (f" ({r['x_lifter_step']:.2f}x the lifter step)" if "x_lifter_step" in r
                     else f" ({r['x_first']:.2f}x the first)" if "x_first" in r
                     else f" (p95 {r['p95_ms']:.3f} ms)" if "p95_ms" in r else "")
            lines.append(f"| {r['stage']}{ratio} | {r['median_ms']:.3f} | {r['p90_ms']:.3f} | {r['runs']} |")
    for r in rows:
        if "steps_per_s" in r:
            util = f", GPU {r['gpu_util_pct']:.0f} % busy" if "gpu_util_pct" in r else ""
            lines.append(f"\n{r['stage'].capitalize()}: {r['steps_per_s']:.2f} steps/s with sampling; the sampler "
                         f"alone {r['windows_per_s']:.0f} windows/s{util}.")
        if r["stage"] == "end-to-end":
            extra = (f", RSS {r['rss_mb_early']:.0f} -> {r['rss_mb_end']:.0f} MB ({r['rss_growth_pct']:+.1f} %)"
                     if "rss_growth_pct" in r else "")
            who = (f" (up to {r['people']} people, {r['people_per_frame']:.2f} per frame)" if r.get("people", 1) > 1
                   else "")
            lines.append(f"\nEnd-to-end{who}: {r['frames']} frames at {r['fps']:.1f} fps; "
                         f"peak RSS {r['peak_rss_mb']:.0f} MB{extra}.")
    return "\n".join(lines)
