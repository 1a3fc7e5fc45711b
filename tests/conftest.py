import os
from pathlib import Path

import pytest

DATA = Path(os.environ.get("POSELIFT_DATA") or Path(__file__).resolve().parents[2] / "shared/data/h36m")
needs_h36m = pytest.mark.skipif(not (DATA / "poses_3d.npz").is_file(),
                                reason=f"Human3.6M data not found at {DATA}: set POSELIFT_DATA to run these tests.")


@pytest.fixture(scope="session")
def s9():
    from poselift.models.h36m import load_sequences
    return load_sequences(["S9"], DATA)


DEMO = Path(__file__).resolve().parents[1] / "assets" / "walk_outdoor.mp4"


def write_video(path, frames: int = 20, size=(96, 64), fps: int = 25, pix_fmt: str = "yuv420p", codec: str = "libx264"):
    """A small synthetic video whose frame i has a bright square at x = 2 i (for checking order)."""
    import av
    import numpy as np

    w, h = size
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        for i in range(frames):
            img = np.full((h, w, 3), 40, np.uint8)
            img[h // 4: h // 2, 2 * i % (w - 8): 2 * i % (w - 8) + 8] = 230
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory):
    """A randomly initialised lifter of the shipped architecture, for tests that check plumbing."""
    import torch

    from poselift.models.checkpoint import save_weights
    from poselift.models.lifter import LifterSpec, TemporalLifter

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "random.pt"
    save_weights(path, TemporalLifter(LifterSpec()).eval())
    return path
