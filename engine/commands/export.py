"""``poselift export``: a 3D clip to another file format."""
from __future__ import annotations

import argparse
from pathlib import Path

from ...models.opensim import MAX_GAP_S
from ...models.skeletons import COCO, H36M, MPI_INF_3DHP
from ..outputs.bvh import REST_POSES
from ..outputs.export import CSV_ROWS, FILL_GAPS_S, FORMATS, FRAMES, MARKER_NAMES, UNITS, ExportOptions
from .options import number_between

DEFAULTS = ExportOptions()


def add_parser(sub: argparse._SubParsersAction) -> None:
    x = sub.add_parser("export", help=f"a 3D clip (.npz) -> {', '.join(FORMATS)}")
    x.add_argument("clip", type=Path, nargs="+",
                   help="the clip; for glb and fbx several (one per person, as process --people writes them)")
    x.add_argument("--to", choices=FORMATS,
                   help="format (default: from the output's extension); glb: a rigged humanoid (VRM bone names) with "
                        "a skinned body; fbx: the same through Blender (needs bpy); mot: the coordinates of Pose2Sim's "
                        "OpenSim model (needs a grounded clip); angles: poselift's joint angles as CSV")
    x.add_argument("-o", "--output", type=Path, required=True,
                   help="the file to write, e.g. walk.bvh (its extension names the format unless --to does)")
    x.add_argument("--skeleton", default=H36M.name, choices=[s.name for s in (H36M, COCO, MPI_INF_3DHP)])
    x.add_argument("--video", type=Path, help="source video for the mp4 (default: the clip's recorded source)")
    x.add_argument("--force", action="store_true", help="overwrite an existing file")
    x.add_argument("--frame", choices=FRAMES, default=DEFAULTS.frame,
                   help="world: the person moving over the floor, Y up (needs a grounded clip); camera: "
                        "root-relative, as clips before grounding; auto (default): world when the clip has it")
    x.add_argument("--units", choices=UNITS, help="length unit (default: BVH cm, TRC m, others mm)")
    x.add_argument("--rest", choices=REST_POSES, default=DEFAULTS.rest,
                   help="BVH rest pose: the clip's mean pose, or a T-pose for retargeting")
    x.add_argument("--marker-names", choices=MARKER_NAMES, default=DEFAULTS.marker_names,
                   help="TRC/C3D markers: opensim (default), those of Pose2Sim's OpenSim model (BlazePose set: "
                        "LHip, RHeel, ...; only frames with the whole person), ready for its scaling and IK; "
                        "pose2sim, the --skeleton's joints spelled as Pose2Sim does (Hip, LHip, Neck, ...); "
                        "poselift, its joints as poselift names them (left_hip, ...)")
    x.add_argument("--rows", choices=CSV_ROWS, default=DEFAULTS.rows,
                   help="CSV: one row per frame and joint, or one row per frame")
    x.add_argument("--fill-gaps", type=number_between(*FILL_GAPS_S, "a gap length in seconds"),
                   help=f"interpolate gaps without the person up to this many seconds (default: {MAX_GAP_S:g} for "
                        f"the OpenSim model's files and the animations, BVH, glb and fbx; 0 for the others)")
    x.add_argument("--start", type=number_between(0.0, 1e6, "a time in seconds"),
                   help="export only the frames from this time of the video (s)")
    x.add_argument("--end", type=number_between(0.0, 1e6, "a time in seconds"),
                   help="export only the frames up to this time of the video (s)")
    x.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from ..outputs.clip import Clip
    from ..outputs.export import ExportError, export_clip

    clips = [Clip.load(path) for path in args.clip]
    if args.output.is_dir():
        raise ExportError(f"{args.output} is a folder: give -o the file to write, e.g. {args.output / 'walk.bvh'}.")
    fmt = args.to or args.output.suffix.lstrip(".")
    if not fmt:
        raise ExportError(f"{args.output} has no extension to name the format: end it in the format's own "
                          f"(.bvh, .glb, .trc, .mot, .csv, ...) or pass --to.")
    options = ExportOptions(frame=args.frame, units=args.units, rest=args.rest, marker_names=args.marker_names,
                            rows=args.rows, fill_gaps_s=args.fill_gaps, start_s=args.start, end_s=args.end)
    out, note = export_clip(clips[0], fmt, args.output, skeleton=args.skeleton, overwrite=args.force, video=args.video,
                            options=options, others=tuple(clips[1:]))
    print(f"{' '.join(map(str, args.clip))} -> {out}")
    if note:
        print(note)
