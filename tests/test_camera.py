import numpy as np
import pytest

from poselift.calibration import Camera


def distorted_camera() -> Camera:
    rot = np.array([[0.0, 0, 1], [1, 0, 0], [0, 1, 0]])  # a proper rotation (det +1)
    return Camera(f=(1145.0, 1143.8), c=(512.5, 515.4), width=1000, height=1002,
                  k=(-0.207, 0.248, -0.003), p=(-0.0014, -0.001), R=rot, T=np.array([100.0, -50, 20]))


def test_world_camera_round_trip():
    cam = distorted_camera()
    x = np.random.default_rng(0).normal(0, 1000, (50, 3))
    assert np.allclose(cam.camera_to_world(cam.world_to_camera(x)), x)
    # The camera centre maps to the camera-frame origin.
    assert np.allclose(cam.world_to_camera(cam.T), 0)


def test_projection_of_points_on_the_axis_and_off_it():
    cam = Camera(f=(1000.0, 1000.0), c=(320.0, 240.0), width=640, height=480)
    assert np.allclose(cam.project(np.array([0.0, 0, 5000])), [320, 240])
    assert np.allclose(cam.project(np.array([500.0, -250, 5000])), [420, 190])


def test_normalize_inverts_projection_with_distortion():
    cam = distorted_camera()
    rng = np.random.default_rng(1)
    x_cam = np.column_stack([rng.uniform(-1500, 1500, 200), rng.uniform(-1000, 1000, 200), rng.uniform(3000, 7000, 200)])
    uv = cam.project(x_cam)
    xy = cam.normalize(uv)
    ideal = x_cam[:, :2] / x_cam[:, 2:] * np.asarray(cam.f) / cam.focal
    assert np.abs(xy - ideal).max() < 1e-6
    assert np.abs(cam.denormalize(xy) - uv).max() < 1e-6
    # Distortion is not a no-op on this camera: ignoring it would be off by pixels.
    assert np.abs((x_cam[:, :2] / x_cam[:, 2:]) * cam.f + cam.c - uv).max() > 5


def test_from_fov():
    cam = Camera.from_fov(1280, 720, 90.0)
    assert cam.f == pytest.approx((640.0, 640.0)) and cam.c == (640.0, 360.0)
    upright = Camera.from_fov(720, 1280, 90.0)  # the same lens, the phone held upright: the angle is along the height
    assert upright.f == cam.f and upright.c == (360.0, 640.0)
    with pytest.raises(ValueError, match="field of view"):
        Camera.from_fov(640, 480, 0.0)


def test_from_dict_names_missing_keys():
    with pytest.raises(ValueError, match=r"lacks \['c'\]"):
        Camera.from_dict({"f": [1, 1], "width": 10, "height": 10})
    cam = distorted_camera()
    again = Camera.from_dict(cam.to_dict())
    assert np.allclose(again.R, cam.R) and again.k == cam.k


def test_a_saved_camera_keeps_its_distortions_form(tmp_path):
    from poselift.calibration.camera import OpenCVCamera
    opencv = OpenCVCamera(f=(1000.0, 990.0), c=(500.0, 400.0), width=1000, height=800, k=(0.1, 0.01, 0.0),
                          p=(0.002, -0.003))
    opencv.save(tmp_path / "cam.json")
    again = Camera.load(tmp_path / "cam.json")
    xy = np.array([[0.3, -0.2], [-0.25, 0.35]])
    assert isinstance(again, OpenCVCamera) and np.allclose(again.distort(xy), opencv.distort(xy))
    assert not np.allclose(Camera(**{k: getattr(opencv, k) for k in ("f", "c", "width", "height", "k", "p")}).distort(xy),
                           opencv.distort(xy))  # the two forms differ: the tag matters
    with pytest.raises(ValueError, match="distortion 'fisheye' is not one of human36m, opencv"):
        Camera.from_dict({**opencv.to_dict(), "distortion": "fisheye"})
