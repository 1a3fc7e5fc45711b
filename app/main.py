"""`poselift-app [VIDEO]`: the desktop application (a webcam when no file is given)."""
from __future__ import annotations

import argparse
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
    p.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    p.add_argument("--backend", choices=BACKENDS, default="eager")
    p.add_argument("--camera", type=Path, help="camera calibration JSON")
    p.add_argument("--fov", type=number_between(1.0, 179.0, "a horizontal field of view in degrees"), default=60.0,
                   help="horizontal field of view (degrees) when uncalibrated")
    p.add_argument("--no-flip", action="store_true", help="lift each frame once, without its mirror image (cheaper, less accurate)")
    add_height_arg(p)
    args = p.parse_args(argv)

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


if __name__ == "__main__":
    sys.exit(main())
