"""Training the lifter on Human3.6M (its own and virtual cameras) and Bandai mocap (virtual cameras):
AdamW, warm-up + cosine schedule, gradient clipping, EMA, AMP on GPU, early stopping on a test-free
validation split, resumable checkpoints, DDP through torchrun."""
from __future__ import annotations

import os
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import distributed as dist
from torch.nn.parallel import DistributedDataParallel

from .bandai import load_bandai
from .config import load_config
from .evaluate import evaluate
from .errors import ConfigError
from .h36m import Sequence, load_world_clips
from .lifter import LifterSpec, TemporalLifter, lifter_loss, normalize_2d
from .loop import LoopConfig, fit, prepare_run
from .motion import MotionClip
from .virtual_cameras import EVAL_RANGES, virtual_sequences
from .windows import Augment, WindowSampler


@dataclass(frozen=True)
class TrainConfig(LoopConfig):
    out: str = "runs/lifter"
    model: LifterSpec = LifterSpec()
    augment: Augment = Augment()
    # Frames scored per window. 1 trains strided (one decorrelated frame per window); more trains the
    # dilated network dense over a longer window, several times more frames per unit of compute.
    outputs_per_window: int = 1
    nll_weight: float = 0.1
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
    sampler = _sampler(cfg, train_seqs, device)
    cross = virtual_sequences(load_bandai(1, cfg.bandai_data), "bandai1", ranges=EVAL_RANGES) if cfg.cross_validation else []

    torch.manual_seed(cfg.seed)
    model = TemporalLifter(cfg.model).to(device)

    def batches(step: int):
        seed = int(np.random.SeedSequence([cfg.seed, rank, step]).generate_state(1)[0])
        gen = torch.Generator(device).manual_seed(seed)
        while True:
            yield sampler.sample(cfg.batch_size // world, gen, cfg.augment)

    def loss_fn(net: torch.nn.Module, batch) -> tuple[torch.Tensor, dict[str, float]]:
        return _loss(net, batch, cfg)

    best = fit(cfg, model, Path(cfg.out), batches, loss_fn, lambda m: _validate(m, val_seqs, cross),
               wrap=lambda m: DistributedDataParallel(m) if world > 1 else m, rank=rank, world=world,
               progress=progress)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return best


def _sampler(cfg: TrainConfig, train_seqs: list[Sequence], device: torch.device) -> WindowSampler:
    if cfg.outputs_per_window < 1:
        raise ConfigError(f"outputs_per_window must be at least 1, got {cfg.outputs_per_window}.")
    return WindowSampler(train_seqs, cfg.model.receptive_field + cfg.outputs_per_window - 1,
                         outputs=cfg.outputs_per_window, clips=_world_clips(cfg, train_seqs), device=device)


def _loss(net: torch.nn.Module, batch: tuple[torch.Tensor, ...], cfg: TrainConfig) -> tuple[torch.Tensor, dict[str, float]]:
    kp, conf, target = batch
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if kp.is_cuda else nullcontext()
    with amp:
        pose, log_scale = net(normalize_2d(kp, conf, cfg.model.root_features), dense=cfg.outputs_per_window > 1)
    return lifter_loss(pose.float(), log_scale.float(), target, cfg.nll_weight)


def measure_throughput(cfg: TrainConfig, device: str, steps: int = 20) -> dict:
    """Training speed of ``cfg`` on ``device``: windows per second the sampler builds alone, and
    optimisation steps per second with sampling included (median over ``steps``), plus the GPU's
    utilisation over the timed steps where the driver reports it."""
    dev = torch.device(device)
    sampler = _sampler(cfg, prepare_run(cfg)[0], dev)
    model = TemporalLifter(cfg.model).to(dev).train()
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
        loss, _ = _loss(model, sampler.sample(cfg.batch_size, gen, cfg.augment), cfg)
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


def _validate(model: TemporalLifter, val_seqs: list[Sequence], cross: list[Sequence]) -> tuple[float, dict[str, float]]:
    """Mean of P1 with ground-truth 2D and with the SH detections on every 5th frame of the split and,
    with ``cross``, of P1 on that cross-dataset suite, resampled to Human3.6M's 50 fps like the split
    (without the mirror image, which would double the cost and barely change the ranking)."""
    scores = {"val/p1_gt": evaluate(model, val_seqs, "gt", frame_step=5, flip=False)["mean"]["p1"],
              "val/p1_sh": evaluate(model, val_seqs, "sh", frame_step=5, flip=False)["mean"]["p1"]}
    if cross:
        scores["val/p1_cross"] = evaluate(model, cross, "gt", frame_step=5, flip=False)["mean"]["p1"]
    return float(np.mean(list(scores.values()))), scores


def load_train_config(path: str, overrides: dict | None = None) -> TrainConfig:
    return load_config(path, TrainConfig, overrides)
