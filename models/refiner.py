"""Uncertainty-guided diffusion refinement of the lifter's newest pose.

The variable being denoised is the newest frame's *correction*: (true pose - lifter pose) / 50 mm, per
joint. The denoiser sees it noised, the diffusion time, which joints are held, and a causal window
of the lifter's recent output (poses, their motion, per-joint uncertainty) and 2D input. Sampling is
DDIM with a handful of steps; joints whose uncertainty is under the threshold are held to the
lifter's values (inpainting: at every step they are set to the noised zero correction), the rest are
resampled. One fixed noise draw per stream makes the output deterministic and temporally coherent.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .lifter import NUM_JOINTS

CORRECTION_MM = 50.0  # the correction's unit: about one standard deviation of the lifter's error
SCHEDULES = ("cosine", "linear")


@dataclass(frozen=True)
class RefinerSpec:
    """Architecture and noise schedule: stored beside the weights, checked when they load."""
    window: int = 27  # causal frames of context, the newest last
    hidden: int = 256
    blocks: int = 3
    timesteps: int = 100  # diffusion steps in training; sampling uses a few of them
    schedule: str = "cosine"
    beta_start: float = 1e-4  # linear schedule only: DDPM's betas for 1000 steps, scaled to `timesteps`
    beta_end: float = 0.02
    num_joints: int = NUM_JOINTS

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}.")

    @property
    def frame_features(self) -> int:
        j = self.num_joints
        return j * 3 + j * 3 + j + (j + 1) * 3  # pose, motion, log-uncertainty, 2D input with the root row


def alphas_cumprod(spec: RefinerSpec) -> torch.Tensor:
    """The cumulative signal fraction abar_t for t = 0 .. timesteps-1."""
    t = torch.arange(spec.timesteps + 1, dtype=torch.float64) / spec.timesteps
    if spec.schedule == "cosine":
        f = torch.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
        betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    else:
        scale = 1000 / spec.timesteps
        betas = torch.linspace(spec.beta_start * scale, spec.beta_end * scale, spec.timesteps, dtype=torch.float64)
    return torch.cumprod(1 - betas, 0).float()


def context_features(pose: torch.Tensor, uncertainty: torch.Tensor, x2d: torch.Tensor) -> torch.Tensor:
    """The denoiser's view of a window: ``pose`` (..., W, J, 3) mm, ``uncertainty`` (..., W, J) mm and
    the lifter's 2D network input ``x2d`` (..., W, J+1, 3) -> (..., W * frame_features)."""
    newest = pose[..., -1:, :, :]
    parts = [pose / 1000.0, (pose - newest) / 100.0, (uncertainty.clamp_min(1.0) / 20.0).log()[..., None], x2d]
    feats = torch.cat([p.flatten(-2) for p in parts], dim=-1)
    return torch.nan_to_num(feats.flatten(-2), nan=0.0, posinf=0.0, neginf=0.0)


class _Block(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, 2 * width), nn.GELU(),
                                 nn.Linear(2 * width, width))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.net(h)


class Denoiser(nn.Module):
    """Predicts the clean correction (B, J, 3) from the noised one, the time, the context and the
    held-joint mask. A residual MLP: the whole window fits in one vector, and a step stays cheap."""
    arch = "diffusion_refiner"

    def __init__(self, spec: RefinerSpec = RefinerSpec()):
        super().__init__()
        self.spec = spec
        j, h = spec.num_joints, spec.hidden
        self.context = nn.Linear(spec.window * spec.frame_features, h)
        self.noisy = nn.Linear(j * 4, h)
        self.time = nn.Sequential(nn.Linear(64, h), nn.GELU(), nn.Linear(h, h))
        self.blocks = nn.Sequential(*(_Block(h) for _ in range(spec.blocks)))
        self.out = nn.Sequential(nn.LayerNorm(h), nn.Linear(h, j * 3))
        nn.init.zeros_(self.out[1].weight)
        nn.init.zeros_(self.out[1].bias)
        self.register_buffer("abar", alphas_cumprod(spec), persistent=False)
        self.register_buffer("freqs", torch.exp(torch.arange(32) * (-math.log(1000.0) / 32)), persistent=False)

    def encode(self, context: torch.Tensor) -> torch.Tensor:
        """The window's features, projected once per frame and reused by every sampler step."""
        return self.context(context)

    def forward(self, noisy: torch.Tensor, t: torch.Tensor, encoded: torch.Tensor, held: torch.Tensor
                ) -> torch.Tensor:
        b = noisy.shape[0]
        angle = t.float()[:, None] * self.freqs[None]
        temb = torch.cat([angle.sin(), angle.cos()], dim=-1)
        x = torch.cat([noisy.reshape(b, -1), held.float()], dim=-1)
        h = encoded + self.noisy(x) + self.time(temb)
        return self.out(self.blocks(h)).reshape(b, -1, 3)


def held_joints(uncertainty: torch.Tensor, threshold_mm: float | torch.Tensor) -> torch.Tensor:
    """Joints the lifter is sure of (kept as they are); the pelvis is the origin and always held.
    ``threshold_mm`` is one value or one per sample, broadcast against ``uncertainty``."""
    held = uncertainty < threshold_mm
    held[..., 0] = True
    return held


def sampling_times(spec: RefinerSpec, steps: int) -> list[int]:
    """``steps`` evenly spaced diffusion times from the noisiest down."""
    if not 1 <= steps <= spec.timesteps:
        raise ValueError(f"sampler steps must be between 1 and {spec.timesteps}, got {steps}.")
    return [round((spec.timesteps - 1) * (steps - i) / steps) for i in range(steps)]


@torch.no_grad()
def refine(model: Denoiser, pose: torch.Tensor, uncertainty: torch.Tensor, x2d: torch.Tensor,
           noise: torch.Tensor, threshold_mm: float, steps: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Refine the newest frame of each window.

    ``pose`` (B, W, J, 3) mm, ``uncertainty`` (B, W, J) mm, ``x2d`` (B, W, J+1, 3); ``noise`` (K, J, 3):
    K hypotheses, the same for every window, aggregated by the per-joint median. Returns the refined newest pose
    (B, J, 3) and the resampled-joint mask (B, J). Held joints come back exactly as they went in, and
    so does any frame whose result would not be finite.
    """
    k, b = noise.shape[0], pose.shape[0]
    newest, held = pose[:, -1], held_joints(uncertainty[:, -1], threshold_mm)
    if bool(held.all()):
        return newest.clone(), ~held
    encoded = model.encode(context_features(pose, uncertainty, x2d)).repeat(k, 1)
    eps = noise[:, None].expand(k, b, *noise.shape[1:]).reshape(k * b, -1, 3)
    held_k = held.repeat(k, 1)
    x = eps.clone()
    held_noise = eps[held_k]
    times = sampling_times(model.spec, steps)
    abar = model.abar.tolist()
    for t, t_next in zip(times, times[1:] + [-1]):
        a, a_next = abar[t], (abar[t_next] if t_next >= 0 else 1.0)
        x[held_k] = math.sqrt(1 - a) * held_noise  # held joints: the noised zero correction
        x0 = model(x, torch.full((k * b,), t, device=x.device), encoded, held_k)
        x0[held_k] = 0.0
        predicted_eps = (x - math.sqrt(a) * x0) / math.sqrt(1 - a)
        x = math.sqrt(a_next) * x0 + math.sqrt(1 - a_next) * predicted_eps
    correction = x0.reshape(k, b, -1, 3).median(dim=0).values
    refined = newest + CORRECTION_MM * correction
    ok = torch.isfinite(refined).all(dim=-1).all(dim=-1)
    refined = torch.where(ok[:, None, None], refined, newest)
    return refined, ~held & ok[:, None]


def denoising_loss(model: Denoiser, pose: torch.Tensor, uncertainty: torch.Tensor, x2d: torch.Tensor,
                   target: torch.Tensor, threshold_mm: torch.Tensor, accel_weight: float = 1.0,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """Training loss on triples of consecutive frames (each input has a leading axis of 3: frames
    t-2, t-1, t), which share the diffusion time and noise as a live stream shares its noise.

    The mean 3D error (mm) of the predicted clean pose over the resampled joints, plus
    ``accel_weight`` times the error of its acceleration, so the refined stream is smooth too.
    Joints under each sample's ``threshold_mm`` are held exactly as the sampler holds them.
    """
    b = pose.shape[1]
    newest = pose[:, :, -1]  # (3, B, J, 3)
    clean = (target - newest) / CORRECTION_MM
    unc = uncertainty[:, :, -1]
    held = held_joints(unc, threshold_mm[None, :, None])
    t = torch.randint(0, model.spec.timesteps, (b,), device=pose.device, generator=generator)
    a = model.abar[t][None, :, None, None]
    eps = torch.randn(clean.shape[1:], device=pose.device, generator=generator).expand_as(clean)
    noisy = torch.where(held[..., None], (1 - a).sqrt() * eps, a.sqrt() * clean + (1 - a).sqrt() * eps)
    flat = lambda x: x.flatten(0, 1)  # noqa: E731
    encoded = model.encode(context_features(flat(pose), flat(uncertainty), flat(x2d)))
    x0 = model(flat(noisy), t.repeat(3), encoded, flat(held))
    x0 = x0.reshape(clean.shape).masked_fill(held[..., None], 0.0)
    err = CORRECTION_MM * (x0 - clean).norm(dim=-1)
    free = (~held).float()
    mpjpe = (err * free).sum() / free.sum().clamp_min(1.0)
    refined = newest + CORRECTION_MM * x0
    accel = ((refined[2] - 2 * refined[1] + refined[0]) - (target[2] - 2 * target[1] + target[0])).norm(dim=-1).mean()
    return mpjpe + accel_weight * accel, {"mpjpe_free": mpjpe.item(), "accel": accel.item(),
                                          "free_fraction": free.mean().item()}


def window_index(ends: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    """Frame indices of the causal windows ending at ``ends`` (B, W); before ``starts`` the first
    frame repeats, as at the start of a live stream."""
    return np.maximum(ends[:, None] - np.arange(window - 1, -1, -1)[None], starts[:, None])


def stream_noise(spec: RefinerSpec, hypotheses: int, seed: int) -> torch.Tensor:
    """The one noise draw a stream uses at every frame (K, J, 3)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(hypotheses, spec.num_joints, 3, generator=g)


@torch.no_grad()
def refine_sequence(model: Denoiser, pose: np.ndarray, uncertainty: np.ndarray, x2d: np.ndarray,
                    noise: torch.Tensor, threshold_mm: float, steps: int = 2, starts: np.ndarray | None = None,
                    chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Refine every frame of a sequence exactly as the live stream would, batched. ``starts`` (N,),
    when several sequences are packed together, is each frame's sequence start. Returns the
    refined poses (N, J, 3) and the resampled mask (N, J)."""
    n = len(pose)
    starts = np.zeros(n, np.int64) if starts is None else starts
    idx = window_index(np.arange(n), starts, model.spec.window)
    tensors = [torch.as_tensor(a, dtype=torch.float32) for a in (pose, uncertainty, x2d)]
    out, mask = [], []
    for s in range(0, n, chunk):
        i = torch.as_tensor(idx[s: s + chunk])
        r, m = refine(model, *(t[i] for t in tensors), noise, threshold_mm, steps)
        out.append(r)
        mask.append(m)
    return torch.cat(out).numpy(), torch.cat(mask).numpy()
