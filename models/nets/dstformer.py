"""DSTFormer (MotionBERT's dual-stream spatio-temporal transformer) as a lifter.

Every layer runs two streams over the joint tokens: spatial attention then temporal attention (S->T)
and temporal then spatial (T->S); a learned, per-token softmax weighting fuses them. Temporal
attention is a band of ``window`` frames: all in the past in the causal form, which then streams live
with a key/value cache per temporal block (:class:`~.layers.CachedStep`), or centred in the
non-causal form (MotionBERT's own setting is non-causal over 243 frames). Masked pretraining
(frames and joints hidden, the 3D recovered) is a training config: ``augment`` ``mask_frames`` and
``dropout`` with the embedding's mask token (see ``assets/configs/dstformer_pretrain.yaml``).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..lifter import NUM_JOINTS
from .layers import (JointHead, RowEmbedding, SpatialBlock, StreamingNet, TemporalBlock, band, stacked_context,
                     valid_frames)


@dataclass(frozen=True)
class DSTFormerSpec:
    dim: int = 48
    heads: int = 4
    layers: int = 3
    window: int = 9  # frames each temporal attention sees
    mlp_ratio: float = 2.0
    dropout: float = 0.1
    causal: bool = True
    num_joints: int = NUM_JOINTS
    root_features: bool = True


class DSTFormer(StreamingNet):
    arch = "dstformer"

    def __init__(self, spec: DSTFormerSpec = DSTFormerSpec()):
        super().__init__()
        self.spec = spec
        rows, c = spec.num_joints + spec.root_features, spec.dim
        past, future = band(spec.window, spec.causal)
        self.embed = RowEmbedding(rows, spec.num_joints, c)
        args = (c, spec.heads, spec.mlp_ratio, spec.dropout)
        self.st_spatial = nn.ModuleList(SpatialBlock(*args) for _ in range(spec.layers))
        self.st_temporal = nn.ModuleList(TemporalBlock(*args, past, future) for _ in range(spec.layers))
        self.ts_temporal = nn.ModuleList(TemporalBlock(*args, past, future) for _ in range(spec.layers))
        self.ts_spatial = nn.ModuleList(SpatialBlock(*args) for _ in range(spec.layers))
        self.fuse = nn.ModuleList(nn.Linear(2 * c, 2) for _ in range(spec.layers))
        self.head = JointHead(c, spec.num_joints)

    @property
    def context(self) -> tuple[int, int]:
        return stacked_context(self.spec.window, self.spec.causal, self.spec.layers)

    def _fused(self, i: int, st: torch.Tensor, ts: torch.Tensor) -> torch.Tensor:
        a = self.fuse[i](torch.cat([st, ts], -1)).softmax(-1)
        return a[..., :1] * st + a[..., 1:] * ts

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.embed(x)
        for i in range(self.spec.layers):
            st = self.st_temporal[i](self.st_spatial[i](h))
            ts = self.ts_spatial[i](self.ts_temporal[i](h))
            h = self._fused(i, st, ts)
        return self.head(valid_frames(h, self.context))

    def step(self, x: torch.Tensor, state: list[torch.Tensor] | None):
        """One frame (S, 1, R, 3) against the caches of the temporal blocks (two per layer)."""
        h, new = self.embed(x), []
        for i in range(self.spec.layers):
            st, c1 = self.st_temporal[i].step(self.st_spatial[i](h), None if state is None else state[2 * i])
            ts, c2 = self.ts_temporal[i].step(h, None if state is None else state[2 * i + 1])
            h = self._fused(i, st, self.ts_spatial[i](ts))
            new += [c1, c2]
        return (*self.head(h), new)

    def state_shapes(self, streams: int) -> list[tuple[int, ...]]:
        tokens = self.spec.num_joints + self.spec.root_features
        return [b.cache_shape(streams, tokens) for i in range(self.spec.layers) for b in (self.st_temporal[i], self.ts_temporal[i])]
