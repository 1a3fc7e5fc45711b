"""Training the diffusion refiner on the lifter's own output over Human3.6M's training subjects, with
the lifter's augmentations plus occlusion-style corruption."""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .checkpoint import load_weights
from .config import load_config
from .errors import ConfigError
from .h36m import TEST_SUBJECTS, TRAIN_SUBJECTS, load_sequences
from .loop import LoopConfig, fit
from .refiner import Denoiser, RefinerSpec, denoising_loss, refine, stream_noise
from .tracks import TrackAugment, Tracks, build_tracks
from .train import split_sequences


@dataclass(frozen=True)
class RefinerTrainConfig(LoopConfig):
    lifter: str = "weights/lifter_tcn81.pt"  # the lifter whose output the refiner learns to correct
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
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    bad = set(cfg.subjects) & set(TEST_SUBJECTS)
    if bad:
        raise ConfigError(f"training subjects {sorted(bad)} are test subjects: train on {TRAIN_SUBJECTS} only.")
    lifter = load_weights(cfg.lifter)
    train_seqs, val_seqs = split_sequences(load_sequences(cfg.subjects, cfg.data), cfg.validation_subject)
    if not val_seqs:
        raise ConfigError(f"validation subject {cfg.validation_subject} is not among the training subjects {cfg.subjects}.")
    rng = np.random.default_rng(cfg.seed)
    tracks = build_tracks(lifter, train_seqs, cfg.augment, cfg.variants, rng)
    val = build_tracks(lifter, val_seqs, cfg.augment, 1, rng)
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))

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

    return fit(cfg, model, out, batches, loss_fn, validate, progress=progress)


def _validate(model: Denoiser, val: Tracks, cfg: RefinerTrainConfig) -> tuple[float, dict[str, float]]:
    """P1 and acceleration error of the refined and of the lifter's poses on every validation frame,
    at the default settings. The score adds the two, as the loss does."""
    ends = np.arange(len(val))
    noise = stream_noise(model.spec, 1, cfg.seed)
    refined = []
    for s in range(0, len(ends), 4096):
        pose, sigma, x2d, _ = (torch.from_numpy(a) for a in val.windows(ends[s: s + 4096], model.spec.window))
        refined.append(refine(model, pose, sigma, x2d, noise, cfg.threshold_mm, cfg.sampler_steps)[0].numpy())
    scores = {}
    for name, pred in (("refined", np.concatenate(refined)), ("lifter", val.pose)):
        err = pred - val.target
        inside = ends >= val.start + 2
        accel = err[2:] - 2 * err[1:-1] + err[:-2]
        scores[f"val/p1_{name}"] = float(np.linalg.norm(err, axis=-1).mean())
        scores[f"val/accel_{name}"] = float(np.linalg.norm(accel[inside[2:]], axis=-1).mean())
    return scores["val/p1_refined"] + cfg.accel_weight * scores["val/accel_refined"], scores


def load_refiner_config(path: str | os.PathLike, overrides: dict | None = None) -> RefinerTrainConfig:
    return load_config(path, RefinerTrainConfig, overrides)
