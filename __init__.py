"""poselift: live monocular 3D human pose."""

__version__ = "0.1.0"
