"""`poselift-app [VIDEO]`: the desktop application (a webcam when no file is given)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

DEFAULT_SIZE = (1400, 720)  # the window's width and height at start, in pixels


def main(argv: list[str] | None = None) -> int:
    from ..engine.commands.options import (
        Parser,
        add_camera_args,
        add_follow_arg,
        add_fusion_args,
        add_lifter_args,
        add_people_arg,
        add_smooth_arg,
        add_stream_arg,
        add_world_args,
        world_settings,
    )
    from ..engine.live.factory import PipelineOptions

    p = Parser(prog="poselift-app", description="Live 3D human pose from a webcam or a video.")
    p.add_argument("video", nargs="?", type=Path, help="a video file (default: the first webcam)")
    p.add_argument("--webcam", type=int, default=0, help="webcam index when no video is given")
    add_lifter_args(p)
    add_camera_args(p)
    add_world_args(p)
    add_people_arg(p, default=None, also="the People choice to start with (default: the last run's)")
    add_follow_arg(p)
    add_fusion_args(p)
    add_smooth_arg(p)
    add_stream_arg(p, flag="--stream")
    args = p.parse_args(argv)
    problem = display_problem()
    if problem:
        print(f"poselift-app: {problem}", file=sys.stderr)
        return 2

    import pyqtgraph as pg

    from .window import MainWindow, make_application

    app = make_application()
    pg.setConfigOptions(antialias=True)
    window = MainWindow(PipelineOptions(weights=args.weights, backend=args.backend, device=args.device,
                                        flip=not args.no_flip, camera=args.camera, hfov_deg=args.fov,
                                        follow=args.follow, fusion=args.fusion,
                                        fusion_weighting=args.fusion_weighting, world=world_settings(args)))
    window.controls.choose(args.people, args.smooth)
    window.resize(*DEFAULT_SIZE)
    window.show()
    if args.stream:
        window.streaming.start_with(args.stream)
    if args.video is not None:
        window.playback.open_path(args.video)
    else:
        window.playback.open_webcam(args.webcam)
    return app.exec()


def display_problem() -> str | None:
    """One sentence when there is no screen for the window (where Qt would abort with a core dump)."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return None  # other systems always have a screen; a chosen Qt platform (offscreen, vnc) knows its own
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return ("no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is set): run it in a desktop "
            "session, over ssh -X, or under xvfb-run; `poselift process VIDEO` needs no display.")


if __name__ == "__main__":
    sys.exit(main())
