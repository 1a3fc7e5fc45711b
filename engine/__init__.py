"""The real-time pipeline, GUI-free: the live pipeline, its outputs, whole files and many videos, and the commands."""
