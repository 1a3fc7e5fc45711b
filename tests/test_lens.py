"""The lens a phone names in its video sets the field of view, where the user gives none."""
import math
import struct
import subprocess
import sys

import pytest

from conftest import write_video
from poselift.calibration.camera import GUESSED_HFOV_DEG
from poselift.engine.outputs.clip import Clip
from poselift.engine.live.pipeline import Pipeline
from poselift.engine.live.sources import VideoFileSource
from poselift.videos import FOCAL_35MM_KEY, lens_fov_deg


def fov_of_35mm(focal: float, width: int, height: int) -> float:
    """The field of view across the longer side of a lens of this 35 mm-equivalent focal length."""
    focal_px = focal / math.hypot(36, 24) * math.hypot(width, height)
    return math.degrees(2 * math.atan(max(width, height) / 2 / focal_px))


def atom(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def meta_atom(value: bytes, well_known_type: int, full_box: bool) -> bytes:
    """A ``meta`` atom naming two keys, the focal length second, as a camera writes it."""
    keys = [b"com.apple.quicktime.camera.lens_model", FOCAL_35MM_KEY]
    key_list = b"".join(struct.pack(">I", 8 + len(k)) + b"mdta" + k for k in keys)
    items = (atom(struct.pack(">I", 1), atom(b"data", struct.pack(">II", 1, 0) + b"back camera 4.2mm f/1.6"))
             + atom(struct.pack(">I", 2), atom(b"data", struct.pack(">II", well_known_type, 0) + value)))
    body = atom(b"hdlr", bytes(8) + b"mdta" + bytes(13)) + atom(b"keys", struct.pack(">II", 0, 2) + key_list) + atom(b"ilst", items)
    return atom(b"meta", (bytes(4) if full_box else b"") + body)


def test_an_iphone_video_s_lens_sets_the_field_of_view_and_a_given_one_wins(tmp_path):
    phone, plain = tmp_path / "phone.mov", tmp_path / "plain.mp4"
    write_video(phone, frames=3, size=(96, 64), metadata={FOCAL_35MM_KEY.decode(): "26"})
    write_video(plain, frames=3, size=(96, 64))
    expected = fov_of_35mm(26, 96, 64)
    assert lens_fov_deg(phone, 96, 64) == pytest.approx(expected) and 65 < expected < 75
    assert lens_fov_deg(plain, 96, 64) is None

    source = VideoFileSource(phone).start()
    frames = list(source)
    assert source.lens_hfov_deg == pytest.approx(expected)
    assert [f.lens_hfov_deg for f in frames] == [source.lens_hfov_deg] * 3

    def focal_px(hfov_deg, lens_hfov_deg):  # the intrinsics the pipeline uses, lifting nothing
        return Pipeline(lifter=None, keypoints=object(), hfov_deg=hfov_deg).camera_for(96, 64, lens_hfov_deg).f[0]

    assert focal_px(None, frames[0].lens_hfov_deg) == pytest.approx(26 / math.hypot(36, 24) * math.hypot(96, 64))
    assert focal_px(None, None) == pytest.approx(48 / math.tan(math.radians(GUESSED_HFOV_DEG) / 2))
    assert focal_px(50.0, frames[0].lens_hfov_deg) == pytest.approx(48 / math.tan(math.radians(25)))


@pytest.mark.parametrize("value, well_known_type, full_box, focal", [
    (struct.pack(">h", 77), 21, False, 77.0),  # a signed integer, in QuickTime's meta
    (struct.pack(">f", 13.0), 23, True, 13.0),  # a float, in MP4's meta (with a version and flags)
    (b"50.00mm", 1, False, 50.0),  # text
])
def test_the_lens_is_read_from_the_video_track_s_own_metadata(tmp_path, value, well_known_type, full_box, focal):
    trak = atom(b"trak", atom(b"tkhd", bytes(84)) + meta_atom(value, well_known_type, full_box))
    path = tmp_path / "track.mov"
    path.write_bytes(atom(b"ftyp", b"qt  " + bytes(4)) + atom(b"wide", b"") + atom(b"mdat", bytes(4096))
                     + atom(b"moov", atom(b"mvhd", bytes(100)) + trak))
    assert lens_fov_deg(path, 1920, 1080) == pytest.approx(fov_of_35mm(focal, 1920, 1080))


@pytest.mark.parametrize("focal", [b"0", b"5000", b"wide"])
def test_a_focal_length_no_lens_has_is_ignored(tmp_path, focal):
    path = tmp_path / "odd.mov"
    path.write_bytes(atom(b"moov", meta_atom(focal, 1, False)))
    assert lens_fov_deg(path, 1920, 1080) is None


def test_a_cut_short_file_has_no_lens(tmp_path):
    path = tmp_path / "cut.mov"
    whole = atom(b"moov", meta_atom(b"26", 1, False))
    path.write_bytes(whole[: len(whole) // 2])
    assert lens_fov_deg(path, 1920, 1080) is None


def test_process_says_where_the_field_of_view_came_from_and_stores_the_lens_camera(tmp_path, random_weights):
    phone, plain = tmp_path / "phone.mov", tmp_path / "plain.mp4"
    write_video(phone, frames=3, size=(96, 64), metadata={FOCAL_35MM_KEY.decode(): "26"})
    write_video(plain, frames=3, size=(96, 64))

    def process(video, out, *extra):
        cmd = [sys.executable, "-m", "poselift", "process", str(video), "-o", str(tmp_path / out), "--weights",
               str(random_weights), "--quiet", "--no-video", *extra]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert result.returncode == 2 and "nobody was found" in result.stderr  # blank frames; the clip is kept
        return result.stdout, Clip.load(tmp_path / out / f"{video.stem}_3d.npz").meta["camera"]["f"][0]

    said, focal = process(phone, "lens")
    assert "from the lens the video names" in said
    assert focal == pytest.approx(26 / math.hypot(36, 24) * math.hypot(96, 64))
    said, focal = process(plain, "plain")
    assert "field of view guessed" in said and "--fov" in said
    assert focal == pytest.approx(48 / math.tan(math.radians(GUESSED_HFOV_DEG) / 2))
    said, focal = process(phone, "given", "--fov", "50")
    assert "field of view" not in said and focal == pytest.approx(48 / math.tan(math.radians(25)))
