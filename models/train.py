"""Training a lifter (any architecture: ``arch`` in the config) on Human3.6M (its own and virtual
cameras) and Bandai mocap (virtual cameras): AdamW, warm-up + cosine schedule, gradient clipping,
EMA, AMP on GPU, early stopping on a test-free validation split, resumable checkpoints, DDP through
torchrun."""
from __future__ import annotations

import dataclasses
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml
from torch import distributed as dist
from torch.nn.parallel import DistributedDataParallel

from .bandai import load_bandai
from .checkpoint import LIFTERS, save_weights
from .config import load_config
from .evaluate import evaluate
from .errors import ConfigError
from .h36m import Sequence, load_world_clips
from .lifter import LifterSpec, bone_length_error, lifter_loss, normalize_2d
from .loop import LoopConfig, fit, prepare_run
from .motion import MotionClip
from .nets.tgraphnet import log_root_size
from .virtual_cameras import EVAL_RANGES, virtual_sequences
from .windows import Augment, WindowSampler


@dataclass(frozen=True)
class TrainConfig(LoopConfig):
    out: str = "runs/lifter"
    # The architecture (a name in models.checkpoint.LIFTERS); ``model`` holds its settings.
    arch: str = "temporal_lifter"
    model: LifterSpec = LifterSpec()
    augment: Augment = Augment()
    # Frames scored per window. 1 trains strided (one decorrelated frame per window); more trains the
    # dilated network dense over a longer window, several times more frames per unit of compute.
    outputs_per_window: int = 1
    nll_weight: float = 0.1
    # Mean bone-length error (mm) added with this weight (the Sparse-GCN seed's regulariser).
    bone_weight: float = 0.0
    # Trajectory head (TGraphNet): the log depth error added with this weight (100: 1 % of depth
    # counts like 1 mm of MPJPE).
    root_weight: float = 100.0
    # Validate on every k-th validation sequence (1: all; slower architectures validate on fewer).
    val_sequence_step: int = 1
    bandai_data: str | None = None  # Bandai folder; None: $POSELIFT_BANDAI or ../shared/data/bandai
    # Also validate across datasets: Bandai dataset-1 (never trained on) through seeded virtual cameras.
    cross_validation: bool = False


def _distributed() -> tuple[int, int]:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def train(cfg: TrainConfig, progress: bool = True) -> Path:
    """Train (or resume) into ``cfg.out``; returns the path of the best weights."""
    rank, world = _distributed()
    if torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    train_seqs, val_seqs = prepare_run(cfg)
    torch.manual_seed(cfg.seed)
    model = build_lifter(cfg).to(device)
    sampler = _sampler(cfg, train_seqs, device, model)
    cross = virtual_sequences(load_bandai(1, cfg.bandai_data), "bandai1", ranges=EVAL_RANGES) if cfg.cross_validation else []

    def batches(step: int):
        seed = int(np.random.SeedSequence([cfg.seed, rank, step]).generate_state(1)[0])
        gen = torch.Generator(device).manual_seed(seed)
        while True:
            yield sampler.sample(cfg.batch_size // world, gen, cfg.augment, with_root=_has_trajectory(cfg))

    def loss_fn(net: torch.nn.Module, batch) -> tuple[torch.Tensor, dict[str, float]]:
        return _loss(net, batch, cfg)

    val_seqs, cross = val_seqs[::cfg.val_sequence_step], cross[::cfg.val_sequence_step]
    best = fit(cfg, model, Path(cfg.out), batches, loss_fn, lambda m: _validate(m, val_seqs, cross),
               wrap=lambda m: DistributedDataParallel(m) if world > 1 else m, rank=rank, world=world,
               progress=progress)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return best


def build_lifter(cfg: TrainConfig) -> torch.nn.Module:
    return LIFTERS[cfg.arch][1](cfg.model)


def _has_trajectory(cfg: TrainConfig) -> bool:
    return bool(getattr(cfg.model, "trajectory", False))


def _sampler(cfg: TrainConfig, train_seqs: list[Sequence], device: torch.device, model: torch.nn.Module) -> WindowSampler:
    """Windows of the model's context around ``outputs_per_window`` scored frames: the sampler's targets
    are the last frames of a window, so a non-causal model's include its future frames (cut off in
    ``_loss``)."""
    if cfg.outputs_per_window < 1:
        raise ConfigError(f"outputs_per_window must be at least 1, got {cfg.outputs_per_window}.")
    past, future = model.context
    return WindowSampler(train_seqs, past + cfg.outputs_per_window + future, outputs=cfg.outputs_per_window + future,
                         clips=_world_clips(cfg, train_seqs), device=device)


def _loss(net: torch.nn.Module, batch: tuple[torch.Tensor, ...], cfg: TrainConfig) -> tuple[torch.Tensor, dict[str, float]]:
    kp, conf, target, *root = batch
    target = target[:, : cfg.outputs_per_window]
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if kp.is_cuda else nullcontext()
    with amp:
        out = net(normalize_2d(kp, conf, cfg.model.root_features), **({"with_root": True} if root else {}))
    loss, parts = lifter_loss(out[0].float(), out[1].float(), target, cfg.nll_weight)
    if cfg.bone_weight > 0:
        bone = bone_length_error(out[0].float(), target)
        loss, parts["bone"] = loss + cfg.bone_weight * bone, bone.item()
    if root:
        start = kp.shape[1] - root[0].shape[1]  # the roots are those of the sampler's target frames
        frames = slice(start, start + target.shape[1])
        want = log_root_size(root[0][:, : target.shape[1]], kp[:, frames], conf[:, frames])
        depth = (out[2].float() - want).abs().mean()
        loss, parts["root_log_depth"] = loss + cfg.root_weight * depth, depth.item()
    return loss, parts


def measure_throughput(cfg: TrainConfig, device: str, steps: int = 20) -> dict:
    """Training speed of ``cfg`` on ``device``: windows per second the sampler builds alone, and
    optimisation steps per second with sampling included (median over ``steps``), plus the GPU's
    utilisation over the timed steps where the driver reports it."""
    dev = torch.device(device)
    model = build_lifter(cfg).to(dev).train()
    sampler = _sampler(cfg, prepare_run(cfg)[0], dev, model)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    gen = torch.Generator(dev).manual_seed(0)

    def timed(fn) -> np.ndarray:
        times = []
        for _ in range(steps + 2):  # the first two warm up
            t0 = time.perf_counter()
            fn()
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            times.append(time.perf_counter() - t0)
        return np.array(times[2:])

    def step() -> None:
        loss, _ = _loss(model, sampler.sample(cfg.batch_size, gen, cfg.augment, with_root=_has_trajectory(cfg)), cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    sample_s = timed(lambda: sampler.sample(cfg.batch_size, gen, cfg.augment))
    step_s = timed(step)
    row = {"stage": f"training step ({dev.type}, batch {cfg.batch_size})", "median_ms": 1000 * float(np.median(step_s)),
           "p90_ms": 1000 * float(np.percentile(step_s, 90)), "runs": steps,
           "windows_per_s": cfg.batch_size / float(np.median(sample_s)), "steps_per_s": 1 / float(np.median(step_s))}
    if dev.type == "cuda":
        try:
            row["gpu_util_pct"] = float(torch.cuda.utilization(dev))
        except (RuntimeError, ModuleNotFoundError):
            pass
    return row


def export_latest(cfg: TrainConfig, path: Path) -> Path:
    """Write the EMA weights of ``cfg.out``/last.pt to ``path``: the latest model of a run stopped before
    its end (by time, say; it resumes from last.pt all the same)."""
    last = Path(cfg.out) / "last.pt"
    if not last.is_file():
        raise ConfigError(f"{last} does not exist: the run has not written a checkpoint yet.")
    state = torch.load(last, map_location="cpu", weights_only=True)
    model = build_lifter(cfg)
    model.load_state_dict(state["ema"])
    save_weights(path, model.eval(), {"step": int(state["step"])})
    return path


def _world_clips(cfg: TrainConfig, train_seqs: list[Sequence]) -> dict[str, list[MotionClip]]:
    """World mocap for the virtual cameras: the training takes of Human3.6M (the validation split
    stays out) and, when the mix asks for it, Bandai dataset-2."""
    if cfg.augment.virtual <= 0:
        return {}
    takes = {f"{s.subject}/{s.take}" for s in train_seqs}
    clips = {"h36m": [c for c in load_world_clips(cfg.subjects, cfg.data) if c.name in takes]}
    if cfg.augment.bandai > 0:
        clips["bandai"] = load_bandai(2, cfg.bandai_data)
    return clips


def _validate(model: torch.nn.Module, val_seqs: list[Sequence], cross: list[Sequence]) -> tuple[float, dict[str, float]]:
    """Mean of P1 with ground-truth 2D and with the SH detections on every 5th frame of the split and,
    with ``cross``, of P1 on that cross-dataset suite, resampled to Human3.6M's 50 fps like the split
    (without the mirror image, which would double the cost and barely change the ranking)."""
    scores = {"val/p1_gt": evaluate(model, val_seqs, "gt", frame_step=5, flip=False)["mean"]["p1"],
              "val/p1_sh": evaluate(model, val_seqs, "sh", frame_step=5, flip=False)["mean"]["p1"]}
    if cross:
        scores["val/p1_cross"] = evaluate(model, cross, "gt", frame_step=5, flip=False)["mean"]["p1"]
    return float(np.mean(list(scores.values()))), scores


def load_train_config(path: str, overrides: dict | None = None) -> TrainConfig:
    """The config at ``path``, its ``model`` section checked against the settings of its ``arch``."""
    return load_config(path, _config_class(_arch_of(path)), overrides)


def _arch_of(path: str | os.PathLike) -> str:
    try:
        data = yaml.safe_load(Path(path).read_text()) if Path(path).is_file() else {}
    except yaml.YAMLError:
        data = {}  # load_config says what is wrong with the file
    arch = data.get("arch", "temporal_lifter") if isinstance(data, dict) else "temporal_lifter"
    if arch not in LIFTERS:
        raise ConfigError(f"config file {path}: arch {arch!r} is not a lifter architecture: choose one of "
                          f"{', '.join(LIFTERS)}.")
    return arch


def _config_class(arch: str) -> type[TrainConfig]:
    if arch == "temporal_lifter":
        return TrainConfig
    spec = LIFTERS[arch][0]
    return dataclasses.make_dataclass(f"{spec.__name__}TrainConfig", [("model", spec, dataclasses.field(default_factory=spec))],
                                      bases=(TrainConfig,), frozen=True)
