"""The lifter architectures beside the TCN (``models/lifter.py``), one module each, all with the same
contract: network input (B, T, R, 3) -> pose and log-scale for the frames with their whole
``context``; causal ones also ``step`` one frame against explicit state for the live stream."""
from __future__ import annotations

from .dstformer import DSTFormer, DSTFormerSpec
from .gentg import TGT, TGTSpec
from .sparse_gcn import SparseGCNSpec, SparseGCNTransformer
from .tgraphnet import TGraphNet, TGraphNetSpec

# Architecture name in a checkpoint -> (spec class, model class, what users call it).
NETS = {
    "gentg_tgt": (TGTSpec, TGT, "GenTG-Limb temporal graph transformer"),
    "dstformer": (DSTFormerSpec, DSTFormer, "DSTFormer dual-stream transformer"),
    "tgraphnet": (TGraphNetSpec, TGraphNet, "TGraphNet U-shaped spatio-temporal GCN"),
    "sparse_gcn_transformer": (SparseGCNSpec, SparseGCNTransformer, "Sparse-GCN + Transformer single-frame lifter"),
}
