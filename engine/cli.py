"""The ``poselift`` command line: train, eval, process, export, bench, calibrate."""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
from pathlib import Path

from ..calibration import CalibrationError
from ..models.errors import ConfigError, DataError, WeightsError
from ..models.suites import SUITES
from .backends import BACKENDS, BackendUnavailable
from .clip import ClipError
from .export import FORMATS as EXPORT_FORMATS
from .export import ExportError
from .factory import DEFAULT_WEIGHTS, DEMO_CLIP
from .library import ClusterUnavailable, LibraryError
from .process import ProcessError
from .sources import SourceError

USER_ERRORS = (ConfigError, DataError, WeightsError, SourceError, BackendUnavailable, CalibrationError, ClipError,
               ExportError, ProcessError, LibraryError, ClusterUnavailable)


def _train(args: argparse.Namespace) -> None:
    from ..models.refiner_train import is_refiner_config, load_refiner_config, train_refiner
    from ..models.train import load_train_config, train

    overrides = {k: v for k, v in (("out", args.out), ("data", args.data), ("steps", args.steps),
                                   ("max_minutes", args.minutes)) if v is not None}
    if args.export_latest:
        from ..models.train import export_latest
        print(f"latest weights: {export_latest(load_train_config(args.config, overrides), args.export_latest)}")
        return
    if is_refiner_config(args.config):
        best = train_refiner(load_refiner_config(args.config, overrides), progress=not args.quiet)
    else:
        best = train(load_train_config(args.config, overrides), progress=not args.quiet)
    print(f"best weights: {best}")


def _eval(args: argparse.Namespace) -> None:
    from ..models.checkpoint import load_weights
    from ..models.evaluate import evaluate, markdown_table, summary_table
    from ..models.h36m import FPS
    from ..models.suites import NOTES, load_suite

    if args.sequence_step < 1:
        raise ConfigError(f"--sequence-step must be at least 1 (1 scores every sequence), got {args.sequence_step}.")
    model = load_weights(args.weights)
    if args.world:
        return _eval_world(args, model)
    refiners = [None]
    if args.refine:
        from ..models.refiner import refine_sequence, stream_noise
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


def _eval_world(args: argparse.Namespace, model) -> None:
    from ..models.h36m import TEST_SUBJECTS, load_sequences
    from ..models.world_eval import HEIGHTS, angles_table, evaluate_world, world_table

    sequences = load_sequences(args.subjects or TEST_SUBJECTS, args.data)
    results = [evaluate_world(model, sequences, source, args.height, heights, not args.no_flip, not args.quiet)
               for source in args.sources if source in ("gt", "sh") for heights in HEIGHTS]
    tables = world_table(results) + "\n\n" + angles_table(results)
    print(tables)
    if args.json:
        Path(args.json).write_text(json.dumps({"weights": str(args.weights), "results": results}, indent=2))
    if args.markdown:
        Path(args.markdown).write_text(tables + "\n")


def _bench(args: argparse.Namespace) -> None:
    from ..models.checkpoint import load_weights
    from .bench import (bench_decode, bench_file, bench_lifter, bench_lifters_interleaved, bench_refiner,
                        bench_window_recompute)
    from .factory import build_pipeline
    from .refine import RefineSettings

    lifter = load_weights(args.weights)  # the backends copy what they need; the model itself stays on the CPU
    if args.streams:
        return _bench_streams(lifter, args)
    if args.compare:
        models = {str(args.weights): lifter} | {str(w): load_weights(w) for w in args.compare}
        return _report(bench_lifters_interleaved(models, steps=args.steps, flip=not args.no_flip), args)
    training = []
    if args.training:  # first: the live figures below pin torch to one thread, training uses them all
        from ..models.train import load_train_config, measure_throughput
        cfg = load_train_config(args.training)
        training = [measure_throughput(cfg, d) for d in ["cpu"] + (["cuda"] if torch_cuda_available() else [])]
    rows = bench_lifter(lifter, args.backends, steps=args.steps, flip=not args.no_flip)
    rows += bench_lifter(lifter, ["eager"], steps=args.steps, flip=args.no_flip)  # the other setting, for the ratio
    if args.people > 1:  # everyone in one batched step, beside one person's
        rows += bench_lifter(lifter, ["eager"], steps=args.steps, flip=not args.no_flip, people=args.people)
    rows.append(bench_window_recompute(lifter))
    if args.refiner.is_file():
        refiner = load_weights(args.refiner, arch="diffusion_refiner")
        settings = [RefineSettings(0.0, steps) for steps in (1, 2, 4)] + [RefineSettings(0.0, 2, hypotheses=5)]
        rows += bench_refiner(lifter, refiner, settings, steps=min(args.steps, 1000))
    if torch_cuda_available():
        rows += bench_lifter(lifter, [b for b in args.backends if b in ("eager", "compile")], steps=args.steps,
                             device="cuda")
    rows += training
    if args.video:
        rows.append(bench_decode(args.video, args.width))
        for people in sorted({1, args.people}):  # with --people N, single-person beside it, in one run
            pipeline, _ = build_pipeline(dataclasses.replace(_pipeline_options(args), people=people))
            rows += bench_file(args.video, pipeline, args.width, args.frames)
    _report(rows, args)


def _report(rows: list[dict], args: argparse.Namespace) -> None:
    from .bench import format_table

    print(format_table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


def _bench_streams(lifter, args: argparse.Namespace) -> None:
    from .bench import bench_streams, format_streams_table

    rows = bench_streams(lifter, args.streams, "cpu", max_steps=args.steps)
    if torch_cuda_available():
        rows += bench_streams(lifter, args.streams, "cuda", max_steps=args.steps)
        rows += bench_streams(lifter, args.streams, "cuda", compiled=True, max_steps=args.steps)
    else:
        print("No CUDA GPU here: CPU figures only.")
    print(format_streams_table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


def torch_cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _pipeline_options(args: argparse.Namespace):
    from .factory import PipelineOptions
    from .refine import RefineSettings

    return PipelineOptions(weights=args.weights, backend=args.backend, device=args.device, flip=not args.no_flip,
                           camera=args.camera, hfov_deg=args.fov, smoothing=args.smooth, refine=args.refine, refiner=args.refiner,
                           refine_settings=RefineSettings(args.threshold, args.sampler_steps, args.hypotheses),
                           swap_repair=not args.no_swap_repair, people=args.people,
                           world=_world_settings(args))


def _world_settings(args: argparse.Namespace):
    from .world import WorldSettings

    return WorldSettings(args.height, args.camera_pitch, args.camera_roll, args.camera_height,
                         foot_lock=not args.no_foot_lock)


def _add_pipeline_args(p: argparse.ArgumentParser) -> None:
    from .backends import BACKENDS

    p.add_argument("--weights", default=DEFAULT_WEIGHTS, type=Path, help="lifter weights (.pt)")
    p.add_argument("--backend", default="eager", choices=BACKENDS, help="lifter inference backend")
    p.add_argument("--device", help="cpu or cuda (default: cpu; cuda for tensorrt)")
    _add_flip_arg(p)
    p.add_argument("--camera", type=Path, help="camera calibration JSON (default: intrinsics from --fov)")
    p.add_argument("--fov", type=number_between(1.0, 179.0, "a horizontal field of view in degrees"), default=60.0,
                   help="horizontal field of view in degrees, when uncalibrated")
    p.add_argument("--smooth", type=number_between(1e-3, 1e3, "a cutoff in Hz"),
                   help="One-Euro smoothing: minimum cutoff in Hz (lower = smoother)")
    p.add_argument("--refine", action="store_true", help="refine unsure joints with the diffusion refiner")
    p.add_argument("--people", type=int_between(1, 8, "a number of people"), default=1,
                   help="follow up to this many people (MediaPipe's Tasks API; slower): process writes one clip "
                        "per person, NAME_p0_3d.npz, ...; default 1, the faster single-person MediaPipe")
    p.add_argument("--no-swap-repair", action="store_true",
                   help="pass MediaPipe's left/right label swaps to the lifter as they come (for comparison)")
    add_height_arg(p)
    p.add_argument("--camera-pitch", type=number_between(-89.0, 89.0, "a camera tilt in degrees"),
                   help="the camera's downward tilt in degrees, instead of estimating it from the feet")
    p.add_argument("--camera-roll", type=number_between(-89.0, 89.0, "a camera roll in degrees"), default=0.0,
                   help="the camera's roll in degrees, with --camera-pitch")
    p.add_argument("--camera-height", type=number_between(0.01, 50.0, "a camera height in metres"),
                   help="the camera's height above the floor in metres, instead of estimating it")
    p.add_argument("--no-foot-lock", action="store_true",
                   help="let planted feet slide as measured (the foot lock shifts the body to hold them)")
    _add_refiner_args(p)


def number_between(lo: float, hi: float, what: str):
    """An argparse type: a number from ``lo`` to ``hi``, refused in one sentence otherwise."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{text} is not {what}: give a number from {lo:g} to {hi:g}.")
        return value
    return parse


def int_between(lo: int, hi: int, what: str):
    """An argparse type: a whole number from ``lo`` to ``hi``, refused in one sentence otherwise."""
    def parse(text: str) -> int:
        if not text.strip().isdigit() or not lo <= int(text) <= hi:
            raise argparse.ArgumentTypeError(f"{text} is not {what}: give a whole number from {lo} to {hi}.")
        return int(text)
    return parse


def add_height_arg(p: argparse.ArgumentParser) -> None:
    from ..calibration.trajectory import DEFAULT_HEIGHT_M, HEIGHT_RANGE_M

    p.add_argument("--height", type=number_between(*HEIGHT_RANGE_M, "a person's height in metres"),
                   default=DEFAULT_HEIGHT_M, help=f"the subject's height in metres, the world's scale "
                                                  f"(default {DEFAULT_HEIGHT_M:g})")


def _add_flip_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-flip", action="store_true",
                   help="lift each frame once, without averaging in its mirror image (cheaper, less accurate)")


def _add_refiner_args(p: argparse.ArgumentParser) -> None:
    from .factory import DEFAULT_REFINER, REFINE_DEFAULTS

    p.add_argument("--refiner", default=DEFAULT_REFINER, type=Path, help="refiner weights (.pt)")
    p.add_argument("--threshold", type=float, default=REFINE_DEFAULTS.threshold_mm,
                   help="resample joints whose uncertainty is at least this many mm")
    p.add_argument("--sampler-steps", type=int, default=REFINE_DEFAULTS.steps, help="DDIM steps (1-4 is typical)")
    p.add_argument("--hypotheses", type=int, default=REFINE_DEFAULTS.hypotheses,
                   help="samples per frame, combined by the per-joint median")


def _process(args: argparse.Namespace) -> None:
    from .factory import build_pipeline
    from .library import looks_like_library
    from .process import ProcessError, image_files, process_video

    if looks_like_library(args.video):
        return _process_library(args)
    inputs = image_files(args.video) if args.video.is_dir() else [args.video]
    pipeline, info = build_pipeline(_pipeline_options(args))
    nobody = []
    for path in inputs:
        pipeline.reset()  # each file on its own: nobody carried over from the one before
        report = process_video(path, args.out, pipeline, info, render=not args.no_video,
                               progress=not args.quiet and len(inputs) == 1, max_width=args.width,
                               force=args.force, per_person=args.people > 1)
        repaired = f", {report.frames_repaired} with a left/right swap repaired" if report.frames_repaired else ""
        clips = ", ".join(map(str, [report.clip_path, *report.person_clips]))
        print(f"{report.frames} frame{'s' * (report.frames != 1)} ({report.frames_with_person} with a person"
              f"{repaired}) -> {clips}" + (f", {report.video_path}" if report.video_path else ""))
        if args.plots:
            from .clip import Clip
            from .plots import write_plots
            print("plots: " + ", ".join(map(str, write_plots(Clip.load(report.clip_path), args.out, path.stem))))
        if report.error:
            raise SourceError(report.error)
        if not report.frames_with_person:
            nobody.append(path)
    if len(inputs) > 1 and nobody:  # a folder of images: the others are done first
        raise ProcessError(f"nobody was found in {len(nobody)} of the {len(inputs)} images "
                           f"({', '.join(p.name for p in nobody)}): their empty clips are kept; photograph the whole "
                           f"body in view and well lit.")
    if nobody:  # exit 2: a script must not go on to export an empty clip as a result
        raise ProcessError(f"nobody was found in any of the {report.frames} frames of {nobody[0]}: film the whole "
                           f"body in view and well lit (the empty clip is kept, {report.clip_path}).")


def _process_library(args: argparse.Namespace) -> None:
    from .library import Job, format_summary, process_library, totals

    job = Job(args.out, _pipeline_options(args), render=not args.no_video, max_width=args.width)
    rows, library = process_library(str(args.video), job, workers=args.workers, address=args.address,
                                    force=args.force, progress=not args.quiet)
    print(format_summary(rows))
    print(f"summary: {library.out / 'summary.csv'}, {library.out / 'summary.json'}")
    failed = totals(rows)["failed"]
    if failed:
        raise LibraryError(f"{failed} of {len(rows)} videos failed (the reasons are in the table above); the others "
                           f"are done: fix those and run the same command again, which skips what is done.")


def _compare(args: argparse.Namespace) -> None:
    from .clip import Clip
    from .compare import compare_clips, markdown, render_worst

    first, second = Clip.load(args.first), Clip.load(args.second)
    report = compare_clips(first, second, args.worst)
    print(markdown(report, (str(args.first), str(args.second))))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    if args.png:
        video = args.video or Path(first.meta.get("source", ""))
        if not video.is_file():
            raise ClipError(f"the source video {video} is not there: pass it with --video to draw the frames.")
        print(f"frames drawn: {render_worst(first, second, video, [w['frame'] for w in report['worst']], args.png)}")


def _export(args: argparse.Namespace) -> None:
    from .clip import Clip
    from .export import ExportOptions, export_clip

    clip = Clip.load(args.clip)
    fmt = args.to or args.output.suffix.lstrip(".")
    options = ExportOptions(args.frame, args.units, args.rest, args.marker_names, args.rows, args.fill_gaps)
    out, note = export_clip(clip, fmt, args.output, skeleton=args.skeleton, overwrite=args.force, video=args.video,
                            options=options)
    print(f"{len(clip)} frames -> {out}")
    if note:
        print(note)


def _calibrate(args: argparse.Namespace) -> None:
    from ..calibration.intrinsics import Board
    from .calibrate import calibrate_source

    if args.output.exists() and not args.force:
        raise CalibrationError(f"{args.output} already exists: choose another name with -o or pass --force.")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    board = Board(args.board, *args.squares, args.square_mm, args.marker_mm, args.dictionary)
    cal = calibrate_source(args.source, board, args.seconds, progress=not args.quiet)
    cam = cal.camera
    cal.save(args.output)
    print(f"{args.output}: {cam.width}x{cam.height}, focal {cam.f[0]:.1f} / {cam.f[1]:.1f} px, centre "
          f"({cam.c[0]:.1f}, {cam.c[1]:.1f}), distortion k1 {cam.k[0]:.4f} k2 {cam.k[1]:.4f}; reprojection error "
          f"{cal.reprojection_error_px:.3f} px RMS over {cal.views} views (board found in {cal.frames_found} of "
          f"{cal.frames_seen} frames searched). Use it with --camera {args.output}.")


def squares(text: str) -> tuple[int, int]:
    """An argparse type: ``COLUMNSxROWS`` of a board, e.g. 10x7."""
    try:
        columns, rows = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text} is not a board size: give squares across x down, e.g. 10x7.")
    return columns, rows


def _card(args: argparse.Namespace) -> None:
    from ..models.card import write_card

    for path in write_card(args.weights, args.eval, args.run_dir, args.bench, args.out, args.notes):
        print(f"wrote {path}")


def build_parser() -> argparse.ArgumentParser:
    from ..calibration.intrinsics import BOARD_KINDS

    p = argparse.ArgumentParser(prog="poselift", description="Live monocular 3D human pose.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train the lifter on Human3.6M (resumes from OUT/last.pt)")
    t.add_argument("--config", required=True, help="YAML config, e.g. assets/configs/lifter_tcn81.yaml")
    t.add_argument("--out", help="run folder (overrides the config)")
    t.add_argument("--data", help="Human3.6M folder (default: $POSELIFT_DATA or ../shared/data/h36m)")
    t.add_argument("--steps", type=int, help="total optimisation steps (overrides the config)")
    t.add_argument("--minutes", type=float, help="wall-clock budget of this run: past it, validate, checkpoint and "
                                                 "stop (it resumes from there); overrides the config's max_minutes")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--export-latest", type=Path, metavar="PT",
                   help="train nothing: write the run's latest EMA weights (OUT/last.pt) to this file")
    t.set_defaults(run=_train)

    e = sub.add_parser("eval", help="Human3.6M protocol (S9/S11, all cameras, every frame) and generalisation suites")
    e.add_argument("--weights", default=DEFAULT_WEIGHTS, type=Path, help="lifter weights (.pt)")
    e.add_argument("--data", help="Human3.6M folder")
    e.add_argument("--bandai-data", help="Bandai mocap folder (the bandai1-virtual suite)")
    e.add_argument("--suites", nargs="+", choices=SUITES, default=["h36m"],
                   help="h36m: the standard protocol; h36m-virtual: S9/S11 through seeded random virtual cameras; "
                        "bandai1-virtual: Bandai dataset-1 (never trained on) through them")
    e.add_argument("--sources", nargs="+", choices=("gt", "sh", "mp"), default=["gt", "sh"],
                   help="2D input: projected ground truth, Stacked Hourglass detections (h36m only), "
                        "ground truth with MediaPipe-shaped errors")
    e.add_argument("--fps", nargs="+", type=float, default=[50.0], help="resample the 50 Hz input to these rates")
    e.add_argument("--subjects", nargs="+", help="override the test subjects")
    e.add_argument("--sequence-step", type=int, default=1, metavar="K",
                   help="score every K-th sequence only (sequences run take by take, cameras innermost: 4 keeps "
                        "the first camera of each Human3.6M take); a subset for slow models, said in every table")
    e.add_argument("--occlude", nargs="+", type=float, default=[0.0],
                   help="also score with this fraction of joint-frames occluded in runs (e.g. 0 0.1)")
    e.add_argument("--fov-guess", nargs="+", type=number_between(1.0, 179.0, "a horizontal field of view in degrees"),
                   help="score with intrinsics guessed from these horizontal fields of view (degrees) instead of "
                        "the cameras' calibration: what calibrating is worth")
    e.add_argument("--world", action="store_true",
                   help="the world protocol instead: root trajectory, absolute MPJPE and floor on S9/S11 "
                        "(--sources gt sh), with --height and with each subject's own height")
    add_height_arg(e)
    e.add_argument("--refine", action="store_true", help="also score the diffusion-refined poses")
    _add_refiner_args(e)
    e.add_argument("--seed", type=int, default=0, help="occlusion and refiner noise seed")
    _add_flip_arg(e)
    e.add_argument("--json", help="write the results as JSON")
    e.add_argument("--markdown", help="write the tables as markdown")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(run=_eval)

    pr = sub.add_parser("process", help="a video or an image, a folder or glob of videos, or a folder of images -> 3D clip (.npz) + side-by-side MP4")
    pr.add_argument("video", type=Path, help="a video, an image, a folder of videos or of images (each lifted on its own), or a glob ('season/**/*.mp4')")
    pr.add_argument("-o", "--out", type=Path, default=Path("out"), help="output folder (default: out/)")
    pr.add_argument("--no-video", action="store_true", help="write the clip only")
    pr.add_argument("--plots", action="store_true", help="also write PNG plots of the joint angles and the trajectory")
    pr.add_argument("--width", type=int, help="scale frames down to this width first (faster on large videos)")
    pr.add_argument("--quiet", action="store_true", help="no progress bar")
    pr.add_argument("--workers", type=int, default=1,
                    help="folder or glob: videos processed at once on a local Ray cluster (default 1: in turn, "
                         "without Ray)")
    pr.add_argument("--address", help="folder or glob: the Ray cluster to run on (default: $RAY_ADDRESS if set)")
    pr.add_argument("--force", action="store_true",
                    help="overwrite the outputs of an earlier run (folder or glob: redo the videos done before, and those done with other settings)")
    _add_pipeline_args(pr)
    pr.set_defaults(run=_process)

    x = sub.add_parser("export", help="a 3D clip (.npz) -> npz, csv, json, bvh, trc, c3d or mp4")
    x.add_argument("clip", type=Path)
    x.add_argument("--to", choices=EXPORT_FORMATS, help="format (default: from the output's extension)")
    x.add_argument("-o", "--output", type=Path, required=True)
    x.add_argument("--skeleton", default="h36m17", choices=["h36m17", "coco17", "mpi_inf_3dhp17"])
    x.add_argument("--video", type=Path, help="source video for the mp4 (default: the clip's recorded source)")
    x.add_argument("--force", action="store_true", help="overwrite an existing file")
    x.add_argument("--frame", choices=("auto", "world", "camera"), default="auto",
                   help="world: the person moving over the floor, Y up (needs a grounded clip); camera: "
                        "root-relative, as clips before grounding; auto (default): world when the clip has it")
    x.add_argument("--units", choices=("mm", "cm", "m"), help="length unit (default: BVH cm, TRC m, others mm)")
    x.add_argument("--rest", choices=("mean", "tpose"), default="mean",
                   help="BVH rest pose: the clip's mean pose, or a T-pose for retargeting")
    x.add_argument("--marker-names", choices=("opensim", "poselift"), default="opensim",
                   help="TRC/C3D marker names: Pose2Sim/Sports2D's (LHip, RKnee, ...) or poselift's (left_hip, ...)")
    x.add_argument("--rows", choices=("joint", "frame"), default="joint",
                   help="CSV: one row per frame and joint, or one row per frame")
    x.add_argument("--fill-gaps", type=number_between(0.0, 10.0, "a gap length in seconds"), default=0.0,
                   help="TRC/C3D: interpolate gaps up to this many seconds (OpenSim's IK needs a marker in every frame)")
    x.set_defaults(run=_export)

    b = sub.add_parser("bench", help="per-stage latency, throughput and memory (median, p90)")
    _add_pipeline_args(b)
    b.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS),
                   help="lifter backends to time (unavailable ones are reported as skipped)")
    b.add_argument("--steps", type=int, default=2000, help="lifter steps per backend")
    b.add_argument("--video", type=lambda v: Path(v) if v else None, default=DEMO_CLIP, help="video for the pipeline figures ('' to skip)")
    b.add_argument("--width", type=int, default=640, help="scale frames to this width (default 640)")
    b.add_argument("--frames", type=int, help="loop the video to this many frames (memory soak)")
    b.add_argument("--training", type=Path, help="also time training with this config (sampler windows/s, steps/s)")
    b.add_argument("--streams", nargs="+", type=int,
                   help="only time the streaming step for this many streams at once (e.g. 1 64 1024): ms per step "
                        "and person-frames/s, on the CPU and on a GPU when there is one")
    b.add_argument("--compare", nargs="+", type=Path, metavar="W",
                   help="only time the live step of --weights and these lifters, taking turns frame by frame so "
                        "that a busy machine slows all alike: medians and each one's ratio to --weights")
    b.add_argument("--json", help="write the figures as JSON")
    b.set_defaults(run=_bench)
    cp = sub.add_parser("compare", help="two 3D clips of one video: acceleration, spikes, the worst frames side by side")
    cp.add_argument("first", type=Path, help="clip (.npz) whose worst frames are shown")
    cp.add_argument("second", type=Path, help="clip (.npz) of the same video, e.g. with another setting")
    cp.add_argument("--worst", type=int, default=5, help="how many of the first clip's worst frames to list")
    cp.add_argument("--video", type=Path, help="the source video (default: the one the clip names)")
    cp.add_argument("--png", type=Path, help="draw the worst frames, first clip left, second right (.png or .jpg)")
    cp.add_argument("--json", help="write the figures as JSON")
    cp.set_defaults(run=_compare)
    k = sub.add_parser("calibrate", help="camera intrinsics and distortion from a checkerboard or ChArUco "
                                         "video, or the webcam -> the camera JSON --camera takes")
    k.add_argument("source", help="a video of the board filmed from many angles, or a webcam index (0, 1, ...)")
    k.add_argument("--board", choices=BOARD_KINDS, default="checkerboard")
    k.add_argument("--squares", type=squares, default=(10, 7),
                   help="squares across x down (default 10x7; a 10x7-square checkerboard has 9x6 inner corners)")
    k.add_argument("--square-mm", type=float, default=25.0, help="side of a square (mm; the intrinsics do not "
                                                                 "depend on it)")
    k.add_argument("--marker-mm", type=float, help="ChArUco: side of a marker (default 0.75 of a square)")
    k.add_argument("--dictionary", default="DICT_5X5_100", help="ChArUco: the ArUco dictionary of its markers")
    k.add_argument("--seconds", type=float, default=20.0, help="webcam: how long to look for the board")
    k.add_argument("-o", "--output", type=Path, default=Path("camera.json"), help="camera JSON to write")
    k.add_argument("--force", action="store_true", help="overwrite an existing camera JSON")
    k.add_argument("--quiet", action="store_true", help="no progress bar")
    k.set_defaults(run=_calibrate)
    c = sub.add_parser("card", help="write a model card (.json + .md) beside the weights")
    c.add_argument("--weights", type=Path, required=True, help="the weights (.pt) the card describes")
    c.add_argument("--eval", type=Path, nargs="+", required=True, help="JSON from `poselift eval --json` (one or more)")
    c.add_argument("--run", dest="run_dir", type=Path, nargs="+", required=True,
                   help="the training run folder (config.json, log.jsonl); several, in order, when one "
                        "started from another's weights")
    c.add_argument("--bench", type=Path, help="JSON from `poselift bench --json`")
    c.add_argument("-o", "--out", type=Path, required=True, help="card path without extension")
    c.add_argument("--notes", type=Path, help="markdown appended to the card (ablations, caveats)")
    c.set_defaults(run=_card)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except USER_ERRORS as e:
        print(f"poselift {args.command}: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
