"""The optimisation loop shared by the lifter and the refiner: AdamW, warm-up + cosine schedule,
gradient clipping, EMA, validation with early stopping, resumable atomic checkpoints, DDP-aware."""
from __future__ import annotations

import copy
import json
import math
import queue
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import distributed as dist

from .checkpoint import load_weights, save_atomic, save_weights
from .errors import ConfigError
from .h36m import TEST_SUBJECTS, TRAIN_SUBJECTS, Sequence, load_sequences


@dataclass(frozen=True)
class LoopConfig:
    """What every model's training config shares: where it writes, its data, and the optimisation."""
    out: str = "runs/model"
    data: str | None = None  # Human3.6M folder; None: $POSELIFT_DATA or ../shared/data/h36m
    subjects: tuple[str, ...] = TRAIN_SUBJECTS
    # The validation subject's second takes ("Walking 1", ...) are held out: a split that never sees S9/S11.
    validation_subject: str = "S8"
    # "takes": hold out those second takes; "subject": hold out the whole subject (a split that, like
    # the test, scores people the model has never seen, at the price of one subject less to learn from).
    validation: str = "takes"
    batch_size: int = 512
    steps: int = 30000
    lr: float = 1e-3
    weight_decay: float = 1e-3
    warmup_steps: int = 500
    grad_clip: float = 5.0
    ema_decay: float = 0.999
    val_every: int = 1000
    patience: int = 10
    checkpoint_minutes: float = 3.0
    # Wall-clock budget of one invocation in minutes (0: none): past it the run validates, checkpoints
    # and stops, and a later invocation resumes from there (equal-time comparisons of architectures).
    max_minutes: float = 0.0
    seed: int = 0
    threads: int = 0  # CPU threads for torch; 0 keeps torch's default
    # Weights to start from (fine-tuning, or a second schedule after a first); their architecture
    # settings must equal the config's but for ``causal`` (the two forms share their parameters).
    # Ignored once the run has a checkpoint to resume from.
    init: str | None = None


def split_sequences(sequences: list[Sequence], validation_subject: str, whole_subject: bool = False
                    ) -> tuple[list[Sequence], list[Sequence]]:
    held_out = [s.subject == validation_subject and (whole_subject or s.take.endswith(" 1")) for s in sequences]
    return ([s for s, h in zip(sequences, held_out) if not h], [s for s, h in zip(sequences, held_out) if h])


def prepare_run(cfg: LoopConfig) -> tuple[list[Sequence], list[Sequence]]:
    """Apply the thread setting and check the subjects; returns the training and validation sequences."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    bad = set(cfg.subjects) & set(TEST_SUBJECTS)
    if bad:
        raise ConfigError(f"training subjects {sorted(bad)} are test subjects: train on {TRAIN_SUBJECTS} only.")
    if cfg.validation not in ("takes", "subject"):
        raise ConfigError(f"validation must be \"takes\" or \"subject\", got {cfg.validation!r}.")
    train_seqs, val_seqs = split_sequences(load_sequences(cfg.subjects, cfg.data), cfg.validation_subject,
                                           cfg.validation == "subject")
    if not train_seqs:
        raise ConfigError(f"holding out all of {cfg.validation_subject} leaves nothing to train on: "
                          "add training subjects or use validation: takes.")
    if not val_seqs:
        raise ConfigError(f"validation subject {cfg.validation_subject} is not among the training subjects {cfg.subjects}.")
    return train_seqs, val_seqs


def lr_at(step: int, cfg: LoopConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


class EMA:
    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        # Warm-up: early on, average over fewer steps so the random initialisation fades quickly.
        decay = min(self.decay, (1 + step) / (10 + step))
        for e, m in zip(self.model.state_dict().values(), model.state_dict().values()):
            if e.dtype.is_floating_point:
                e.lerp_(m, 1 - decay)
            else:
                e.copy_(m)


def fit(cfg: LoopConfig, model: torch.nn.Module, out: Path,
        make_batches: Callable[[int], Iterator[Any]],
        loss_fn: Callable[[torch.nn.Module, Any], tuple[torch.Tensor, dict[str, float]]],
        validate: Callable[[torch.nn.Module], tuple[float, dict[str, float]]],
        wrap: Callable[[torch.nn.Module], torch.nn.Module] = lambda m: m,
        rank: int = 0, world: int = 1, progress: bool = True) -> Path:
    """Train ``model`` (resuming from ``out``/last.pt) until ``cfg.steps``, early stopping or the end of
    ``cfg.max_minutes``.

    ``make_batches(step)`` gives the batch stream from the resumed step; ``loss_fn(net, batch)`` returns
    the loss and scalars to log; ``validate(ema_model)`` returns the score (lower is better) and
    scalars. The config goes to ``out``/config.json and the EMA weights with the best score to
    ``out``/best.pt; returns that path.
    """
    out.mkdir(parents=True, exist_ok=True)
    if rank == 0:
        (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    last = out / "last.pt"
    if cfg.init and not last.exists():
        _start_from(model, Path(cfg.init))
    ema = EMA(model, cfg.ema_decay)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, best, stale = 0, math.inf, 0
    if last.exists():
        state = torch.load(last, map_location=next(model.parameters()).device, weights_only=True)
        model.load_state_dict(state["model"])
        ema.model.load_state_dict(state["ema"])
        opt.load_state_dict(state["optimizer"])
        step, best, stale = int(state["step"]), float(state["best"]), int(state["stale"])
    net = wrap(model)
    log = _Logger(out, enabled=rank == 0)
    bar = _progress(cfg.steps, step, enabled=progress and rank == 0)
    saved_at = time.monotonic()
    deadline = saved_at + 60 * cfg.max_minutes if cfg.max_minutes > 0 else math.inf
    model.train()
    batches = _prefetch(make_batches(step))
    out_of_time = False
    while step < cfg.steps and stale < cfg.patience and not out_of_time:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        loss, parts = loss_fn(net, next(batches))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        parts["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip))
        opt.step()
        ema.update(model, step)
        step += 1
        bar.update(1)
        out_of_time = time.monotonic() > deadline
        if world > 1 and deadline < math.inf:
            out_of_time = _rank0s(out_of_time, model)  # the ranks' clocks may disagree by a step
        if step % 50 == 0 or out_of_time:
            bar.set_postfix(loss=f"{loss.item():.1f}", lr=f"{lr_at(step, cfg):.1e}")
            log.scalars(step, {f"train/{k}": v for k, v in parts.items()})
        if step % cfg.val_every == 0 or step == cfg.steps or out_of_time:
            if rank == 0:
                score, scalars = validate(ema.model)
                log.scalars(step, scalars)
                if score < best:
                    best, stale = score, 0
                    save_weights(out / "best.pt", ema.model, {"step": step, "val_score": score})
                else:
                    stale += 1
            if world > 1:
                flags = torch.tensor([best, float(stale)], device=next(model.parameters()).device)
                dist.broadcast(flags, 0)
                best, stale = float(flags[0]), int(flags[1])
            model.train()
        if rank == 0 and (time.monotonic() - saved_at > 60 * cfg.checkpoint_minutes or step == cfg.steps
                          or stale >= cfg.patience or out_of_time):
            save_atomic({"model": model.state_dict(), "ema": ema.model.state_dict(), "optimizer": opt.state_dict(),
                         "step": step, "best": best, "stale": stale}, last)
            saved_at = time.monotonic()
    bar.close()
    log.close()
    return out / "best.pt"


def _rank0s(flag: bool, model: torch.nn.Module) -> bool:
    """Rank 0's ``flag``, on every rank of a distributed run."""
    value = torch.tensor([float(flag)], device=next(model.parameters()).device)
    dist.broadcast(value, 0)
    return bool(value.item())


def _start_from(model: torch.nn.Module, path: Path) -> None:
    start = load_weights(path, next(model.parameters()).device, model.arch)
    if _without_causality(start.spec) != _without_causality(model.spec):
        raise ConfigError(f"init weights {path} have the architecture {asdict(start.spec)}, "
                          f"not the config's {asdict(model.spec)}: make the model section match them.")
    model.load_state_dict(start.state_dict())


def _without_causality(spec: Any) -> dict:
    """A spec's settings but ``causal``: the causal and the centred form of an architecture share their
    parameters, so either can start the other's training."""
    return {k: v for k, v in asdict(spec).items() if k != "causal"}


def _prefetch(batches: Iterator[Any], depth: int = 3) -> Iterator[Any]:
    """Build batches on a background thread (numpy releases the GIL) while the network trains."""
    q: queue.Queue = queue.Queue(maxsize=depth)

    def produce() -> None:
        try:
            for b in batches:
                q.put(b)
        except Exception as e:  # handed to the training thread, which would otherwise wait for ever
            q.put(e)

    threading.Thread(target=produce, daemon=True).start()
    while True:
        item = q.get()
        if isinstance(item, Exception):
            raise item
        yield item


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
