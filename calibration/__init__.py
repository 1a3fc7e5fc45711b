"""Cameras: pinhole + distortion model, intrinsics guesses, image-plane normalisation."""
from .camera import Camera

__all__ = ["Camera"]
