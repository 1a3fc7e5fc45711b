"""``poselift eval``: the Human3.6M protocol, the generalisation suites and the world protocol."""
from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

from ...models.errors import ConfigError
from ...models.suites import SUITES
from .options import (
    FIELD_OF_VIEW,
    add_causal_arg,
    add_flip_arg,
    add_fusion_args,
    add_height_arg,
    add_people_arg,
    add_refiner_args,
    add_swap_repair_arg,
    add_weights_arg,
    number_between,
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("eval", help="Human3.6M protocol (S9/S11, all cameras, every frame) and generalisation suites")
    add_weights_arg(e)
    e.add_argument("--data", help="Human3.6M folder")
    e.add_argument("--bandai-data", help="Bandai mocap folder (the bandai1-virtual suite)")
    e.add_argument("--suites", nargs="+", choices=SUITES, default=["h36m"],
                   help="h36m: the standard protocol; h36m-virtual: S9/S11 through seeded random virtual cameras; "
                        "bandai1-virtual: Bandai dataset-1 (never trained on) through them")
    e.add_argument("--sources", nargs="+", choices=("gt", "sh", "mp"), default=["gt", "sh"],
                   help="2D input: projected ground truth, Stacked Hourglass detections (h36m only), "
                        "ground truth with MediaPipe-shaped errors")
    e.add_argument("--fps", nargs="+", type=float, default=[50.0], help="resample the 50 Hz input to these rates (over 60 fps lifted as interleaved streams, as live)")
    e.add_argument("--subjects", nargs="+", help="override the test subjects")
    e.add_argument("--sequence-step", type=int, default=1, metavar="K",
                   help="score every K-th sequence only (sequences run take by take, cameras innermost: 4 keeps "
                        "the first camera of each Human3.6M take); a subset for slow models, said in every table")
    e.add_argument("--occlude", nargs="+", type=float, default=[0.0],
                   help="also score with this fraction of joint-frames occluded in runs (e.g. 0 0.1)")
    e.add_argument("--fov-guess", nargs="+", type=FIELD_OF_VIEW,
                   help="score with intrinsics guessed from these fields of view (degrees, across the longer side) instead of "
                        "the cameras' calibration: what calibrating is worth")
    e.add_argument("--world", action="store_true",
                   help="the world protocol instead: root trajectory, absolute MPJPE and floor on S9/S11 "
                        "(--sources gt sh), with --height and with each subject's own height")
    e.add_argument("--multiview", type=Path, metavar="DIR",
                   help="real video instead: a calibrated multi-camera recording (DIR/videos/camNN.mp4 and one "
                        "Qualisys .qca.txt or Pose2Sim .toml in DIR/calibration/); each view through the default "
                        "pipeline, scored against the people triangulated from all views (docs/multiview.md)")
    add_people_arg(e, default=2, also="in each view of --multiview (default 2)")
    e.add_argument("--reference-cutoff", type=number_between(0.0, 1000.0, "a cut-off frequency in Hz"), metavar="HZ",
                   help="with --multiview: low-pass the triangulated reference at HZ (default: the cut-off for "
                        "walking and slower movement, docs/multiview.md; 10-15 for running; 0: as triangulated)")
    add_height_arg(e)
    add_fusion_args(e)
    add_causal_arg(e)
    add_swap_repair_arg(e)
    e.add_argument("--refine", action="store_true", help="also score the diffusion-refined poses")
    add_refiner_args(e)
    e.add_argument("--seed", type=int, default=0, help="occlusion and refiner noise seed")
    add_flip_arg(e)
    e.add_argument("--json", help="write the results as JSON")
    e.add_argument("--markdown", help="write the tables as markdown")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from ...models.checkpoint import load_weights
    from ...models.evaluate import evaluate, markdown_table, summary_table
    from ...models.h36m import FPS
    from ...models.suites import NOTES, load_suite

    if args.multiview:
        return _run_multiview(args)
    if args.sequence_step < 1:
        raise ConfigError(f"--sequence-step must be at least 1 (1 scores every sequence), got {args.sequence_step}.")
    model = load_weights(args.weights)
    if args.world:
        return _run_world(args, model)
    refiners = [None]
    if args.refine:
        from ...models.refiner import refine_sequence, stream_noise
        denoiser = load_weights(args.refiner, arch="diffusion_refiner")
        noise = stream_noise(denoiser.spec, args.hypotheses, args.seed)
        refiners.append(lambda pose, sigma, x2d: refine_sequence(denoiser, pose, sigma, x2d, noise, args.threshold,
                                                                 args.sampler_steps))
    results, tables = [], []
    for suite in args.suites:
        sequences = load_suite(suite, args.data, args.bandai_data, args.subjects)[:: args.sequence_step]
        # --fps resamples Human3.6M's 50 Hz suites; the others run at their own rate.
        for fps in args.fps if sequences[0].fps == FPS else [sequences[0].fps]:
            for source in args.sources:
                if source == "sh" and all(s.sh16 is None for s in sequences):
                    continue  # detections exist for Human3.6M's own cameras only
                for occlusion, guess, refiner in itertools.product(args.occlude, args.fov_guess or [None], refiners):
                    r = evaluate(model, sequences, source, fps=fps, occlusion=occlusion, seed=args.seed,
                                 refiner=refiner, flip=not args.no_flip, progress=not args.quiet, hfov_guess=guess)
                    r.update(suite=suite, note=NOTES[suite], sequence_step=args.sequence_step)
                    results.append(r)
                    tables.append(markdown_table(r))
                    print(tables[-1] + "\n", flush=True)
    if len(results) > 1:
        tables.insert(0, summary_table(results))
        print(tables[0] + "\n")
    if args.json:
        settings = {"refiner": str(args.refiner), "threshold_mm": args.threshold, "sampler_steps": args.sampler_steps,
                    "hypotheses": args.hypotheses, "seed": args.seed} if args.refine else None
        Path(args.json).write_text(json.dumps({"weights": str(args.weights), "flip": not args.no_flip,
                                               "refine": settings, "results": results}, indent=2))
    if args.markdown:
        Path(args.markdown).write_text("\n\n".join(tables) + "\n")


def _run_world(args: argparse.Namespace, model) -> None:
    from ...models.h36m import TEST_SUBJECTS, load_sequences
    from ...models.world_eval import HEIGHTS, angles_table, evaluate_world, world_table

    sequences = load_sequences(args.subjects or TEST_SUBJECTS, args.data)
    results = [evaluate_world(model, sequences, source, args.height, heights, not args.no_flip, not args.quiet)
               for source in args.sources if source in ("gt", "sh") for heights in HEIGHTS]
    tables = world_table(results) + "\n\n" + angles_table(results)
    print(tables)
    if args.json:
        Path(args.json).write_text(json.dumps({"weights": str(args.weights), "results": results}, indent=2))
    if args.markdown:
        Path(args.markdown).write_text(tables + "\n")


def _run_multiview(args: argparse.Namespace) -> None:
    from ..live.factory import PipelineOptions
    from ..live.world import WorldSettings
    from ..offline.multiview import REFERENCE_CUTOFF_HZ, evaluate_multiview, markdown_tables, to_json

    options = PipelineOptions(weights=args.weights, flip=not args.no_flip, world=WorldSettings(args.height),
                              fusion=args.fusion, fusion_weighting=args.fusion_weighting,
                              swap_repair=not args.no_swap_repair, causal=args.causal)
    cutoff = REFERENCE_CUTOFF_HZ if args.reference_cutoff is None else args.reference_cutoff
    result = evaluate_multiview(args.multiview, options, args.people, progress=not args.quiet, reference_cutoff_hz=cutoff)
    tables = markdown_tables(result)
    print(tables)
    print(f"({result['runtime_s']:.0f} s)")
    if args.json:
        Path(args.json).write_text(to_json(result))
    if args.markdown:
        Path(args.markdown).write_text(tables + "\n")
