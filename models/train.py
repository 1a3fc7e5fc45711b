"""Training the lifter on Human3.6M: AdamW, warm-up + cosine schedule, gradient clipping, EMA, AMP on
GPU, early stopping on a test-free validation split, resumable checkpoints, DDP through torchrun."""
from __future__ import annotations

import json
import math
import os
import queue
import threading
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import distributed as dist
from torch.nn.parallel import DistributedDataParallel

from .checkpoint import save_atomic, save_weights
from .config import load_config
from .evaluate import evaluate
from .errors import ConfigError
from .h36m import TEST_SUBJECTS, TRAIN_SUBJECTS, Sequence, load_sequences
from .lifter import LifterSpec, TemporalLifter, lifter_loss, normalize_2d
from .windows import Augment, WindowSampler

@dataclass(frozen=True)
class TrainConfig:
    out: str = "runs/lifter"
    data: str | None = None
    subjects: tuple[str, ...] = TRAIN_SUBJECTS
    # The validation subject's second takes ("Walking 1", ...) are held out: a split that never sees S9/S11.
    validation_subject: str = "S8"
    model: LifterSpec = LifterSpec()
    augment: Augment = Augment()
    batch_size: int = 512
    steps: int = 30000
    lr: float = 1e-3
    weight_decay: float = 1e-3
    warmup_steps: int = 500
    grad_clip: float = 5.0
    ema_decay: float = 0.999
    nll_weight: float = 0.1
    val_every: int = 1000
    patience: int = 10
    checkpoint_minutes: float = 3.0
    seed: int = 0
    threads: int = 0  # CPU threads for torch; 0 keeps torch's default


def split_sequences(sequences: list[Sequence], validation_subject: str) -> tuple[list[Sequence], list[Sequence]]:
    held_out = [s.subject == validation_subject and s.take.endswith(" 1") for s in sequences]
    return ([s for s, h in zip(sequences, held_out) if not h], [s for s, h in zip(sequences, held_out) if h])


def lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


class EMA:
    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.model = TemporalLifter(model.spec).to(next(model.parameters()).device)
        self.model.load_state_dict(model.state_dict())
        self.model.eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        # Warm-up: early on, average over fewer steps so the random initialisation fades quickly.
        decay = min(self.decay, (1 + step) / (10 + step))
        for e, m in zip(self.model.state_dict().values(), model.state_dict().values()):
            if e.dtype.is_floating_point:
                e.lerp_(m, 1 - decay)
            else:
                e.copy_(m)


def _distributed() -> tuple[int, int]:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def train(cfg: TrainConfig, progress: bool = True) -> Path:
    """Train (or resume) into ``cfg.out``; returns the path of the best weights."""
    rank, world = _distributed()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    bad = set(cfg.subjects) & set(TEST_SUBJECTS)
    if bad:
        raise ConfigError(f"training subjects {sorted(bad)} are test subjects: train on {TRAIN_SUBJECTS} only.")
    train_seqs, val_seqs = split_sequences(load_sequences(cfg.subjects, cfg.data), cfg.validation_subject)
    if not val_seqs:
        raise ConfigError(f"validation subject {cfg.validation_subject} is not among the training subjects {cfg.subjects}.")
    sampler = WindowSampler(train_seqs, cfg.model.receptive_field)

    torch.manual_seed(cfg.seed)
    model = TemporalLifter(cfg.model).to(device)
    ema = EMA(model, cfg.ema_decay)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, best, stale = 0, math.inf, 0
    last = out / "last.pt"
    if last.exists():
        state = torch.load(last, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        ema.model.load_state_dict(state["ema"])
        opt.load_state_dict(state["optimizer"])
        step, best, stale = int(state["step"]), float(state["best"]), int(state["stale"])
    net = DistributedDataParallel(model) if world > 1 else model
    rng = np.random.default_rng([cfg.seed, rank, step])
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))

    log = _Logger(out, enabled=rank == 0)
    bar = _progress(cfg.steps, step, enabled=progress and rank == 0)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()
    saved_at = time.monotonic()
    model.train()
    batches = _prefetch(lambda: sampler.sample(cfg.batch_size // world, rng, cfg.augment))
    while step < cfg.steps and stale < cfg.patience:
        kp, conf, target = (torch.from_numpy(a).to(device) for a in next(batches))
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        with amp:
            pose, log_scale = net(normalize_2d(kp, conf, cfg.model.root_features))
        loss, parts = lifter_loss(pose[:, 0].float(), log_scale[:, 0].float(), target, cfg.nll_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        parts["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip))
        opt.step()
        ema.update(model, step)
        step += 1
        bar.update(1)
        if step % 50 == 0:
            bar.set_postfix(mpjpe=f"{parts['mpjpe']:.1f}", lr=f"{lr_at(step, cfg):.1e}")
            log.scalars(step, {f"train/{k}": v for k, v in parts.items()})
        if step % cfg.val_every == 0 or step == cfg.steps:
            if rank == 0:
                score = _validate(ema.model, val_seqs, log, step)
                if score < best:
                    best, stale = score, 0
                    save_weights(out / "best.pt", ema.model, {"step": step, "val_p1_mm": score})
                else:
                    stale += 1
            if world > 1:
                flags = torch.tensor([best, float(stale)], device=device)
                dist.broadcast(flags, 0)
                best, stale = float(flags[0]), int(flags[1])
            model.train()
        if rank == 0 and (time.monotonic() - saved_at > 60 * cfg.checkpoint_minutes or step == cfg.steps
                          or stale >= cfg.patience):
            save_atomic({"model": model.state_dict(), "ema": ema.model.state_dict(), "optimizer": opt.state_dict(),
                         "step": step, "best": best, "stale": stale}, last)
            saved_at = time.monotonic()
    bar.close()
    log.close()
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return out / "best.pt"


def _prefetch(make, depth: int = 3):
    """Build batches on a background thread (numpy releases the GIL) while the network trains."""
    q: queue.Queue = queue.Queue(maxsize=depth)

    def produce() -> None:
        while True:
            q.put(make())

    threading.Thread(target=produce, daemon=True).start()
    while True:
        yield q.get()


def _validate(model: TemporalLifter, val_seqs, log: "_Logger", step: int) -> float:
    """Mean of P1 with ground-truth 2D and with the SH detections, on every 5th frame of the split."""
    gt = evaluate(model, val_seqs, "gt", frame_step=5)["mean"]["p1"]
    sh = evaluate(model, val_seqs, "sh", frame_step=5)["mean"]["p1"]
    log.scalars(step, {"val/p1_gt": gt, "val/p1_sh": sh})
    return 0.5 * (gt + sh)


class _Logger:
    """JSON lines always; TensorBoard as well when it is installed."""

    def __init__(self, out: Path, enabled: bool):
        self.enabled = enabled
        self.file = open(out / "log.jsonl", "a") if enabled else None
        self.tb = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.tb = SummaryWriter(str(out / "tb"))
            except ImportError:
                pass

    def scalars(self, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        self.file.write(json.dumps({"step": step, "time": time.time(), **values}) + "\n")
        self.file.flush()
        if self.tb:
            for k, v in values.items():
                self.tb.add_scalar(k, v, step)

    def close(self) -> None:
        if self.file:
            self.file.close()
        if self.tb:
            self.tb.close()


def _progress(total: int, initial: int, enabled: bool):
    from tqdm import tqdm
    return tqdm(total=total, initial=initial, disable=not enabled, dynamic_ncols=True, desc="train")


def load_train_config(path: str, overrides: dict | None = None) -> TrainConfig:
    return load_config(path, TrainConfig, overrides)
