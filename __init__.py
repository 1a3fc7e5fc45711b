"""poselift: live monocular 3D human pose.

    >>> import poselift
    >>> clip = poselift.lift_video("walk.mp4")     # the pipeline of ``poselift process``, nothing written
    >>> clip.pose3d.shape                          # (frames, 17, 3) mm, H36M-17, pelvis at 0
"""

__version__ = "0.1.0"

__all__ = ["lift_video"]


def lift_video(path, **options):
    """Lifts every frame of a video (or an image) to 3D, as ``poselift process`` does with the same
    settings, and returns the followed person's :class:`~poselift.engine.outputs.clip.Clip` without
    writing any file. ``options`` are the fields of
    :class:`~poselift.engine.live.factory.PipelineOptions` (``weights``, ``hfov_deg``, ``camera``,
    ``refine``, ``people``, ``world``, ``causal``, ``fusion``, ...); none given: the command's defaults
    (MediaPipe's own 3D fused into the lift, ``fusion=False``: the lift alone; the video run twice, each
    person's first frames also lifted from their future, ``causal=True``: once, as live)."""
    from .engine.live.factory import PipelineOptions, build_pipeline  # torch and MediaPipe load here
    from .engine.offline.process import lift_clip

    opts = PipelineOptions(**options)
    pipeline, info = build_pipeline(opts)
    return lift_clip(path, pipeline, info, two_way=not opts.causal)
