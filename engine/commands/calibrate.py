"""``poselift calibrate``: camera intrinsics and lens distortion from a board, as the JSON ``--camera`` takes."""
from __future__ import annotations

import argparse
from pathlib import Path

from ...calibration import CalibrationError
from ...calibration.intrinsics import BOARD_KINDS


def squares(text: str) -> tuple[int, int]:
    """An argparse type: ``COLUMNSxROWS`` of a board, e.g. 10x7."""
    try:
        columns, rows = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text} is not a board size: give squares across x down, e.g. 10x7.")
    return columns, rows


def add_parser(sub: argparse._SubParsersAction) -> None:
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
    k.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from ...calibration.intrinsics import Board
    from ..live.calibrate import calibrate_source

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
