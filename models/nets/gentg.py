"""GenTG-Limb's Temporal Graph Transformer (TGT) as a lifter: joint tokens and limb tokens.

Each frame becomes the 17 joint rows (+ the pelvis's image position), and one token per bone built
from its 2D vector (child - parent) and the lower of its two confidences. Spatial attention among a
frame's tokens is biased by their hop distance in the joint-limb graph (a bone touches its two
joints), so the skeleton's structure is a prior the attention can learn around; temporal attention
runs per token over a band of frames (causal: the past only, streaming with a key/value cache). The
joint tokens end in 3D and a per-joint Laplace scale, trained with the TCN's likelihood
(``lifter_loss``), so its uncertainty means the same and drives the same refiner.

GenTG-Limb's second stage, the Generative Pose Corrector, resamples uncertain joints with a
diffusion model; this project's refiner (``models/refiner.py``) is that stage, for any lifter here.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..lifter import NUM_JOINTS
from ..skeletons import H36M
from .layers import (JointHead, RowEmbedding, SpatialBlock, StreamingNet, TemporalBlock, band, hop_distances,
                     skeleton_adjacency, stacked_context, valid_frames)


@dataclass(frozen=True)
class TGTSpec:
    dim: int = 48
    heads: int = 4
    layers: int = 3
    window: int = 9
    mlp_ratio: float = 2.0
    dropout: float = 0.1
    causal: bool = True
    max_hops: int = 4  # graph distances beyond this share one attention bias
    num_joints: int = NUM_JOINTS
    root_features: bool = True


def joint_limb_graph(rows: int) -> torch.Tensor:
    """Adjacency over ``rows`` joint rows followed by one node per bone, linked to its two joints."""
    bones = H36M.bones
    n = rows + len(bones)
    a = torch.zeros(n, n)
    a[:rows, :rows] = skeleton_adjacency(rows)
    for b, (p, c) in enumerate(bones):
        for j in (p, c):
            a[rows + b, j] = a[j, rows + b] = 1.0
    return a


class TGT(StreamingNet):
    arch = "gentg_tgt"

    def __init__(self, spec: TGTSpec = TGTSpec()):
        super().__init__()
        self.spec = spec
        rows, c = spec.num_joints + spec.root_features, spec.dim
        past, future = band(spec.window, spec.causal)
        bones = H36M.bones
        self.register_buffer("parent", torch.tensor([p for p, _ in bones]), persistent=False)
        self.register_buffer("child", torch.tensor([c for _, c in bones]), persistent=False)
        self.register_buffer("hops", hop_distances(joint_limb_graph(rows)).clamp(max=spec.max_hops), persistent=False)
        self.joint_embed = RowEmbedding(rows, spec.num_joints, c)
        self.limb_embed = RowEmbedding(len(bones), len(bones), c)
        self.hop_bias = nn.Parameter(torch.zeros(spec.layers, spec.heads, spec.max_hops + 1))
        args = (c, spec.heads, spec.mlp_ratio, spec.dropout)
        self.spatial = nn.ModuleList(SpatialBlock(*args) for _ in range(spec.layers))
        self.temporal = nn.ModuleList(TemporalBlock(*args, past, future) for _ in range(spec.layers))
        self.head = JointHead(c, spec.num_joints)

    @property
    def context(self) -> tuple[int, int]:
        return stacked_context(self.spec.window, self.spec.causal, self.spec.layers)

    def _tokens(self, x: torch.Tensor) -> torch.Tensor:
        limbs = torch.cat([x[..., self.child, :2] - x[..., self.parent, :2],
                           torch.minimum(x[..., self.child, 2:], x[..., self.parent, 2:])], -1)
        return torch.cat([self.joint_embed(x), self.limb_embed(limbs)], -2)

    def _graph_bias(self, i: int) -> torch.Tensor:
        return self.hop_bias[i][:, self.hops]  # (H, N, N)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self._tokens(x)
        for i in range(self.spec.layers):
            h = self.temporal[i](self.spatial[i](h, self._graph_bias(i)))
        return self.head(valid_frames(h, self.context))

    def step(self, x: torch.Tensor, state: list[torch.Tensor] | None):
        h, new = self._tokens(x), []
        for i in range(self.spec.layers):
            h, cache = self.temporal[i].step(self.spatial[i](h, self._graph_bias(i)), None if state is None else state[i])
            new.append(cache)
        return (*self.head(h), new)

    def state_shapes(self, streams: int) -> list[tuple[int, ...]]:
        tokens = self.spec.num_joints + self.spec.root_features + len(H36M.bones)
        return [b.cache_shape(streams, tokens) for b in self.temporal]
