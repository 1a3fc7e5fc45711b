"""Scene verticals against the true gravity of the Pose2Sim cameras, and on the outdoor demo clip."""
from __future__ import annotations

import argparse
import os
import re
import time
from pathlib import Path

import cv2
import numpy as np

from poselift.calibration import Camera
from poselift.calibration.floor import tilt_of
from poselift.calibration.verticals import Segments, detect_segments, fit_scene_up, scene_up

ROOT = Path(__file__).resolve().parents[2]
POSE2SIM = Path(os.environ.get("POSELIFT_POSE2SIM") or ROOT.parent / "shared/data/pose2sim")


def spread(count: int, n: int) -> np.ndarray:
    """``n`` frame indices spread evenly over a clip of ``count`` frames."""
    return np.unique(np.linspace(0, max(count - 1, 0), min(n, max(count, 1))).round().astype(int))


def pooled_up(frames: list, cam) -> object:
    """Up from several frames' segments pooled, as the live floor pools them."""
    return fit_scene_up(Segments.concat([detect_segments(f, cam) for f in frames]))


def read_qca(path: Path) -> list[tuple[str, Camera, np.ndarray]]:
    """(name, camera, true up in camera axes) per camera of a Qualisys ``.qca.txt``."""
    text = path.read_text()
    out = []
    for block in re.findall(r"<camera .*?</camera>", text, re.S):
        def attrs(tag: str, block: str = block) -> dict:
            return dict(re.findall(r'(\w+)="([^"]*)"', re.search(rf"<{tag} ([^>]*)/>", block).group(1)))
        name = re.search(r'serial="([^"]+)"', block).group(1)
        tr, intr, fov = attrs("transform"), attrs("intrinsic"), attrs("fov_video")
        rq = np.array([[float(tr[f"r{i}{j}"]) for j in (1, 2, 3)] for i in (1, 2, 3)])
        r = np.diag([1.0, -1.0, -1.0]) @ rq
        left, top = float(fov["left"]), float(fov["top"])
        w, h = int(fov["right"]) - int(left) + 1, int(fov["bottom"]) - int(top) + 1
        cam = Camera(f=(float(intr["focalLengthU"]) / 64, float(intr["focalLengthV"]) / 64),
                     c=(float(intr["centerPointU"]) / 64 - left, float(intr["centerPointV"]) / 64 - top),
                     width=w, height=h, k=(float(intr["radialDistortion1"]), float(intr["radialDistortion2"]), 0.0),
                     p=(float(intr["tangentalDistortion1"]), float(intr["tangentalDistortion2"])))
        out.append((name, cam, r[:, 2]))
    return out


def read_frames(path: Path, indices) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    for i in indices:
        cap.set(cv2.CAP_PROP_POS_FRAMES, int(i))
        ok, f = cap.read()
        if ok:
            frames.append(f)
    return frames


def angle(a, b) -> float:
    return float(np.degrees(np.arccos(np.clip(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b), -1, 1))))


def draw(frame: np.ndarray, camera: Camera, path: Path, scale: float = 0.5) -> None:
    seg = detect_segments(frame, camera)
    est = fit_scene_up(seg)
    img = frame.copy()
    for x0, y0, x1, y1 in seg.pixels.astype(int):
        cv2.line(img, (x0, y0), (x1, y1), (128, 128, 128), 2)
    if est is not None:
        for x0, y0, x1, y1 in seg.pixels[est.index].astype(int):
            cv2.line(img, (x0, y0), (x1, y1), (0, 255, 0), 4)
    cv2.imwrite(str(path), cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))


def fmt(est, truth=None) -> str:
    if est is None:
        return "none"
    pitch, roll = tilt_of(est.up)
    err = f"err {angle(est.up, truth):5.2f} deg, " if truth is not None else ""
    return (f"{err}sigma {est.sigma_deg:4.2f} deg, pitch {pitch:6.2f} roll {roll:6.2f}, "
            f"{est.inliers} segments / {est.inlier_length_px:.0f} px")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=8, help="frames spread over each clip for the clip estimate")
    ap.add_argument("--draw", type=Path, default=None, help="folder for PNGs of the inlier segments")
    args = ap.parse_args()
    errs1, errs = [], []
    for name, cam, truth in read_qca(POSE2SIM / "calibration/Calib.qca.txt"):
        video = POSE2SIM / "videos" / f"{name}.mp4"
        count = int(cv2.VideoCapture(str(video)).get(cv2.CAP_PROP_FRAME_COUNT))
        frames = read_frames(video, spread(count, args.frames))
        t = time.time()
        one = scene_up(frames[0], cam)
        t1 = time.time() - t
        per = [scene_up(f, cam) for f in frames]
        t = time.time()
        clip = pooled_up(frames, cam)
        tk = time.time() - t
        pt, rt = tilt_of(truth)
        print(f"{name}: truth pitch {pt:6.2f} roll {rt:6.2f}")
        print(f"  1 frame : {fmt(one, truth)}  ({t1:.2f} s)")
        print(f"  per frame errors: {[round(angle(e.up, truth), 2) if e else None for e in per]}")
        print(f"  {len(frames)} frames: {fmt(clip, truth)}  ({tk:.2f} s)")
        errs1.append(angle(one.up, truth) if one else np.nan)
        errs.append(angle(clip.up, truth) if clip else np.nan)
        if args.draw:
            args.draw.mkdir(parents=True, exist_ok=True)
            draw(frames[0], cam, args.draw / f"{name}.png", 0.4)
    print(f"median error: 1 frame {np.nanmedian(errs1):.2f} deg, clip {np.nanmedian(errs):.2f} deg")

    demo = ROOT / "assets/walk_outdoor.mp4"
    cam = Camera.load(ROOT / "assets/walk_outdoor_camera.json")
    count = int(cv2.VideoCapture(str(demo)).get(cv2.CAP_PROP_FRAME_COUNT))
    frames = read_frames(demo, spread(count, args.frames))
    one, clip = scene_up(frames[0], cam), pooled_up(frames, cam)
    print(f"walk_outdoor: 1 frame: {fmt(one)}; angle from image up {angle(one.up, [0, -1, 0]) if one else float('nan'):.2f} deg")
    print(f"walk_outdoor: {len(frames)} frames: {fmt(clip)}")
    rot = cv2.rotate(frames[0], cv2.ROTATE_90_CLOCKWISE)
    rcam = Camera(f=cam.f[::-1], c=(cam.height - cam.c[1], cam.c[0]), width=cam.height, height=cam.width)
    print(f"walk_outdoor rotated 90 deg: {fmt(scene_up(rot, rcam))}")
    noise = np.random.default_rng(0).integers(0, 256, frames[0].shape, dtype=np.uint8)
    print(f"uniform noise: {fmt(scene_up(noise, cam))}")
    if args.draw:
        draw(frames[0], cam, args.draw / "walk_outdoor.png", 0.5)
        draw(rot, rcam, args.draw / "walk_outdoor_rotated.png", 0.5)


if __name__ == "__main__":
    main()
