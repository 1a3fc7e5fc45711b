"""``poselift compare``: two clips of one video, their acceleration and worst frames side by side."""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    cp = sub.add_parser("compare", help="two 3D clips of one video: acceleration, spikes, the worst frames side by side")
    cp.add_argument("first", type=Path, help="clip (.npz) whose worst frames are shown")
    cp.add_argument("second", type=Path, help="clip (.npz) of the same video, e.g. with another setting")
    cp.add_argument("--worst", type=int, default=5, help="how many of the first clip's worst frames to list")
    cp.add_argument("--video", type=Path, help="the source video (default: the one the clip names)")
    cp.add_argument("--png", type=Path, help="draw the worst frames, first clip left, second right (.png or .jpg)")
    cp.add_argument("--json", help="write the figures as JSON")
    cp.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from ..outputs.clip import Clip, ClipError
    from ..outputs.compare import compare_clips, markdown, render_worst

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
