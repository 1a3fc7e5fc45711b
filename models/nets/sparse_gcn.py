"""Sparse-GCN + Transformer: the per-frame baseline. Graph convolutions along the skeleton's bones
(the propagation matrix is the skeleton's sparse, normalised adjacency) give every joint its
neighbourhood; transformer layers over the joint tokens then relate any joint to any other. One
frame in, one pose out: no history, so the live step carries no state. Trained with the TCN's
likelihood plus a bone-length loss (``bone_weight`` in the training config), as the seed trains it."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..lifter import NUM_JOINTS
from .layers import JointHead, RowEmbedding, SpatialBlock, StreamingNet, normalized_adjacency, skeleton_adjacency


@dataclass(frozen=True)
class SparseGCNSpec:
    dim: int = 64
    gcn_layers: int = 2
    heads: int = 4
    layers: int = 2
    mlp_ratio: float = 2.0
    dropout: float = 0.1
    num_joints: int = NUM_JOINTS
    root_features: bool = True


class SparseGCNTransformer(StreamingNet):
    arch = "sparse_gcn_transformer"
    eval_chunk = 4096  # no attention over time: long chunks cost nothing extra
    context = (0, 0)

    def __init__(self, spec: SparseGCNSpec = SparseGCNSpec()):
        super().__init__()
        self.spec = spec
        rows, c = spec.num_joints + spec.root_features, spec.dim
        self.register_buffer("adjacency", normalized_adjacency(skeleton_adjacency(rows)), persistent=False)
        self.embed = RowEmbedding(rows, spec.num_joints, c)
        self.gcn = nn.ModuleList(nn.Linear(c, c) for _ in range(spec.gcn_layers))
        self.gcn_norm = nn.ModuleList(nn.LayerNorm(c) for _ in range(spec.gcn_layers))
        self.blocks = nn.ModuleList(SpatialBlock(c, spec.heads, spec.mlp_ratio, spec.dropout) for _ in range(spec.layers))
        self.head = JointHead(c, spec.num_joints)
        self.drop = nn.Dropout(spec.dropout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.embed(x)
        for lin, norm in zip(self.gcn, self.gcn_norm):
            h = h + self.drop(F.gelu(norm(self.adjacency @ lin(h))))
        for block in self.blocks:
            h = block(h)
        return self.head(h)

    def step(self, x: torch.Tensor, state: list[torch.Tensor] | None):
        return (*self(x), [])

    def state_shapes(self, streams: int) -> list[tuple[int, ...]]:
        return []
