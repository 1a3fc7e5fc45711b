"""The live pipeline: sources, MediaPipe 2D, tracking, swap repair, the lifter runtime, the world, refinement, filters."""
