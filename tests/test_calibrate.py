"""`poselift calibrate` on board videos rendered through a known camera, lens distortion included."""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import write_video
from poselift.calibration import Camera
from poselift.engine.commands.main import main
from poselift.engine.outputs.video_writer import VideoWriter

TRUE = Camera(f=(610.0, 610.0), c=(327.0, 236.0), width=640, height=480, k=(-0.12, 0.03, 0.0))
SQUARE_MM = 30.0


def checkerboard_texture(columns: int, rows: int, px: int = 40) -> np.ndarray:
    """Black and white squares with a white square's margin all round (detectors need the quiet zone)."""
    cells = (np.indices((rows + 2, columns + 2)).sum(axis=0) % 2 == 0).astype(np.uint8) * 255
    cells[0], cells[-1], cells[:, 0], cells[:, -1] = 255, 255, 255, 255
    return np.kron(cells, np.ones((px, px), np.uint8))


def charuco_texture(columns: int, rows: int, px: int = 60) -> np.ndarray:
    board = cv2.aruco.CharucoBoard((columns, rows), SQUARE_MM, 0.75 * SQUARE_MM,
                                   cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_5X5_100))
    return board.generateImage(((columns + 2) * px, (rows + 2) * px), marginSize=px)


def pixel_rays(camera: Camera) -> np.ndarray:
    """(H, W, 3) the viewing ray of every pixel, lens distortion removed."""
    u, v = np.meshgrid(np.arange(camera.width, dtype=np.float64), np.arange(camera.height, dtype=np.float64))
    xy = camera.undistort((np.stack([u, v], -1) - camera.c) / camera.f)
    return np.concatenate([xy, np.ones(xy.shape[:2] + (1,))], -1)


def render_view(texture: np.ndarray, rays: np.ndarray, rotation: np.ndarray, t_mm: np.ndarray,
                mm_per_px: float) -> np.ndarray:
    """What the camera of ``rays`` sees of the board lying at ``rotation``, ``t_mm`` (board plane z = 0,
    its centre at the origin): where each pixel's ray meets the plane."""
    rays = rays @ rotation  # rows: R^T ray, in board axes
    origin = -rotation.T @ t_mm  # the camera centre in board axes
    lam = -origin[2] / rays[..., 2]
    board = origin[:2] + lam[..., None] * rays[..., :2]
    h, w = texture.shape
    maps = (board / mm_per_px + [w / 2, h / 2]).astype(np.float32)
    image = cv2.remap(texture, maps[..., 0], maps[..., 1], cv2.INTER_LINEAR, borderValue=110)
    return cv2.cvtColor(cv2.GaussianBlur(image, (3, 3), 0), cv2.COLOR_GRAY2BGR)


def board_video(path, texture: np.ndarray, mm_per_px: float, views: int = 24) -> None:
    rng, rays = np.random.default_rng(0), pixel_rays(TRUE)
    with VideoWriter(path, 10.0, crf=12) as writer:
        for _ in range(views):
            angles = np.radians(rng.uniform([-35, -35, -20], [35, 35, 20]))
            rotation = cv2.Rodrigues(angles)[0]
            t = np.array([rng.uniform(-80, 80), rng.uniform(-60, 60), rng.uniform(650, 900)])
            writer.write(render_view(texture, rays, rotation, t, mm_per_px))


def calibrate(video, out, *extra):
    cmd = [sys.executable, "-m", "poselift", "calibrate", str(video), "-o", str(out), "--quiet",
           "--square-mm", str(SQUARE_MM), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("board", ["checkerboard", "charuco"])
def test_calibration_recovers_a_known_camera(tmp_path, capsys, board):
    columns, rows = (10, 7) if board == "checkerboard" else (7, 5)
    px = 40 if board == "checkerboard" else 60
    texture = (checkerboard_texture if board == "checkerboard" else charuco_texture)(columns, rows, px)
    video = tmp_path / "board.mp4"
    board_video(video, texture, SQUARE_MM / px)
    result = calibrate(video, tmp_path / "cam.json", "--board", board, "--squares", f"{columns}x{rows}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "reprojection error" in result.stdout
    camera = Camera.load(tmp_path / "cam.json")  # the pipeline's own reader
    assert (camera.width, camera.height) == (640, 480)
    assert abs(camera.focal / TRUE.focal - 1) < 0.02
    assert np.abs(np.subtract(camera.c, TRUE.c)).max() < 8
    assert abs(camera.k[0] - TRUE.k[0]) < 0.04 and camera.p == (0.0, 0.0)
    doc = json.loads((tmp_path / "cam.json").read_text())
    assert 0 < doc["reprojection_error_px"] < 1.0 and doc["views"] >= 18

    assert main(["calibrate", str(video), "-o", str(tmp_path / "cam.json")]) == 2
    assert "cam.json already exists" in capsys.readouterr().err


def test_no_board_is_one_sentence(tmp_path, capsys):
    video = write_video(tmp_path / "nothing.mp4", frames=12, size=(160, 120))
    assert main(["calibrate", str(video), "-o", str(tmp_path / "cam.json"), "--square-mm", "30", "--quiet"]) == 2
    assert ("no 10x7-square checkerboard (30 mm squares) was found in the 12 frames searched"
            in capsys.readouterr().err)
    assert not (tmp_path / "cam.json").exists()
    with pytest.raises(SystemExit) as bad:
        main(["calibrate", str(video), "--squares", "ten"])
    assert bad.value.code == 2 and "is not a board size" in capsys.readouterr().err
