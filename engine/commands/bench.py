"""``poselift bench``: per-stage latency, throughput and memory; lifters' live steps taking turns; batched streams."""
from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from ..live.backends import BACKENDS
from ..live.factory import DEMO_CLIP
from .options import add_pipeline_args, pipeline_options


def add_parser(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser("bench", help="per-stage latency, throughput and memory (median, p90)")
    add_pipeline_args(b)
    b.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS),
                   help="lifter backends to time (unavailable ones are reported as skipped)")
    b.add_argument("--steps", type=int, default=2000, help="lifter steps per backend")
    b.add_argument("--video", type=lambda v: Path(v) if v else None, default=DEMO_CLIP,
                   help="video for the pipeline figures ('' to skip)")
    b.add_argument("--width", type=int, default=640, help="scale frames to this width (default 640)")
    b.add_argument("--frames", type=int, help="loop the video to this many frames (memory soak)")
    b.add_argument("--training", type=Path, help="also time training with this config (sampler windows/s, steps/s)")
    b.add_argument("--streams", nargs="+", type=int,
                   help="only time the streaming step for this many streams at once (e.g. 1 64 1024): ms per step "
                        "and person-frames/s, on the CPU and on a GPU when there is one")
    b.add_argument("--compare", nargs="+", type=Path, metavar="W",
                   help="only time the live step of --weights and these lifters, taking turns frame by frame so "
                        "that a busy machine slows all alike: medians and each one's ratio to --weights")
    b.add_argument("--stream", action="store_true",
                   help="only time live streaming: result-to-receiver latency on this machine (127.0.0.1) to a VMC "
                        "receiver (OSC) and to a web page (WebSocket), median and p95, the pipeline's results for "
                        "--video replayed at its frame rate (--frames of them, default 300)")
    b.add_argument("--json", help="write the figures as JSON")
    b.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from ...models.checkpoint import load_weights
    from ..live.bench import (
        bench_decode,
        bench_file,
        bench_fusion,
        bench_lifter,
        bench_lifters_interleaved,
        bench_refiner,
        bench_window_recompute,
    )
    from ..live.factory import build_pipeline
    from ..live.refine import RefineSettings

    if args.stream:
        return _run_stream(args)
    lifter = load_weights(args.weights)  # the backends copy what they need; the model itself stays on the CPU
    if args.streams:
        return _run_streams(lifter, args)
    if args.compare:
        models = {str(args.weights): lifter} | {str(w): load_weights(w) for w in args.compare}
        return _report(bench_lifters_interleaved(models, steps=args.steps, flip=not args.no_flip), args)
    training = []
    if args.training:  # first: the live figures below pin torch to one thread, training uses them all
        from ...models.train import load_train_config, measure_throughput
        cfg = load_train_config(args.training)
        training = [measure_throughput(cfg, d) for d in ["cpu"] + (["cuda"] if _cuda() else [])]
    rows = bench_lifter(lifter, args.backends, steps=args.steps, flip=not args.no_flip)
    rows += bench_lifter(lifter, ["eager"], steps=args.steps, flip=args.no_flip)  # the other setting, for the ratio
    if args.people > 1:  # everyone in one batched step, beside one person's
        rows += bench_lifter(lifter, ["eager"], steps=args.steps, flip=not args.no_flip, people=args.people)
    rows += bench_fusion(lifter, steps=args.steps, flip=not args.no_flip)
    rows.append(bench_window_recompute(lifter))
    if args.refiner.is_file():
        refiner = load_weights(args.refiner, arch="diffusion_refiner")
        settings = [RefineSettings(0.0, steps) for steps in (1, 2, 4)] + [RefineSettings(0.0, 2, hypotheses=5)]
        rows += bench_refiner(lifter, refiner, settings, steps=min(args.steps, 1000))
    if _cuda():
        rows += bench_lifter(lifter, [b for b in args.backends if b in ("eager", "compile")], steps=args.steps,
                             device="cuda")
    rows += training
    if args.video:
        rows.append(bench_decode(args.video, args.width))
        for people in sorted({1, args.people}):  # with --people N, single-person beside it, in one run
            pipeline, _ = build_pipeline(dataclasses.replace(pipeline_options(args), people=people))
            rows += bench_file(args.video, pipeline, args.width, args.frames)
    _report(rows, args)


def _report(rows: list[dict], args: argparse.Namespace) -> None:
    from ..live.bench import format_table

    print(format_table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


def _run_stream(args: argparse.Namespace) -> None:
    from ..live.factory import build_pipeline
    from ..outputs.stream_bench import bench_stream, clip_results

    pipeline, _ = build_pipeline(pipeline_options(args))
    results, fps = clip_results(args.video or DEMO_CLIP, pipeline, args.width)
    _report(bench_stream(results, fps, frames=args.frames or 300), args)


def _run_streams(lifter, args: argparse.Namespace) -> None:
    from ..live.bench import bench_streams, format_streams_table

    rows = bench_streams(lifter, args.streams, "cpu", max_steps=args.steps)
    if _cuda():
        rows += bench_streams(lifter, args.streams, "cuda", max_steps=args.steps)
        rows += bench_streams(lifter, args.streams, "cuda", compiled=True, max_steps=args.steps)
    else:
        print("No CUDA GPU here: CPU figures only.")
    print(format_streams_table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()
