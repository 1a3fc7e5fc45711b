"""The model bundle MediaPipe's Tasks ``PoseLandmarker`` needs, built from the pose models inside the
installed mediapipe wheel (nothing is downloaded).

A ``.task`` bundle is an uncompressed zip of the pose detector and the landmark model. The wheel's
copies carry no TFLite metadata, and the Tasks API will not feed a float model an image without
the input normalisation written in it, so the two models get it first: the detector takes pixels in
[-1, 1] and the landmark model pixels in [0, 1], as the wheel's own legacy graphs feed them.
"""
from __future__ import annotations

import os
from pathlib import Path

# (file in the bundle, model in the wheel, normalisation mean, std: pixel -> (pixel - mean) / std)
_MODELS = (("pose_detector.tflite", "pose_detection/pose_detection.tflite", 127.5, 127.5),
           ("pose_landmarks_detector.tflite", "pose_landmark/pose_landmark_full.tflite", 0.0, 255.0))


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "poselift"


def pose_landmarker_bundle(cache_dir: str | Path | None = None) -> Path:
    """The path of the bundle for the installed mediapipe, built on first use (atomically)."""
    import mediapipe

    path = Path(cache_dir or default_cache_dir()) / f"pose_landmarker_full_mediapipe{mediapipe.__version__}.task"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        _write_bundle(Path(mediapipe.__file__).parent / "modules", tmp)
        os.replace(tmp, path)
    return path


def _write_bundle(modules: Path, out: Path) -> None:
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer, model_asset_bundle_utils

    models = {}
    for name, source, mean, std in _MODELS:
        writer = metadata_writer.MetadataWriter.create(bytearray((modules / source).read_bytes()))
        writer.add_general_info(name.removesuffix(".tflite"))
        writer.add_image_input([mean], [std])
        models[name] = bytes(writer.populate()[0])
    model_asset_bundle_utils.create_model_asset_bundle(models, str(out))
