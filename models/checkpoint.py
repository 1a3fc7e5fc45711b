"""Weights on disk: plain state dicts (never pickled objects) with the architecture beside them."""
from __future__ import annotations

import os
import pickle
import zipfile
from dataclasses import asdict
from pathlib import Path

import torch

from .errors import WeightsError
from .lifter import LifterSpec, TemporalLifter
from .nets import NETS
from .refiner import Denoiser, RefinerSpec

# Architecture name in the file -> (spec class, model class, what users call it).
LIFTERS = {"temporal_lifter": (LifterSpec, TemporalLifter, "temporal lifter"), **NETS}
ARCHITECTURES = {**LIFTERS, "diffusion_refiner": (RefinerSpec, Denoiser, "diffusion refiner")}


def save_atomic(obj: dict, path: Path) -> None:
    """Write through a temporary file and a rename, so a crash never leaves half a checkpoint."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def save_weights(path: Path, model: torch.nn.Module, meta: dict | None = None) -> None:
    save_atomic({"arch": model.arch, "spec": asdict(model.spec),
                 "state_dict": model.state_dict(), "meta": meta or {}}, Path(path))


def load_weights(path: str | os.PathLike, map_location: str | torch.device = "cpu",
                 arch: str | None = None) -> torch.nn.Module:
    """A model of architecture ``arch`` in eval mode from a weights file, or one sentence saying what
    is wrong. By default any lifter architecture (the one the file names); ``arch="diffusion_refiner"``
    for the refiner."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist: pass a .pt file from weights/ or a training run.")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError, ValueError) as e:
        raise WeightsError(f"weights file {path} is corrupt or not a poselift checkpoint "
                           f"({type(e).__name__}): re-download or retrain it.") from e
    allowed = LIFTERS if arch is None else {arch: ARCHITECTURES[arch]}
    if not isinstance(state, dict) or state.get("arch") not in allowed or "state_dict" not in state:
        what = "lifter" if arch is None else ARCHITECTURES[arch][2]
        raise WeightsError(f"weights file {path} is not a {what} checkpoint: "
                           f"it was made for another architecture or program.")
    spec_class, model_class, what = allowed[state["arch"]]
    try:
        model = model_class(spec_class(**state["spec"]))
        model.load_state_dict(state["state_dict"])
    except (TypeError, RuntimeError) as e:
        raise WeightsError(f"weights file {path} does not match the {what}'s layers: "
                           f"{str(e).splitlines()[0]}") from e
    return model.to(map_location).eval()
