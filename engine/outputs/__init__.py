"""What results become: the clip, the crash-safe recording, file formats, rendered video, plots and comparisons."""
