"""Building blocks the lifter architectures share: row embedding, attention over joints within a frame
and over a band of frames (with a key/value cache for the live step), MLPs, graph matrices of the
skeleton, and the generic streaming step.

Every architecture here takes the lifter's network input (B, T, R, 3): R = 17 joints (+ the pelvis's
image position when ``root_features``), each row (x, y, confidence); it returns, like the TCN, the
frames that have their whole context inside the window (``context`` frames before and after them), as
pose (B, T', J, 3) mm with the pelvis at 0 and log-scale (B, T', J).
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ConfigError, WeightsError
from ..lifter import decode_output
from ..skeletons import H36M


def skeleton_adjacency(rows: int) -> torch.Tensor:
    """The H36M-17 bones as a symmetric 0/1 matrix over ``rows`` nodes (row 17, the pelvis's image
    position, joins the pelvis)."""
    a = torch.zeros(rows, rows)
    for p, c in H36M.bones + ([(0, H36M.num_joints)] if rows > H36M.num_joints else []):
        a[p, c] = a[c, p] = 1.0
    return a


def normalized_adjacency(a: torch.Tensor) -> torch.Tensor:
    """D^-1/2 (A + I) D^-1/2, the usual GCN propagation matrix."""
    a = a + torch.eye(len(a))
    d = a.sum(1).rsqrt()
    return d[:, None] * a * d[None]


def hop_distances(a: torch.Tensor) -> torch.Tensor:
    """Shortest-path hop counts between all nodes of the graph ``a`` (0/1), as a long tensor."""
    n = len(a)
    dist = np.where(a.numpy() > 0, 1.0, np.inf)
    np.fill_diagonal(dist, 0.0)
    for k in range(n):  # Floyd-Warshall: a few dozen nodes
        dist = np.minimum(dist, dist[:, k:k + 1] + dist[k:k + 1])
    return torch.from_numpy(np.nan_to_num(dist, posinf=n)).long()


class RowEmbedding(nn.Module):
    """Input rows (..., R, 3) -> tokens (..., R, C): a shared linear map plus a learned identity per row.
    Joints with confidence 0 (cut off by the image border, or masked in pretraining) become a learned
    mask token, so the network can tell missing from present."""

    def __init__(self, rows: int, joints: int, dim: int):
        super().__init__()
        self.joints = joints
        self.linear = nn.Linear(3, dim)
        self.identity = nn.Parameter(0.02 * torch.randn(rows, dim))
        self.mask = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.linear(x)
        missing = F.pad(x[..., : self.joints, 2] <= 0, (0, x.shape[-2] - self.joints))  # the pelvis row is never missing
        return torch.where(missing[..., None], self.mask, h) + self.identity


class JointHead(nn.Module):
    """Joint tokens (..., J, C) -> pose (..., J, 3) mm with the pelvis at 0 and log-scale (..., J)."""

    def __init__(self, dim: int, joints: int):
        super().__init__()
        self.joints = joints
        self.norm = nn.LayerNorm(dim)
        self.linear = nn.Linear(dim, 4)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.linear(self.norm(h[..., : self.joints, :]))
        return decode_output(torch.cat([out[..., :3].flatten(-2), out[..., 3]], -1), self.joints)


class MLP(nn.Sequential):
    def __init__(self, dim: int, ratio: float, dropout: float):
        hidden = int(dim * ratio)
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim), nn.Dropout(dropout))


class Attention(nn.Module):
    """Multi-head attention of a token set on itself, with an optional additive bias (H, N, N)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(M, N, C) -> q, k, v (M, H, N, C / H)."""
        q, k, v = self.qkv(x).unflatten(-1, (3, self.heads, -1)).permute(2, 0, 3, 1, 4)
        return q, k, v

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return self.proj(out.transpose(1, 2).flatten(2))

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        return self.attend(*self.project(x), bias)


class BandAttention(Attention):
    """Attention over time in a band: frame t sees frames t - past .. t + future, with a learned bias
    per head and lag. Causal when ``future`` is 0; then :meth:`step` runs one new frame against a cache
    of the last ``past`` frames' keys and values, the same result at a fraction of the cost."""

    def __init__(self, dim: int, heads: int, past: int, future: int):
        super().__init__(dim, heads)
        self.past, self.future = past, future
        self.lag_bias = nn.Parameter(torch.zeros(heads, past + future + 1))

    def band(self, t: int, device: torch.device) -> torch.Tensor:
        lag = torch.arange(t, device=device)[:, None] - torch.arange(t, device=device)[None]  # query - key
        inside = (lag <= self.past) & (lag >= -self.future)
        bias = self.lag_bias[:, (lag + self.future).clamp(0, self.past + self.future)]
        return bias.masked_fill(~inside, float("-inf"))

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        return self.attend(*self.project(x), self.band(x.shape[1], x.device))

    def step(self, x: torch.Tensor, cache: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` (M, 1, C) the newest frame's tokens, ``cache`` (M, 2, H, past, C / H) the keys and values
        of the frames before it, oldest first (None: as if the stream had always been this frame)."""
        q, k, v = self.project(x)
        if cache is None:
            cache = torch.stack([k, v], 1).expand(-1, -1, -1, self.past, -1)
        keys, values = torch.cat([cache[:, 0], k], 2), torch.cat([cache[:, 1], v], 2)
        out = self.attend(q, keys, values, self.lag_bias.flip(1)[:, None, :])  # lags past .. 0
        return out, torch.stack([keys[:, :, 1:], values[:, :, 1:]], 1)


class SpatialBlock(nn.Module):
    """Pre-norm attention among the tokens of each frame, then an MLP; (B, T, N, C) in and out."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.mlp = MLP(dim, mlp_ratio, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        b, t, n, c = x.shape
        h = self.attn(self.norm1(x).reshape(b * t, n, c), bias).reshape(b, t, n, c)
        x = x + self.drop(h)
        return x + self.mlp(self.norm2(x))


class TemporalBlock(nn.Module):
    """Pre-norm band attention of every token over time, then an MLP; (B, T, N, C) in and out, or one
    frame (B, 1, N, C) against its cache with :meth:`step`."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, dropout: float, past: int, future: int):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = BandAttention(dim, heads, past, future)
        self.mlp = MLP(dim, mlp_ratio, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, n, c = x.shape
        h = self.attn(self.norm1(x).transpose(1, 2).reshape(b * n, t, c))
        x = x + self.drop(h.reshape(b, n, t, c).transpose(1, 2))
        return x + self.mlp(self.norm2(x))

    def step(self, x: torch.Tensor, cache: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """One frame (S, 1, N, C) against ``cache`` (S, N, 2, H, past, C / H): streams first, like every
        step state, so a batch of streams can be cut down to fewer."""
        b, _, n, c = x.shape
        h, cache = self.attn.step(self.norm1(x).reshape(b * n, 1, c), None if cache is None else cache.flatten(0, 1))
        x = x + h.reshape(b, 1, n, c)
        return x + self.mlp(self.norm2(x)), cache.unflatten(0, (b, n))

    def cache_shape(self, streams: int, tokens: int) -> tuple[int, ...]:
        a = self.attn
        return (streams, tokens, 2, a.heads, a.past, a.proj.in_features // a.heads)


def band(window: int, causal: bool) -> tuple[int, int]:
    """(past, future) frames one temporal layer of ``window`` frames sees: all in the past when causal,
    centred otherwise (``window`` odd)."""
    if window < 1 or (not causal and window % 2 == 0):
        raise ConfigError(f"a {'causal' if causal else 'centred'} temporal window must be a positive "
                         f"{'' if causal else 'odd '}number of frames, got {window}.")
    return (window - 1, 0) if causal else ((window - 1) // 2, (window - 1) // 2)


def stacked_context(window: int, causal: bool, layers: int) -> tuple[int, int]:
    """(past, future) frames an output depends on through ``layers`` temporal layers of ``window``."""
    past, future = band(window, causal)
    return layers * past, layers * future


def valid_frames(x: torch.Tensor, context: tuple[int, int]) -> torch.Tensor:
    """The frames of ``x`` (B, T, ...) whose whole context lies inside the window."""
    past, future = context
    return x[:, past: x.shape[1] - future]


class CachedStep(nn.Module):
    """One live step of a causal lifter for S streams at once, with explicit state: ``forward(frame,
    *state)`` takes the newest frame's network input (S, R * 3) and the net's caches, and returns
    (pose (S, J, 3), log_scale (S, J), *new_state). The net provides ``step(x, state)`` and
    ``state_shapes(streams)``; pure tensors in and out, so the step exports like the TCN's."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = copy.deepcopy(net).eval()  # its own copy, as the TCN's step folds its own weights
        self.spec = net.spec
        self.rows = net.spec.num_joints + net.spec.root_features

    def initial_state(self, streams: int = 1) -> list[torch.Tensor]:
        return [torch.zeros(s) for s in self.net.state_shapes(streams)]

    def prime(self, frame: torch.Tensor) -> list[torch.Tensor]:
        """The state after an endless run of ``frame``: how a stream starts (as evaluation pads)."""
        return self.net.step(frame.unflatten(-1, (self.rows, 3))[:, None], None)[2]

    def forward(self, frame: torch.Tensor, *state: torch.Tensor):
        pose, log_scale, new_state = self.net.step(frame.unflatten(-1, (self.rows, 3))[:, None], list(state))
        return (pose[:, 0], log_scale[:, 0], *new_state)


class StreamingNet(nn.Module):
    """What the architectures here share beyond their layers: the live step of the causal form."""

    arch = ""
    # Frames per chunk in dense evaluation: temporal attention over a chunk costs its length squared.
    eval_chunk = 256

    def step_module(self) -> CachedStep:
        if not getattr(self.spec, "causal", True):
            raise WeightsError(f"these {self.arch} weights are the non-causal form, which needs future frames and "
                               "cannot stream live: choose a causal model's weights (non-causal ones are for poselift eval).")
        return CachedStep(self)
