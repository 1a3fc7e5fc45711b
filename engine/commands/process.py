"""``poselift process``: a video, an image, a folder of images, or a folder or glob of videos -> 3D clips."""
from __future__ import annotations

import argparse
from pathlib import Path

from ...calibration.camera import GUESSED_HFOV_DEG
from .options import add_causal_arg, add_pipeline_args, add_width_arg, pipeline_options


def add_parser(sub: argparse._SubParsersAction) -> None:
    pr = sub.add_parser("process", help="a video or an image, a folder or glob of videos, or a folder of images "
                                        "-> 3D clip (.npz) + side-by-side MP4")
    pr.add_argument("video", type=Path, help="a video, an image, a folder of videos or of images (each lifted on its "
                                             "own), or a glob ('season/**/*.mp4')")
    pr.add_argument("-o", "--out", type=Path, default=Path("out"), help="output folder (default: out/)")
    pr.add_argument("--no-video", action="store_true", help="write the clip only")
    pr.add_argument("--plots", action="store_true", help="also write PNG plots of the joint angles and the trajectory")
    add_width_arg(pr)
    pr.add_argument("--quiet", action="store_true", help="no progress bar")
    pr.add_argument("--workers", type=int, default=1,
                    help="folder or glob: videos processed at once on a local Ray cluster (default 1: in turn, "
                         "without Ray; more needs the extra poselift[cluster])")
    pr.add_argument("--address", help="folder or glob: the Ray cluster to run on (default: $RAY_ADDRESS if set)")
    pr.add_argument("--force", action="store_true",
                    help="overwrite the outputs of an earlier run (folder or glob: redo the videos done before, and "
                         "those done with other settings)")
    add_causal_arg(pr)
    add_pipeline_args(pr)
    pr.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from ..live.factory import build_pipeline
    from ..live.sources import SourceError
    from ..offline.library import looks_like_library
    from ..offline.process import ProcessError, image_files, process_video

    if args.out.exists() and not args.out.is_dir():
        raise ProcessError(f"{args.out} is a file, not a folder: give -o the folder to write the clips into.")
    if looks_like_library(args.video):
        return _run_library(args)
    inputs = image_files(args.video) if args.video.is_dir() else [args.video]
    pipeline, info = build_pipeline(pipeline_options(args))
    nobody = []
    for path in inputs:
        pipeline.reset()  # each file on its own: nobody carried over from the one before
        report = process_video(path, args.out, pipeline, info, render=not args.no_video,
                               progress=not args.quiet and len(inputs) == 1, max_width=args.width,
                               force=args.force, two_way=not args.causal)
        repaired = f", {report.frames_repaired} with a left/right swap repaired" if report.frames_repaired else ""
        clips = ", ".join(map(str, [report.clip_path, *report.person_clips]))
        print(f"{report.frames} frame{'s' * (report.frames != 1)} ({report.frames_with_person} with a person"
              f"{repaired}) -> {clips}" + (f", {report.video_path}" if report.video_path else ""))
        if args.camera is None and args.fov is None and path == inputs[0]:
            print(field_of_view_note(report.lens_hfov_deg))
        if pipeline.stride > 1:  # the frame rate the timestamps gave, not the container's
            print(f"{pipeline.frame_rate:.0f} fps: each person lifted as {pipeline.stride} interleaved streams of "
                  f"{pipeline.frame_rate / pipeline.stride:.0f} fps, a rate the lifter is trained at")
        if args.plots:
            from ..outputs.clip import Clip
            from ..outputs.plots import write_plots
            print("plots: " + ", ".join(map(str, write_plots(Clip.load(report.clip_path), args.out, path.stem))))
        if report.error:
            raise SourceError(report.error)
        if args.follow is not None and not report.frames_with_person and report.ids_seen:
            raise ProcessError(f"nobody with id {args.follow} was seen in {path} (ids seen: "
                               f"{', '.join(map(str, report.ids_seen))}): follow one of those, as the rendered video "
                               f"labels them (the empty clip is kept, {report.clip_path}).")
        if not report.frames_with_person:
            nobody.append(path)
    if len(inputs) > 1 and nobody:  # a folder of images: the others are done first
        raise ProcessError(f"nobody was found in {len(nobody)} of the {len(inputs)} images "
                           f"({', '.join(p.name for p in nobody)}): their empty clips are kept; photograph the whole "
                           f"body in view and well lit.")
    if nobody:  # exit 2: a script must not go on to export an empty clip as a result
        raise ProcessError(f"nobody was found in any of the {report.frames} frames of {nobody[0]}: film the whole "
                           f"body in view and well lit (the empty clip is kept, {report.clip_path}).")


def field_of_view_note(lens_hfov_deg: float | None) -> str:
    """Where the field of view came from, when the user gave none: it sets how the floor tilts."""
    if lens_hfov_deg is not None:
        return f"field of view {lens_hfov_deg:.1f}° across the longer side, from the lens the video names"
    return (f"field of view guessed, {GUESSED_HFOV_DEG:g}° across the longer side (a phone's main camera): give "
            f"--fov or --camera when the lens is known, since the floor's tilt depends on it")


def _run_library(args: argparse.Namespace) -> None:
    from ..offline.jobs import Job
    from ..offline.library import LibraryError, format_summary, process_library, totals

    job = Job(args.out, pipeline_options(args), render=not args.no_video, max_width=args.width)
    rows, library = process_library(str(args.video), job, workers=args.workers, address=args.address,
                                    force=args.force, progress=not args.quiet)
    print(format_summary(rows))
    print(f"summary: {library.out / 'summary.csv'}, {library.out / 'summary.json'}")
    failed = totals(rows)["failed"]
    if failed:
        raise LibraryError(f"{failed} of {len(rows)} videos failed (the reasons are in the table above); the others "
                           f"are done: fix those and run the same command again, which skips what is done.")
