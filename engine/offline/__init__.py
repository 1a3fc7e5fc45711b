"""Whole files and many videos: one video with nothing dropped, a folder or glob of them, on Ray when asked."""
