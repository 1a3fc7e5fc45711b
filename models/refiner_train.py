"""Training the diffusion refiner on the lifter's own output over Human3.6M's training subjects, with
the lifter's augmentations plus occlusion-style corruption."""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import torch
import yaml

from .checkpoint import load_weights
from .config import load_config
from .loop import LoopConfig, fit, prepare_run
from .refiner import Denoiser, RefinerSpec, denoising_loss, refine_sequence, stream_noise
from .tracks import TrackAugment, Tracks, build_tracks
from .train import TrainConfig


@dataclass(frozen=True)
class RefinerTrainConfig(LoopConfig):
    lifter: str = "weights/lifter_tcn81.pt"  # the lifter whose output the refiner learns to correct
    lifter_flip: bool = True  # the lifter runs as it does live: averaged with the mirror image
    out: str = "runs/refiner"
    model: RefinerSpec = RefinerSpec()
    augment: TrackAugment = TrackAugment()
    variants: int = 2  # randomly varied lifter runs over each training sequence
    # Training holds the joints under a random threshold (log-uniform in this range, mm), or none.
    threshold_range: tuple[float, float] = (20.0, 200.0)
    all_free: float = 0.25
    sampler_steps: int = 2  # what validation samples with
    threshold_mm: float = 60.0
    accel_weight: float = 1.0  # weight of the acceleration error against the pose error


def train_refiner(cfg: RefinerTrainConfig, progress: bool = True) -> Path:
    """Train (or resume) into ``cfg.out``; returns the path of the best weights."""
    lifter = load_weights(cfg.lifter)
    train_seqs, val_seqs = prepare_run(cfg)
    rng = np.random.default_rng(cfg.seed)
    tracks = build_tracks(lifter, train_seqs, cfg.augment, cfg.variants, rng, cfg.lifter_flip)
    val = build_tracks(lifter, val_seqs, cfg.augment, 1, rng, cfg.lifter_flip)

    torch.manual_seed(cfg.seed)
    model = Denoiser(cfg.model)
    lo, hi = np.log(cfg.threshold_range)

    def batches(step: int):
        r = np.random.default_rng([cfg.seed, step])
        while True:
            ends = r.integers(len(tracks), size=cfg.batch_size)
            ends = np.maximum(ends, tracks.start[ends] + 2)  # three frames of the same track
            threshold = np.exp(r.uniform(lo, hi, cfg.batch_size))
            threshold[r.random(cfg.batch_size) < cfg.all_free] = 0.0
            triples = [tracks.windows(ends - k, cfg.model.window) for k in (2, 1, 0)]
            yield (*(np.stack(parts) for parts in zip(*triples)), threshold.astype(np.float32))

    def loss_fn(net: torch.nn.Module, batch) -> tuple[torch.Tensor, dict[str, float]]:
        *arrays, threshold = (torch.from_numpy(a) for a in batch)
        return denoising_loss(net, *arrays, threshold, cfg.accel_weight)

    def validate(ema: torch.nn.Module) -> tuple[float, dict[str, float]]:
        return _validate(ema, val, cfg)

    return fit(cfg, model, Path(cfg.out), batches, loss_fn, validate, progress=progress)


def _validate(model: Denoiser, val: Tracks, cfg: RefinerTrainConfig) -> tuple[float, dict[str, float]]:
    """P1 and acceleration error of the refined and of the lifter's poses on every validation frame,
    at the default settings. The score adds the two, as the loss does."""
    refined, _ = refine_sequence(model, val.pose, val.uncertainty, val.x2d, stream_noise(model.spec, 1, cfg.seed),
                                 cfg.threshold_mm, cfg.sampler_steps, starts=val.start)
    inside = np.arange(len(val)) >= val.start + 2
    scores = {}
    for name, pred in (("refined", refined), ("lifter", val.pose)):
        err = pred - val.target
        accel = err[2:] - 2 * err[1:-1] + err[:-2]
        scores[f"val/p1_{name}"] = float(np.linalg.norm(err, axis=-1).mean())
        scores[f"val/accel_{name}"] = float(np.linalg.norm(accel[inside[2:]], axis=-1).mean())
    return scores["val/p1_refined"] + cfg.accel_weight * scores["val/accel_refined"], scores


def is_refiner_config(path: str | os.PathLike) -> bool:
    """Whether a training config is the refiner's: it has keys only the refiner's config knows.
    A file that cannot be read is not, and the lifter's loader then names the problem."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return False
    refiner_only = {f.name for f in fields(RefinerTrainConfig)} - {f.name for f in fields(TrainConfig)}
    return isinstance(data, dict) and bool(refiner_only & set(data))


def load_refiner_config(path: str | os.PathLike, overrides: dict | None = None) -> RefinerTrainConfig:
    return load_config(path, RefinerTrainConfig, overrides)
