"""TGraphNet as a lifter: a U-shaped spatio-temporal graph convolutional network with learnable
affinity matrices, and a trajectory head for the root's position in the camera frame.

Each block is a graph convolution over the skeleton's nodes (a self weight and a neighbour weight, the
propagation matrix the skeleton's normalised adjacency plus a learned affinity per block, so joints
that are not bones can exchange information) followed by a temporal convolution (kernel 3) per node.
The U: the encoder's temporal scale grows block by block, the decoder's shrinks back, and each
decoder block adds the encoder block of its scale (skip connections). TGraphNet reaches coarse
scales by pooling and upsampling; here they come from dilations 1, 2, 4, ... instead, so every frame
keeps its own output and the causal form streams live with one cached column per convolution, like
the TCN. The non-causal form (the published model's setting: sequence to sequence) centres the
convolutions.

The trajectory head predicts, per frame, the root's depth times the pose's 2D size in the image (a
quantity the scale-free network input can know: the person's extent across the view); with the
pelvis's image position it gives the root in the camera frame (:func:`root_position`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..lifter import NUM_JOINTS, scale_2d
from .layers import JointHead, StreamingNet, normalized_adjacency, skeleton_adjacency

ROOT_SIZE_MM = 400.0  # typical depth x 2D size (about the body's RMS extent), the head's zero point


@dataclass(frozen=True)
class TGraphNetSpec:
    channels: int = 64
    dilations: tuple[int, ...] = (1, 2, 4, 8)  # encoder scales; the last is the bottom of the U
    dropout: float = 0.1
    causal: bool = True
    trajectory: bool = True
    num_joints: int = NUM_JOINTS
    root_features: bool = True


class GraphConv(nn.Module):
    """Per frame: y_i = W_s x_i + sum_j (A_ij + B_ij) W_n x_j, A the skeleton, B learned (starts at 0)."""

    def __init__(self, c_in: int, c_out: int, adjacency: torch.Tensor):
        super().__init__()
        self.register_buffer("adjacency", adjacency, persistent=False)
        self.affinity = nn.Parameter(torch.zeros_like(adjacency))
        self.self_weight = nn.Linear(c_in, c_out)
        self.neighbour_weight = nn.Linear(c_in, c_out, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., N, C)
        return self.self_weight(x) + (self.adjacency + self.affinity) @ self.neighbour_weight(x)


class GraphBlock(nn.Module):
    """Graph convolution, then a temporal convolution (kernel 3, ``dilation``) per node; residual.
    (B, T, N, C) -> (B, T - 2 dilation, N, C), the frames with their whole context."""

    def __init__(self, c: int, dilation: int, adjacency: torch.Tensor, dropout: float, causal: bool):
        super().__init__()
        self.dilation, self.causal = dilation, causal
        self.graph = GraphConv(c, c, adjacency)
        self.norm1, self.norm2 = nn.LayerNorm(c), nn.LayerNorm(c)
        self.temporal = nn.Conv1d(c, c, 3, dilation=dilation)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, n, c = x.shape
        h = x + self.drop(F.gelu(self.norm1(self.graph(x))))
        y = self.temporal(h.permute(0, 2, 3, 1).reshape(b * n, c, t)).reshape(b, n, c, -1).permute(0, 3, 1, 2)
        return crop(h, y.shape[1], self.causal) + self.drop(F.gelu(self.norm2(y)))

    def step(self, x: torch.Tensor, buf: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """One frame (S, 1, N, C) against the last 2 dilation frames of this block's temporal input,
        ``buf`` (S, N, C, 2 dilation + 1) oldest first (None: as if the stream had always been this frame)."""
        h = x + F.gelu(self.norm1(self.graph(x)))
        col = h[:, 0, :, :, None]
        buf = col.expand(-1, -1, -1, 2 * self.dilation + 1) if buf is None else buf
        buf = torch.cat([buf[..., 1:], col], -1)
        taps = buf[..., 0:: self.dilation]  # (S, N, C, 3)
        y = torch.einsum("snck,ock->sno", taps, self.temporal.weight) + self.temporal.bias
        return h + F.gelu(self.norm2(y))[:, None], buf


def crop(x: torch.Tensor, frames: int, causal: bool) -> torch.Tensor:
    """The ``frames`` frames of ``x`` (B, T, ...) aligned with a valid convolution's output: the last
    ones when causal, the middle ones otherwise."""
    start = x.shape[1] - frames if causal else (x.shape[1] - frames) // 2
    return x[:, start: start + frames]


class TGraphNet(StreamingNet):
    arch = "tgraphnet"
    eval_chunk = 4096  # no attention over time: long chunks cost nothing extra

    def __init__(self, spec: TGraphNetSpec = TGraphNetSpec()):
        super().__init__()
        self.spec = spec
        rows, c = spec.num_joints + spec.root_features, spec.channels
        adjacency = normalized_adjacency(skeleton_adjacency(rows))
        self.embed = nn.Linear(3, c)
        self.identity = nn.Parameter(0.02 * torch.randn(rows, c))
        self.down = nn.ModuleList(GraphBlock(c, d, adjacency, spec.dropout, spec.causal) for d in spec.dilations)
        self.up = nn.ModuleList(GraphBlock(c, d, adjacency, spec.dropout, spec.causal) for d in spec.dilations[-2::-1])
        self.head = JointHead(c, spec.num_joints)
        self.root_head = nn.Linear(2 * c, 1) if spec.trajectory else None

    @property
    def blocks(self) -> list[GraphBlock]:
        return [*self.down, *self.up]

    @property
    def context(self) -> tuple[int, int]:
        reach = 2 * sum(b.dilation for b in self.blocks)
        return (reach, 0) if self.spec.causal else (reach // 2, reach // 2)

    def _run(self, h: torch.Tensor, block_fn) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            h = block_fn(i, block, h)
            skips.append(h)
        for i, block in enumerate(self.up):
            h = block_fn(len(self.down) + i, block, h)
            h = h + crop(skips[-2 - i], h.shape[1], self.spec.causal)
        return h

    def _decode(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        pose, log_scale = self.head(h)
        log_size = None
        if self.root_head is not None:  # from the pelvis node and the mean over nodes
            log_size = self.root_head(torch.cat([h[..., 0, :], h.mean(-2)], -1))[..., 0]
        return pose, log_scale, log_size

    def forward(self, x: torch.Tensor, with_root: bool = False):
        """As every lifter; ``with_root`` also returns the trajectory head's output (B, T'), the log of
        depth x 2D size over ``ROOT_SIZE_MM`` (:func:`root_position` turns it into the root)."""
        out = self._decode(self._run(self.embed(x) + self.identity, lambda i, b, h: b(h)))
        return out if with_root else out[:2]

    def step(self, x: torch.Tensor, state: list[torch.Tensor] | None):
        new = []

        def run(i: int, block: GraphBlock, h: torch.Tensor) -> torch.Tensor:
            h, buf = block.step(h, None if state is None else state[i])
            new.append(buf)
            return h

        pose, log_scale, _ = self._decode(self._run(self.embed(x) + self.identity, run))
        return pose, log_scale, new

    def state_shapes(self, streams: int) -> list[tuple[int, ...]]:
        n = self.spec.num_joints + self.spec.root_features
        return [(streams, n, self.spec.channels, 2 * b.dilation + 1) for b in self.blocks]


def root_position(log_size: torch.Tensor, kp: torch.Tensor, conf: torch.Tensor) -> torch.Tensor:
    """The root in the camera frame (..., 3) mm from the trajectory head's output (...) and the frame's
    2D ``kp`` (..., J, 2) in normalised image coordinates with ``conf`` (..., J): pinhole."""
    depth = ROOT_SIZE_MM * log_size.clamp(-5, 5).exp() / scale_2d(kp, conf)
    return torch.cat([kp[..., 0, :] * depth[..., None], depth[..., None]], -1)


def log_root_size(root: torch.Tensor, kp: torch.Tensor, conf: torch.Tensor) -> torch.Tensor:
    """What the trajectory head should say for a known root (..., 3) mm (its training target)."""
    return torch.log(root[..., 2].clamp_min(1.0) * scale_2d(kp, conf)) - math.log(ROOT_SIZE_MM)
