"""How many clips `poselift process VIDEO --people 2` writes for copies of a video at smaller sizes, and
how many frames hold a person in each (docs/live.md, "People"):
python3 tests/tools/people_in_copies.py assets/walk_outdoor.mp4 OUT

Writes OUT/NAME_30.mp4 ... (30, 40, 50 and 60 % of the width and height, resized with OpenCV's
INTER_AREA) and processes each, and the video as it is, into OUT/NAME_NN/.
"""
import subprocess
import sys
from pathlib import Path

import numpy as np

from recording_copies import copy_video

PERCENTS = (30, 40, 50, 60, 100)


def main(video: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for percent in PERCENTS:
        copy = video if percent == 100 else out / f"{video.stem}_{percent}.mp4"
        if percent != 100 and not copy.exists():
            copy_video(video, copy, percent / 100, 1)
        clips = out / f"{video.stem}_{percent}"
        subprocess.run([sys.executable, "-m", "poselift", "process", str(copy), "--people", "2", "--no-video",
                        "--force", "-o", str(clips)], check=True, capture_output=True)
        frames = [int(np.isfinite(np.load(p)["pose3d"][:, 0, 0]).sum()) for p in sorted(clips.glob("*_p*_3d.npz"))]
        print(f"{percent} %: {len(frames)} clips, frames with the person {frames}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
