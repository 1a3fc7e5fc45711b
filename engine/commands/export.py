"""``poselift export``: a 3D clip to another file format."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..outputs.export import FORMATS
from .options import number_between


def add_parser(sub: argparse._SubParsersAction) -> None:
    x = sub.add_parser("export", help=f"a 3D clip (.npz) -> {', '.join(FORMATS)}")
    x.add_argument("clip", type=Path)
    x.add_argument("--to", choices=FORMATS, help="format (default: from the output's extension)")
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
                   help="TRC/C3D: interpolate gaps up to this many seconds (OpenSim's IK needs a marker in every "
                        "frame)")
    x.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from ..outputs.clip import Clip
    from ..outputs.export import ExportOptions, export_clip

    clip = Clip.load(args.clip)
    fmt = args.to or args.output.suffix.lstrip(".")
    options = ExportOptions(args.frame, args.units, args.rest, args.marker_names, args.rows, args.fill_gaps)
    out, note = export_clip(clip, fmt, args.output, skeleton=args.skeleton, overwrite=args.force, video=args.video,
                            options=options)
    print(f"{len(clip)} frames -> {out}")
    if note:
        print(note)
