"""The causal temporal-convolution lifter: H36M-17 2D (+ confidence) over the last T frames ->
root-relative 3D (mm) and a per-joint uncertainty for the newest frame.

A stack of dilated 1D convolutions (kernel 3, dilation 1, 3, 9, ...) whose receptive field T = 3^levels
looks only into the past. Training runs the same weights *strided* (stride 3, no dilation), which
computes just the newest frame of each window; a whole sequence runs *dense* (dilated, one output per
frame); live, :class:`StreamingLifter` caches each layer's past inputs so that one step costs one
column of every convolution, whatever T is.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .skeletons import H36M, flip_pose

NUM_JOINTS = 17
IN_FEATURES = 3  # x, y, confidence


@dataclass(frozen=True)
class LifterSpec:
    """Architecture hyper-parameters: stored beside the weights, checked when they load."""
    channels: int = 256
    levels: int = 4
    dropout: float = 0.1
    num_joints: int = NUM_JOINTS
    # Also feed the pelvis's position in the image: the direction of the viewing ray, which decides
    # how a pose seen off-centre is turned relative to the camera.
    root_features: bool = False

    @property
    def receptive_field(self) -> int:
        return 3**self.levels

    @property
    def in_channels(self) -> int:
        return (self.num_joints + self.root_features) * IN_FEATURES


def normalize_2d(kp: torch.Tensor, conf: torch.Tensor, root_features: bool = False) -> torch.Tensor:
    """Per frame: centre on the pelvis and divide by the confidence-weighted RMS joint distance.

    ``kp`` (..., J, 2) in normalised image coordinates, ``conf`` (..., J) in [0, 1]. Returns the
    network input (..., J, 3), with ``root_features`` one more row: the pelvis's own image position
    (x, y, 0). Each frame is normalised on its own, so a frame's input never changes once it has
    arrived (what lets the streaming step reuse cached activations), and the lifter does not depend on
    the person's distance.
    """
    rel = kp - kp[..., :1, :]
    scale = scale_2d(kp, conf)
    x = torch.cat([rel / scale[..., None, None], conf[..., None]], dim=-1)
    if root_features:
        root = torch.cat([kp[..., :1, :], torch.zeros_like(kp[..., :1, :1])], dim=-1)
        x = torch.cat([x, root], dim=-2)
    return x


def scale_2d(kp: torch.Tensor, conf: torch.Tensor) -> torch.Tensor:
    """Per frame (...,): the confidence-weighted RMS distance of the joints from the pelvis, the 2D size
    ``normalize_2d`` divides by (and what a root-depth estimate needs back)."""
    w = conf.clamp(0.05, 1.0)
    rel = kp - kp[..., :1, :]
    return ((rel.square().sum(-1) * w).sum(-1) / w.sum(-1)).sqrt().clamp_min(1e-4)


def window_2d(kp: np.ndarray | torch.Tensor, conf: np.ndarray | torch.Tensor) -> torch.Tensor:
    """The normalised 2D rows of frames ``kp`` (..., J, 2), ``conf`` (..., J), with the pelvis's image
    position (..., J+1, 3): computed once per frame, they feed the lifter (``input_from_rows``) and
    the refiner's window alike."""
    return normalize_2d(torch.as_tensor(kp, dtype=torch.float32), torch.as_tensor(conf, dtype=torch.float32), True)


def input_from_rows(rows: torch.Tensor, spec: LifterSpec) -> torch.Tensor:
    """The lifter's input from ``normalize_2d(..., root_features=True)`` rows: the same rows, less the
    pelvis row when the lifter does not take it (so one normalisation serves lifter and refiner)."""
    return rows if spec.root_features else rows[..., :-1, :]


def with_mirror(x: torch.Tensor) -> torch.Tensor:
    """Network input (..., J or J + 1, 3) and its left-right mirror image, stacked on a new first axis."""
    return torch.stack([x, flip_pose(x, H36M)])


def average_with_mirror(pose: torch.Tensor, log_scale: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The lifter's output for ``with_mirror`` input (2, ..., J, 3) and (2, ..., J): the two
    predictions averaged, the mirror image's mirrored back."""
    return (0.5 * (pose[0] + flip_pose(pose[1], H36M)),
            0.5 * (log_scale[0] + log_scale[1][..., H36M.flip_index]))


class TemporalLifter(nn.Module):
    arch = "temporal_lifter"

    def __init__(self, spec: LifterSpec = LifterSpec()):
        super().__init__()
        self.spec = spec
        c, j = spec.channels, spec.num_joints
        self.expand = nn.Conv1d(spec.in_channels, c, 3, bias=False)
        self.expand_bn = nn.BatchNorm1d(c)
        self.temporal = nn.ModuleList(nn.Conv1d(c, c, 3, bias=False) for _ in range(spec.levels - 1))
        self.temporal_bn = nn.ModuleList(nn.BatchNorm1d(c) for _ in range(spec.levels - 1))
        self.pointwise = nn.ModuleList(nn.Conv1d(c, c, 1, bias=False) for _ in range(spec.levels - 1))
        self.pointwise_bn = nn.ModuleList(nn.BatchNorm1d(c) for _ in range(spec.levels - 1))
        self.drop = nn.Dropout(spec.dropout)
        # Per joint: 3 coordinates (the pelvis is pinned to the origin afterwards) and a log-scale.
        self.head = nn.Conv1d(c, j * 4, 1)

    @property
    def context(self) -> tuple[int, int]:
        """Frames before and after an output frame that it depends on."""
        return self.spec.receptive_field - 1, 0

    def step_module(self) -> LifterStep:
        return LifterStep(self)

    def forward(self, x: torch.Tensor, dense: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` (B, T, J, 3) network input (J + 1 rows with root features). Strided (training): T must equal the receptive field and
        one frame comes out. Dense: T >= receptive field, T - receptive_field + 1 frames come out. ``dense``
        None: strided for exactly the receptive field, dense for more.
        Returns pose (B, T', J, 3) in mm with the pelvis at 0 and log_scale (B, T', J)."""
        b, t = x.shape[:2]
        if dense is None:
            dense = t != self.spec.receptive_field
        if not dense and t != self.spec.receptive_field:
            raise ValueError(f"strided mode takes exactly {self.spec.receptive_field} frames, got {t}.")
        h = x.reshape(b, t, -1).transpose(1, 2)
        h = self.drop(F.relu(self.expand_bn(self._conv(self.expand, h, 1, dense))))
        for i in range(self.spec.levels - 1):
            d = 3 ** (i + 1)
            res = h[:, :, 2 * d:] if dense else h[:, :, 2::3]
            h = self.drop(F.relu(self.temporal_bn[i](self._conv(self.temporal[i], h, d, dense))))
            h = res + self.drop(F.relu(self.pointwise_bn[i](self.pointwise[i](h))))
        return decode_output(self.head(h).transpose(1, 2), self.spec.num_joints)

    @staticmethod
    def _conv(conv: nn.Conv1d, h: torch.Tensor, dilation: int, dense: bool) -> torch.Tensor:
        if dense:
            return F.conv1d(h, conv.weight, dilation=dilation)
        return F.conv1d(h, conv.weight, stride=3)



def decode_output(out: torch.Tensor, j: int = NUM_JOINTS) -> tuple[torch.Tensor, torch.Tensor]:
    """A head's raw output (..., J * 4) -> pose (..., J, 3) mm with the pelvis at 0 and log-scale (..., J):
    every lifter architecture ends this way."""
    pose = out[..., : j * 3].reshape(*out.shape[:-1], j, 3) * 100.0  # decimetre-scale outputs
    pose = pose - pose[..., :1, :]
    # b = e^3 ~ 20 mm at initialisation, kept within 1 mm .. 3 m.
    log_scale = (out[..., j * 3:] + 3.0).clamp(0.0, 8.0)
    return pose, log_scale


def expected_error(log_scale: torch.Tensor) -> torch.Tensor:
    """Per-joint uncertainty in mm: the expected 3D error under the trained error model (3 b)."""
    return 3.0 * log_scale.exp()


def lifter_loss(pose: torch.Tensor, log_scale: torch.Tensor, target: torch.Tensor,
                nll_weight: float = 0.1) -> tuple[torch.Tensor, dict[str, float]]:
    """MPJPE plus the negative log-likelihood of the 3D error under p(e) ~ exp(-|e| / b) / b^3.

    The likelihood only trains the scale (the error is detached), so the uncertainty learns to match
    the error without pulling the pose towards a weighted fit. The pelvis is the origin by definition
    (its error is always 0), so it is left out of the likelihood.
    """
    err = (pose - target).norm(dim=-1)
    mpjpe = err.mean()
    nll = (err[..., 1:].detach() / log_scale[..., 1:].exp() + 3.0 * log_scale[..., 1:]).mean()
    return mpjpe + nll_weight * nll, {"mpjpe": mpjpe.item(), "nll": nll.item()}


def bone_length_error(pose: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of the H36M-17 bone lengths of ``pose`` and ``target`` (..., J, 3), mm."""
    parents, children = (list(ends) for ends in zip(*H36M.bones))
    lengths = [(p[..., children, :] - p[..., parents, :]).norm(dim=-1) for p in (pose, target)]
    return (lengths[0] - lengths[1]).abs().mean()


class LifterStep(nn.Module):
    """One live step of a trained :class:`TemporalLifter` for S streams at once, with explicit cached state.

    Batch norm is folded into the convolutions. ``forward(frame, *state)`` takes the newest frame's
    network input of each stream (S, J*3) and one buffer per layer holding that layer's recent inputs
    (S, channels, taps), and returns (pose (S, J, 3), log_scale (S, J), *new_state). Live, the streams
    are a frame and its mirror image. Pure tensor in, tensor out, so it exports to ONNX unchanged.
    """

    def __init__(self, lifter: TemporalLifter):
        super().__init__()
        self.spec = lifter.spec
        lifter = lifter.eval()
        w, b = _fold(lifter.expand, lifter.expand_bn)
        self.register_buffer("w_expand", w.flatten(1).T.contiguous())
        self.register_buffer("b_expand", b)
        self.dilations = [3 ** (i + 1) for i in range(self.spec.levels - 1)]
        for i in range(self.spec.levels - 1):
            w, b = _fold(lifter.temporal[i], lifter.temporal_bn[i])
            self.register_buffer(f"w_temporal{i}", w.flatten(1).T.contiguous())
            self.register_buffer(f"b_temporal{i}", b)
            w, b = _fold(lifter.pointwise[i], lifter.pointwise_bn[i])
            self.register_buffer(f"w_pointwise{i}", w.flatten(1).T.contiguous())
            self.register_buffer(f"b_pointwise{i}", b)
        self.register_buffer("w_head", lifter.head.weight.detach().flatten(1).T.contiguous())
        self.register_buffer("b_head", lifter.head.bias.detach().clone())
        self.num_joints = self.spec.num_joints

    def initial_state(self, streams: int = 1) -> list[torch.Tensor]:
        c, cin = self.spec.channels, self.spec.in_channels
        return [torch.zeros(streams, cin, 3)] + [torch.zeros(streams, c, 2 * d + 1) for d in self.dilations]

    def prime(self, frame: torch.Tensor) -> list[torch.Tensor]:
        """The state after an endless run of ``frame`` (S, J*3): how a stream starts (its first frame
        stands in for the history it does not have, as the edge padding in training does)."""
        state = [frame[:, :, None].expand(-1, -1, 3).clone()]
        h = F.relu(state[0].flatten(1) @ self.w_expand + self.b_expand)
        for i, d in enumerate(self.dilations):
            state.append(h[:, :, None].expand(-1, -1, 2 * d + 1).clone())
            h = self._block(i, d, state[-1], h)
        return state

    def forward(self, frame: torch.Tensor, *state: torch.Tensor):
        buf = torch.cat([state[0][:, :, 1:], frame[:, :, None]], dim=2)
        new_state = [buf]
        h = F.relu(buf.flatten(1) @ self.w_expand + self.b_expand)
        for i, d in enumerate(self.dilations):
            buf = torch.cat([state[i + 1][:, :, 1:], h[:, :, None]], dim=2)
            new_state.append(buf)
            h = self._block(i, d, buf, h)
        pose, log_scale = decode_output(h @ self.w_head + self.b_head, self.num_joints)
        return (pose, log_scale, *new_state)

    def _block(self, i: int, d: int, buf: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        taps = buf[:, :, 0::d]  # columns 0, d, 2d: oldest to newest
        t = F.relu(taps.flatten(1) @ getattr(self, f"w_temporal{i}") + getattr(self, f"b_temporal{i}"))
        return h + F.relu(t @ getattr(self, f"w_pointwise{i}") + getattr(self, f"b_pointwise{i}"))


def _fold(conv: nn.Conv1d, bn: nn.BatchNorm1d) -> tuple[torch.Tensor, torch.Tensor]:
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    w = conv.weight * scale[:, None, None]
    b = bn.bias - bn.running_mean * scale
    return w.detach().clone(), b.detach().clone()
