"""The user's options for the pipeline, declared once: the command line, the app and the screenshot tool
all take them from here."""
from __future__ import annotations

import argparse
from pathlib import Path

from ...calibration.camera import GUESSED_HFOV_DEG
from ...calibration.trajectory import DEFAULT_HEIGHT_M, HEIGHT_RANGE_M
from ..live.backends import BACKENDS
from ..live.factory import DEFAULT_REFINER, DEFAULT_WEIGHTS, REFINE_DEFAULTS, PipelineOptions
from ..live.fusion import WEIGHTINGS
from ..live.refine import RefineSettings
from ..live.world import WorldSettings
from ..outputs.targets import StreamError, Target, parse_target

MAX_PEOPLE = 8  # people followed at once, everywhere (MediaPipe's Tasks API slows with each one)


def number_between(lo: float, hi: float, what: str):
    """An argparse type: a number from ``lo`` to ``hi``, refused in one sentence otherwise."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{text} is not {what}: give a number from {lo:g} to {hi:g}.")
        return value
    return parse


def int_between(lo: int, hi: int, what: str):
    """An argparse type: a whole number from ``lo`` to ``hi``, refused in one sentence otherwise."""
    def parse(text: str) -> int:
        if not text.strip().isdigit() or not lo <= int(text) <= hi:
            raise argparse.ArgumentTypeError(f"{text} is not {what}: give a whole number from {lo} to {hi}.")
        return int(text)
    return parse


class Parser(argparse.ArgumentParser):
    """Says what is wrong with the command line in one sentence, without the whole usage before it."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message.rstrip('.')}; `{self.prog} --help` lists the flags.\n")


FIELD_OF_VIEW = number_between(1.0, 179.0, "a field of view in degrees")


def add_weights_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", default=DEFAULT_WEIGHTS, type=Path,
                   help=f"lifter weights (.pt), e.g. weights/lifter_tcn81_h36m.pt (default: {DEFAULT_WEIGHTS.name})")


def add_flip_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-flip", action="store_true",
                   help="lift each frame once, without averaging in its mirror image (cheaper, less accurate)")


def add_height_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--height", type=number_between(*HEIGHT_RANGE_M, "a person's height in metres"),
                   default=DEFAULT_HEIGHT_M, help=f"the subject's height in metres, the world's scale "
                                                  f"(default {DEFAULT_HEIGHT_M:g})")


def add_refiner_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--refiner", default=DEFAULT_REFINER, type=Path, help="refiner weights (.pt)")
    p.add_argument("--threshold", type=float, default=REFINE_DEFAULTS.threshold_mm,
                   help="resample joints whose uncertainty is at least this many mm")
    p.add_argument("--sampler-steps", type=int, default=REFINE_DEFAULTS.steps, help="DDIM steps (1-4 is typical)")
    p.add_argument("--hypotheses", type=int, default=REFINE_DEFAULTS.hypotheses,
                   help="samples per frame, combined by the per-joint median")


def add_lifter_args(p: argparse.ArgumentParser) -> None:
    """Which lifter runs, and how."""
    add_weights_arg(p)
    p.add_argument("--backend", default="eager", choices=BACKENDS, help="how the lifter runs (default: eager)")
    p.add_argument("--device", help="cpu or cuda (default: cpu; cuda for tensorrt)")
    add_flip_arg(p)


def add_camera_args(p: argparse.ArgumentParser) -> None:
    """The camera's intrinsics, calibrated or guessed."""
    p.add_argument("--camera", type=Path, help="camera calibration JSON (default: intrinsics from --fov)")
    p.add_argument("--fov", type=FIELD_OF_VIEW,
                   help="field of view across the frame's longer side in degrees, when uncalibrated (a phone's "
                        "portrait video: along its height; default: from the lens the video file names, as "
                        f"iPhones write it, else {GUESSED_HFOV_DEG:g})")


def add_world_args(p: argparse.ArgumentParser) -> None:
    """The world's scale, and the camera's pose when the user knows it."""
    add_height_arg(p)
    p.add_argument("--camera-pitch", type=number_between(-89.0, 89.0, "a camera tilt in degrees"),
                   help="the camera's downward tilt in degrees, instead of estimating it from the feet")
    p.add_argument("--camera-roll", type=number_between(-89.0, 89.0, "a camera roll in degrees"), default=0.0,
                   help="the camera's roll in degrees, with --camera-pitch")
    p.add_argument("--camera-height", type=number_between(0.01, 50.0, "a camera height in metres"),
                   help="the camera's height above the floor in metres, instead of estimating it")
    p.add_argument("--no-foot-lock", action="store_true",
                   help="let planted feet slide as measured (the foot lock shifts the body to hold them)")


def add_people_arg(p: argparse.ArgumentParser, default: int | None = 1, also: str = "process writes one clip per "
                   "person, NAME_p0_3d.npz, ... (default 1: one person, from their first frame to their last)") -> None:
    p.add_argument("--people", type=int_between(1, MAX_PEOPLE, "a number of people"), default=default,
                   help=f"follow up to this many people: {also}")


def add_smooth_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--smooth", type=number_between(1e-3, 1e3, "a cutoff in Hz"),
                   help="One-Euro smoothing of the 3D: minimum cutoff in Hz (lower = smoother)")


def add_width_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--width", type=int, help="scale frames down to this width first (faster on large videos)")


def stream_target(text: str) -> Target:
    """An argparse type: a stream target URL, refused in one sentence otherwise."""
    try:
        return parse_target(text)
    except StreamError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_stream_arg(p: argparse.ArgumentParser, flag: str = "--to", required: bool = False) -> None:
    p.add_argument(flag, dest="stream", action="append", type=stream_target, required=required, metavar="URL",
                   help="stream the followed person live: vmc://HOST:PORT sends the VMC protocol (OSC over UDP) to a "
                        "receiver there (VSeeFace, Warudo, VMC4B in Blender, EVMC4U in Unity; port 39539 is theirs "
                        "by default); ws://HOST:PORT serves JSON over a WebSocket there for web pages (0.0.0.0 for "
                        "every network of this machine); repeat it for several targets")


def add_pipeline_args(p: argparse.ArgumentParser) -> None:
    """Every setting of the pipeline; :func:`pipeline_options` reads them back."""
    add_lifter_args(p)
    add_camera_args(p)
    add_smooth_arg(p)
    p.add_argument("--refine", action="store_true", help="refine unsure joints with the diffusion refiner")
    add_people_arg(p)
    add_follow_arg(p)
    p.add_argument("--solo", action="store_true",
                   help="only one person is ever in view: the faster single-person MediaPipe (it follows whoever "
                        "it sees, so never use it with others in the video)")
    add_swap_repair_arg(p)
    p.add_argument("--free-bones", action="store_true",
                   help="keep each frame's bone lengths as estimated (default: each bone at the person's mean length "
                        "so far, which inverse kinematics and rigs follow better)")
    add_fusion_args(p)
    add_world_args(p)
    add_refiner_args(p)


def add_causal_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--causal", action="store_true",
                   help="lift each frame from its past only, as live, in one pass (default: the video runs twice, "
                        "and each person's first frames are lifted from their future as well: closer to the truth, "
                        "docs/lifter.md)")


def add_follow_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--follow", type=int_between(0, 10**6, "a person's id"), metavar="ID",
                   help="follow the person with this id (the id written above them in the video) instead of the most "
                        "prominent one at the start")


def add_swap_repair_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-swap-repair", action="store_true",
                   help="pass MediaPipe's left/right label swaps to the lifter as they come (for comparison)")


def add_fusion_args(p: argparse.ArgumentParser) -> None:
    """Whether, and how, MediaPipe's own 3D is fused into the lift."""
    p.add_argument("--fusion", action=argparse.BooleanOptionalAction, default=True,
                   help="fuse MediaPipe's own 3D into the lift (docs/fusion.md: closer to the truth on real video); "
                        "--no-fusion: the lift alone")
    p.add_argument("--fusion-weighting", choices=WEIGHTINGS, default="robust",
                   help="how the lift and MediaPipe's 3D are weighted per joint (docs/fusion.md; default: robust)")


def world_settings(args: argparse.Namespace) -> WorldSettings:
    """The world that :func:`add_world_args`' flags describe."""
    return WorldSettings(args.height, args.camera_pitch, args.camera_roll, args.camera_height,
                         foot_lock=not args.no_foot_lock)


def pipeline_options(args: argparse.Namespace) -> PipelineOptions:
    """The pipeline that :func:`add_pipeline_args`' flags describe."""
    return PipelineOptions(weights=args.weights, backend=args.backend, device=args.device, flip=not args.no_flip,
                           camera=args.camera, hfov_deg=args.fov, smoothing=args.smooth, refine=args.refine,
                           refiner=args.refiner,
                           refine_settings=RefineSettings(args.threshold, args.sampler_steps, args.hypotheses),
                           swap_repair=not args.no_swap_repair, fusion=args.fusion,
                           fusion_weighting=args.fusion_weighting, people=args.people, follow=args.follow,
                           solo=args.solo, steady_bones=not args.free_bones,
                           world=world_settings(args), causal=getattr(args, "causal", False))
