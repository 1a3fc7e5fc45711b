"""``poselift stream``: a video or a webcam -> the followed person's skeleton, live, to VMC receivers
and web pages (docs/streaming.md)."""
from __future__ import annotations

import argparse
import sys

from .options import add_pipeline_args, add_stream_arg, add_width_arg, pipeline_options


def add_parser(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("stream", help="a video or a webcam -> the followed person's skeleton, live, to VMC receivers "
                                      "(VSeeFace, Warudo, Blender, Unity) and web pages")
    s.add_argument("source", help="a video file (played at its own frame rate), or a webcam's index (0: the first)")
    add_stream_arg(s, required=True)
    add_width_arg(s)
    add_pipeline_args(s)
    s.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from ..live.factory import build_pipeline
    from ..live.sources import open_source
    from ..outputs.stream import Streamer

    out = Streamer(args.stream, report=lambda problem: print(f"poselift stream: {problem}", file=sys.stderr))
    source = open_source(args.source, args.width, pace=True)
    frames = seen = 0
    try:
        pipeline, _ = build_pipeline(pipeline_options(args))
        source.start()
        print(f"streaming {source.describe()} to {', '.join(map(str, out.targets))} (Ctrl+C stops)", flush=True)
        for frame in source:
            seen += out.send(pipeline.process(frame)).seen
            frames += 1
    except KeyboardInterrupt:
        pass
    finally:
        source.stop()
        out.close()
    dropped = "".join(f", {lane.dropped} dropped for {lane.sender.target} (too slow)" for lane in out.lanes
                      if lane.dropped)
    print(f"{frames} frame{'s' * (frames != 1)} streamed, {seen} with the person{dropped}")
