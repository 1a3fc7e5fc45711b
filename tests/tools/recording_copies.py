"""Copies of a multi-camera recording as other phones would film it, to see what of `poselift eval
--multiview` holds on another copy of the same scene (docs/multiview.md, "Another copy of the video"):
python3 tests/tools/recording_copies.py ../shared/data/pose2sim OUT

Writes OUT/reencoded (the videos encoded again, H.264 at CRF 23), OUT/half (half the width and height),
OUT/30fps (every other frame) and OUT/half_30fps, each a recording in Pose2Sim's layout sharing the
original's calibration (the benchmark fits a calibration to videos of the same aspect at another size).
Then: poselift eval --multiview OUT/half_30fps
"""
import sys
from pathlib import Path

import cv2

from poselift.calibration.rig import load_rig
from poselift.engine.outputs.video_writer import VideoWriter

COPIES = {"reencoded": (1.0, 1), "half": (0.5, 1), "30fps": (1.0, 2), "half_30fps": (0.5, 2)}  # size, frame step


def copy_video(src: Path, dst: Path, scale: float, step: int) -> None:
    video = cv2.VideoCapture(str(src))
    fps = video.get(cv2.CAP_PROP_FPS)
    with VideoWriter(dst, fps / step) as out:
        index = 0
        while (read := video.read())[0]:
            if index % step == 0:
                image = read[1]
                if scale != 1.0:
                    h, w = image.shape[:2]
                    size = (2 * round(w * scale / 2), 2 * round(h * scale / 2))
                    image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
                out.write(image)
            index += 1
    video.release()


def main(root: Path, out: Path) -> None:
    rig = load_rig(root)
    for name, (scale, step) in COPIES.items():
        folder = out / name
        (folder / "videos").mkdir(parents=True, exist_ok=True)
        calibration = folder / "calibration"
        if not calibration.exists():
            calibration.symlink_to((root / "calibration").resolve(), target_is_directory=True)
        for video in rig.videos:
            copy_video(video, folder / "videos" / f"{video.stem}.mp4", scale, step)
        print(f"{folder}: {len(rig.videos)} videos")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
