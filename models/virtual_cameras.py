"""Virtual cameras: world mocap filmed from anywhere a user might hold a phone or put a webcam.

A camera is drawn per window (training) or per clip (the evaluation suites): any azimuth around the
person, elevation from below the hips to steeply above, a little roll, a field of view from telephoto to
wide-angle, landscape or portrait, the person anywhere in the image and from filling it
(close, limbs cut off by the border) to small in the distance. All torch, batched, on any device.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..calibration import Camera
from .h36m import Sequence
from .motion import MotionClip

ASPECTS = (16 / 9, 4 / 3, 9 / 16)  # landscape video, webcam, phone held upright


@dataclass(frozen=True)
class CameraRanges:
    elevation_deg: tuple[float, float] = (-15.0, 60.0)  # camera's height angle seen from the pelvis
    roll_deg: float = 4.0  # standard deviation
    hfov_deg: tuple[float, float] = (40.0, 100.0)  # across the image's long side (a phone's upright too)
    # The person's height over the image height; above 1 the body does not fit and its cut-off joints
    # get confidence 0, as MediaPipe reports them.
    fill: tuple[float, float] = (0.3, 1.2)
    offset: float = 0.7  # the pelvis anywhere within this fraction of the half-image from the centre
    aspect_weights: tuple[float, float, float] = (0.45, 0.3, 0.25)


# The evaluation suites: the whole body usually in view (a cut-off limb is a guess, not a measurement).
EVAL_RANGES = CameraRanges(fill=(0.3, 0.9), offset=0.5)


@dataclass
class VirtualCameras:
    """A batch of B pinhole cameras: ``R`` (B, 3, 3) world -> camera axes (x right, y down, z forward),
    ``centre`` (B, 3) world mm, ``half`` (B, 2) tangents of the half fields of view."""
    R: torch.Tensor
    centre: torch.Tensor
    half: torch.Tensor

    def to_camera(self, world: torch.Tensor) -> torch.Tensor:
        """World points (B, ..., 3) -> camera frame (B, ..., 3), mm."""
        b = world.shape[0]
        flat = world.reshape(b, -1, 3) - self.centre[:, None]
        return (flat @ self.R.transpose(1, 2)).reshape(world.shape)

    def inside(self, xy: torch.Tensor) -> torch.Tensor:
        """Which normalised image points (B, ..., 2) fall inside the frame: (B, ...) bool."""
        half = self.half.reshape(-1, *([1] * (xy.dim() - 2)), 2)
        return (xy.abs() <= half).all(-1)

    def camera(self, i: int, width: int = 1280) -> Camera:
        """Camera ``i`` as a pixel camera ``width`` pixels wide (the evaluation suites' sequences)."""
        tx, ty = (float(v) for v in self.half[i])
        height = round(width * ty / tx)
        f = 0.5 * width / tx
        return Camera(f=(f, f), c=(width / 2, height / 2), width=width, height=height,
                      R=self.R[i].double().cpu().numpy(), T=self.centre[i].double().cpu().numpy())


def _uniform(lo: float, hi: float, n: int, gen: torch.Generator, device) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=gen, device=device)


def _rotation_from_z(v: torch.Tensor) -> torch.Tensor:
    """Rotations (B, 3, 3) taking the unit z axis onto the unit vectors ``v`` (B, 3) (Rodrigues)."""
    z = torch.zeros_like(v)
    z[:, 2] = 1
    axis = torch.linalg.cross(z, v)
    s, c = axis.norm(dim=-1).clamp_min(1e-9), v[:, 2]
    k = axis / s[:, None]
    kx = torch.zeros(len(v), 3, 3, device=v.device, dtype=v.dtype)
    kx[:, 0, 1], kx[:, 0, 2], kx[:, 1, 2] = -k[:, 2], k[:, 1], -k[:, 0]
    kx = kx - kx.transpose(1, 2)
    eye = torch.eye(3, device=v.device, dtype=v.dtype).expand_as(kx)
    return eye + s[:, None, None] * kx + (1 - c)[:, None, None] * (kx @ kx)


def draw_cameras(target: torch.Tensor, height: torch.Tensor, radius: torch.Tensor, gen: torch.Generator,
                 ranges: CameraRanges = CameraRanges()) -> VirtualCameras:
    """Cameras looking at ``target`` (B, 3) world mm (the pelvis), framing a person ``height`` (B,) mm
    tall who moves within ``radius`` (B,) mm of it. World Z is up."""
    n, dev = len(target), target.device
    aspect = torch.tensor(ASPECTS, device=dev)[torch.multinomial(
        torch.tensor(ranges.aspect_weights, device=dev), n, replacement=True, generator=gen)]
    tan_long = torch.tan(torch.deg2rad(_uniform(*ranges.hfov_deg, n, gen, dev)) / 2)
    half = torch.stack([tan_long * aspect.clamp(max=1), tan_long / aspect.clamp(min=1)], dim=-1)
    fill = torch.exp(_uniform(math.log(ranges.fill[0]), math.log(ranges.fill[1]), n, gen, dev))
    # Nobody films from closer than about an arm's length beyond the person's path.
    distance = torch.maximum(height / (fill * 2 * half[:, 1]), radius + 0.6 * height)
    azimuth = _uniform(0, 2 * math.pi, n, gen, dev)
    elevation = torch.deg2rad(_uniform(*ranges.elevation_deg, n, gen, dev))
    back = torch.stack([elevation.cos() * azimuth.cos(), elevation.cos() * azimuth.sin(), elevation.sin()], -1)
    centre = target + distance[:, None] * back
    forward = -back
    up = torch.tensor([0.0, 0.0, 1.0], device=dev).expand_as(forward)
    right = torch.linalg.cross(forward, up)
    right = right / right.norm(dim=-1, keepdim=True)
    look = torch.stack([right, torch.linalg.cross(forward, right), forward], dim=1)
    roll = torch.deg2rad(ranges.roll_deg * torch.randn(n, generator=gen, device=dev))
    cr, sr = roll.cos(), roll.sin()
    zeros, ones = torch.zeros_like(cr), torch.ones_like(cr)
    rz = torch.stack([cr, -sr, zeros, sr, cr, zeros, zeros, zeros, ones], -1).reshape(n, 3, 3)
    # Turn the camera so that the pelvis lands off-centre, anywhere within `offset` of the half-image.
    spot = ranges.offset * half * (2 * torch.rand(n, 2, generator=gen, device=dev) - 1)
    ray = torch.cat([spot, torch.ones(n, 1, device=dev)], -1)
    aim = _rotation_from_z(ray / ray.norm(dim=-1, keepdim=True))
    return VirtualCameras(aim @ rz @ look, centre, half)


def framing(world: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """What a camera must frame for world windows (B, T, 17, 3): the mean pelvis, the person's
    height (their vertical extent, at least 1 m) and how far the pelvis strays from its mean."""
    pelvis = world[:, :, 0]
    target = pelvis.mean(1)
    z = world[..., 2]
    height = (z.amax(dim=(1, 2)) - z.amin(dim=(1, 2))).clamp_min(1000.0)
    radius = (pelvis[..., :2] - target[:, None, :2]).norm(dim=-1).amax(1)
    return target, height, radius


def film(world: torch.Tensor, cameras: VirtualCameras, min_depth: float = 100.0
         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """World windows (B, T, J, 3) through ``cameras``: camera-frame 3D (mm), normalised image
    coordinates (B, T, J, 2) and which joints are inside the frame (B, T, J)."""
    cam = cameras.to_camera(world)
    xy = cam[..., :2] / cam[..., 2:].clamp_min(min_depth)
    return cam, xy, cameras.inside(xy) & (cam[..., 2] > min_depth)


def virtual_sequences(clips: list[MotionClip], subject: str, per_clip: int = 1, seed: int = 0,
                      ranges: CameraRanges = CameraRanges()) -> list[Sequence]:
    """Each clip filmed by ``per_clip`` seeded random cameras fixed for the whole clip: an evaluation
    suite, scored like the standard protocol (``Sequence.action`` is the clip's action)."""
    out = []
    for i, clip in enumerate(clips):
        gen = torch.Generator().manual_seed(seed * 1_000_003 + i)
        world = torch.from_numpy(clip.world).double()[None].expand(per_clip, -1, -1, -1)
        cams = draw_cameras(*framing(world), gen, ranges)
        for k in range(per_clip):
            cam = cams.camera(k)
            x_cam = cam.world_to_camera(clip.world.astype(np.float64))
            out.append(Sequence(subject, f"{clip.action} {i}", f"v{k}", cam, x_cam.astype(np.float32),
                                cam.project(x_cam).astype(np.float32), None, clip.fps))
    return out

