"""`poselift-app [VIDEO]`: the desktop application (a webcam when no file is given)."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from ..engine.backends import BACKENDS
    from ..engine.cli import add_height_arg, number_between
    from ..engine.factory import DEFAULT_WEIGHTS, PipelineOptions
    from ..engine.world import WorldSettings

    p = argparse.ArgumentParser(prog="poselift-app", description="Live 3D human pose from a webcam or a video.")
    p.add_argument("video", nargs="?", type=Path, help="a video file (default: the first webcam)")
    p.add_argument("--webcam", type=int, default=0, help="webcam index when no video is given")
    p.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS,
                   help=f"lifter weights (.pt), e.g. weights/lifter_tcn81_h36m.pt (default: {DEFAULT_WEIGHTS.name})")
    p.add_argument("--backend", choices=BACKENDS, default="eager", help="how the lifter runs (default: eager)")
    p.add_argument("--camera", type=Path, help="camera calibration JSON")
    p.add_argument("--fov", type=number_between(1.0, 179.0, "a horizontal field of view in degrees"), default=60.0,
                   help="horizontal field of view (degrees) when uncalibrated")
    p.add_argument("--no-flip", action="store_true", help="lift each frame once, without its mirror image (cheaper, less accurate)")
    add_height_arg(p)
    args = p.parse_args(argv)
    problem = display_problem()
    if problem:
        print(f"poselift-app: {problem}", file=sys.stderr)
        return 2

    import pyqtgraph as pg
    from .window import MainWindow, make_application

    app = make_application()
    pg.setConfigOptions(antialias=True)
    window = MainWindow(PipelineOptions(weights=args.weights, backend=args.backend, flip=not args.no_flip,
                                       camera=args.camera, hfov_deg=args.fov, world=WorldSettings(args.height)))
    window.resize(1400, 720)
    window.show()
    if args.video is not None:
        window.open_path(args.video)
    else:
        window.open_webcam(args.webcam)
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
