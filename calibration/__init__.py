"""Cameras: pinhole + distortion model, intrinsics guesses, image-plane normalisation."""
from .camera import CalibrationError, Camera

__all__ = ["Camera", "CalibrationError"]
