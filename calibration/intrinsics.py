"""Camera intrinsics and lens distortion from a calibration board filmed from several angles (OpenCV).

A checkerboard or a ChArUco board is found in the frames, up to ``max_views`` of the views found are
kept, spread over the take, and ``cv2.calibrateCamera`` fits focal lengths, principal point and the
radial distortion k1, k2. The tangential terms and k3 are held at zero: :class:`Camera` models
tangential distortion in Human3.6M's form, not OpenCV's, and for phone and webcam lenses both terms
are within the fit's noise (k3 mostly absorbs it and then extrapolates badly at the image corners).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from .camera import CalibrationError, Camera

BOARD_KINDS = ("checkerboard", "charuco")
MIN_VIEWS = 5
CHECKERBOARD_FLAGS = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_FAST_CHECK
SUBPIXEL_STOP = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 0.01)


class BoardNotFound(CalibrationError):
    """The board was not found in enough frames to calibrate."""


@dataclass(frozen=True)
class Board:
    kind: str  # "checkerboard" or "charuco"
    columns: int  # squares across (a checkerboard of 10 x 7 squares has 9 x 6 inner corners)
    rows: int  # squares down
    square_mm: float
    marker_mm: float | None = None  # ChArUco: the markers' side (default: 0.75 of a square)
    dictionary: str = "DICT_5X5_100"  # ChArUco: the ArUco dictionary its markers come from

    def __post_init__(self):
        if self.kind not in BOARD_KINDS:
            raise CalibrationError(f"unknown board {self.kind!r}: choose {' or '.join(BOARD_KINDS)}.")
        if min(self.columns, self.rows) < 3 or self.square_mm <= 0:
            raise CalibrationError(f"a {self.columns}x{self.rows}-square board with {self.square_mm} mm squares "
                                   f"cannot be calibrated with: give at least 3x3 squares and their size in mm.")
        if self.kind == "charuco" and not hasattr(cv2.aruco, self.dictionary):
            raise CalibrationError(f"unknown ArUco dictionary {self.dictionary!r}: give one such as DICT_5X5_100.")

    def describe(self) -> str:
        return f"{self.columns}x{self.rows}-square {self.kind} ({self.square_mm:g} mm squares)"

    def detector(self):
        """A function from a grayscale image to (object points (N, 3) mm, image points (N, 2) px) or None."""
        if self.kind == "checkerboard":
            inner = (self.columns - 1, self.rows - 1)
            grid = np.mgrid[0: inner[0], 0: inner[1]].T.reshape(-1, 2) * self.square_mm
            objects = np.column_stack([grid, np.zeros(len(grid))]).astype(np.float32)

            def detect(gray: np.ndarray):
                found, corners = cv2.findChessboardCorners(gray, inner, flags=CHECKERBOARD_FLAGS)
                if not found:
                    return None
                window = max(5, round(5 * gray.shape[1] / 640))  # under half a square at any sensible distance
                corners = cv2.cornerSubPix(gray, corners, (window, window), (-1, -1), SUBPIXEL_STOP)
                return objects, corners.reshape(-1, 2)
            return detect
        marker = self.marker_mm or 0.75 * self.square_mm
        board = cv2.aruco.CharucoBoard((self.columns, self.rows), self.square_mm, marker,
                                       cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, self.dictionary)))
        charuco = cv2.aruco.CharucoDetector(board)

        def detect(gray: np.ndarray):
            corners, ids, _, _ = charuco.detectBoard(gray)
            if ids is None or len(ids) < 6:  # fewer corners do not fix a view's pose
                return None
            objects, points = board.matchImagePoints(corners, ids)
            return objects.reshape(-1, 3).astype(np.float32), points.reshape(-1, 2).astype(np.float32)
        return detect


@dataclass
class Calibration:
    camera: Camera
    reprojection_error_px: float  # RMS over every corner of every view used
    views: int  # views the fit used
    frames_seen: int  # frames searched for the board
    frames_found: int  # frames the board was found in
    board: Board

    def save(self, path: str | Path) -> Path:
        """The camera JSON that ``--camera`` reads, with how it was made beside the camera's keys."""
        path = Path(path)
        doc = {**self.camera.to_dict(), "reprojection_error_px": round(self.reprojection_error_px, 4),
               "views": self.views, "board": asdict(self.board)}
        path.write_text(json.dumps(doc, indent=2))
        return path


def calibrate(images: Iterable[np.ndarray], board: Board, max_views: int = 40) -> Calibration:
    """Intrinsics from BGR (or grayscale) frames showing ``board`` from several angles."""
    detect = board.detector()
    found, seen, size = [], 0, None
    for image in images:
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        size = size or (gray.shape[1], gray.shape[0])
        seen += 1
        view = detect(gray)
        if view is not None:
            found.append(view)
    if len(found) < MIN_VIEWS:
        what = "no" if not found else f"only {len(found)} views of the"
        raise BoardNotFound(f"{what} {board.describe()} {'was' if not found else 'were'} found in the {seen} frames "
                            f"searched: check the board's kind and size in squares (not inner corners), and film "
                            f"the whole board, flat and well lit, from {MIN_VIEWS} or more angles.")
    keep = np.unique(np.linspace(0, len(found) - 1, min(max_views, len(found))).round().astype(int))
    objects = [found[i][0] for i in keep]
    points = [found[i][1] for i in keep]
    flags = cv2.CALIB_ZERO_TANGENT_DIST | cv2.CALIB_FIX_K3
    rms, matrix, dist, _, _ = cv2.calibrateCamera(objects, points, size, None, None, flags=flags)
    dist = np.ravel(dist)
    camera = Camera(f=(float(matrix[0, 0]), float(matrix[1, 1])), c=(float(matrix[0, 2]), float(matrix[1, 2])),
                    width=size[0], height=size[1], k=(float(dist[0]), float(dist[1]), 0.0))
    return Calibration(camera, float(rms), len(keep), seen, len(found), board)
