"""Builds the live pipeline from the user's choices (shared by the command line and the app)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ...calibration import Camera
from ...models.checkpoint import load_weights
from ...models.errors import ConfigError
from ...models.skeletons import H36M
from .backends import make_backend
from .bones import SteadyBones
from .filters import OneEuroFilter
from .fusion import Fusion
from .keypoints import front_end
from .pipeline import Pipeline
from .refine import RefineSettings, StreamingRefiner
from .swaps import SwapRepair
from .world import WorldSettings

ROOT = Path(__file__).resolve().parents[2]  # the package root: weights/ and assets/ beside engine/
DEFAULT_WEIGHTS = ROOT / "weights" / "lifter_tcn81.pt"
DEFAULT_REFINER = ROOT / "weights" / "refiner_w27.pt"
DEMO_CLIP = ROOT / "assets" / "walk_outdoor.mp4"
REFINE_DEFAULTS = RefineSettings()
# One-Euro smoothing of the 2D the lifter reads (image-plane units: min cutoff 2 Hz, beta 10 per unit/s),
# for the Tasks front end, which has no landmark smoothing of its own (the legacy one has): it halves
# the demo clip's 3D acceleration (33 -> 17 mm/frame², frames 25-155) for 0.7 mm of P2 on the Pose2Sim views.
LANDMARK_SMOOTHING = (2.0, 10.0)


@dataclass
class PipelineOptions:
    weights: Path = DEFAULT_WEIGHTS
    backend: str = "eager"
    device: str | None = None
    flip: bool = True  # also lift each frame's mirror image and average (see make_backend)
    camera: Path | None = None  # calibration JSON; otherwise intrinsics from a field of view:
    hfov_deg: float | None = None  # this one; None: the video's lens where its file says, else GUESSED_HFOV_DEG
    smoothing: float | None = None  # One-Euro min cutoff in Hz; None = off
    refine: bool = False
    refiner: Path = DEFAULT_REFINER
    refine_settings: RefineSettings = field(default_factory=RefineSettings)
    swap_repair: bool = True  # swap MediaPipe's left/right label swaps back before lifting
    fusion: bool = True  # fuse MediaPipe's own 3D into the lift where it has one (see engine/live/fusion.py)
    fusion_weighting: str = "robust"  # one of fusion.WEIGHTINGS
    people: int = 1  # people followed (with more than one, a result and a clip each)
    follow: int | None = None  # the id of the person to follow; None: the most prominent at the start
    solo: bool = False  # the faster single-person MediaPipe, for videos with nobody else in them
    steady_bones: bool = True  # each bone at the person's running mean length (engine/live/bones.py)
    world: WorldSettings | None = field(default_factory=WorldSettings)  # None: root-relative only
    causal: bool = False  # a whole video (process) lifted from each frame's past only, as live; else both ways


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def build_pipeline(opts: PipelineOptions, keypoints=None) -> tuple[Pipeline, dict]:
    """The pipeline and a description of the model for clip metadata."""
    if opts.solo and opts.people > 1:
        raise ConfigError(f"--solo finds one person at a time, so it cannot follow {opts.people}: drop --solo "
                          f"or --people.")
    if keypoints is None:
        keypoints = front_end(opts.people, opts.solo)
    torch.set_num_threads(1)  # one live step is tiny; MediaPipe and decoding need the other cores
    model = load_weights(opts.weights)
    backend = make_backend(opts.backend, model, opts.device, opts.flip)
    camera = Camera.load(opts.camera) if opts.camera else None
    smoothing = OneEuroFilter(min_cutoff=opts.smoothing) if opts.smoothing else None
    refiner = load_refiner(opts.refiner, opts.refine_settings) if opts.refine else None
    pipeline = Pipeline(backend, camera=camera, hfov_deg=opts.hfov_deg, keypoints=keypoints, smoothing=smoothing,
                        refiner=refiner, swap_repair=SwapRepair() if opts.swap_repair else None,
                        world=opts.world, people=opts.people, follow=opts.follow,
                        fusion=Fusion(opts.fusion_weighting) if opts.fusion else None,
                        bones=SteadyBones(H36M) if opts.steady_bones else None,
                        landmark_smoothing=None if keypoints.smooths_landmarks else OneEuroFilter(*LANDMARK_SMOOTHING))
    info = {"weights": Path(opts.weights).name, "sha256": file_sha256(opts.weights), "backend": opts.backend,
            "flip": opts.flip, "swap_repair": opts.swap_repair, "people": opts.people, "solo": opts.solo,
            "arch": model.arch, "receptive_field": model.context[0] + 1, "fusion": opts.fusion,
            "steady_bones": opts.steady_bones}
    if opts.fusion:
        info["fusion_weighting"] = opts.fusion_weighting
    if refiner is not None:
        info["refiner"] = {"weights": Path(opts.refiner).name, "sha256": file_sha256(opts.refiner),
                           **vars(opts.refine_settings)}
    return pipeline, info


def load_refiner(path: Path, settings: RefineSettings) -> StreamingRefiner:
    return StreamingRefiner(load_weights(path, arch="diffusion_refiner"), settings)
