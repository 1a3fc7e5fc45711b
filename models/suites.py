"""Evaluation suites beside the standard protocol: how the lifter does on cameras and people it was
not trained on. Each suite is a list of sequences scored by ``models.evaluate`` like the protocol.

- ``h36m``: the standard protocol, S9 and S11 through Human3.6M's own four cameras.
- ``h36m-virtual``: S9 and S11 filmed by two seeded random virtual cameras per take.
- ``bandai1-virtual``: Bandai dataset-1 (other motions, styles and a lab the lifter never trained on)
  filmed by four seeded random virtual cameras per clip.
Sources: ``gt`` (projected ground truth), ``sh`` (Stacked Hourglass, ``h36m`` only), ``mp`` (ground
truth with MediaPipe-shaped errors, seeded).
"""
from __future__ import annotations

from .bandai import load_bandai
from .h36m import MISSING_NOTE, TEST_SUBJECTS, Sequence, load_sequences, load_world_clips
from .virtual_cameras import EVAL_RANGES, virtual_sequences

SUITES = ("h36m", "h36m-virtual", "bandai1-virtual")
NOTES = {
    "h36m": MISSING_NOTE,
    "h36m-virtual": "S9 and S11, each take filmed by 2 seeded random virtual cameras. " + MISSING_NOTE,
    "bandai1-virtual": "Bandai dataset-1 (never trained on: 174 clips, 16 motions, 15 styles), each clip filmed "
                       "by 4 seeded random virtual cameras, 30 fps.",
}


def load_suite(name: str, h36m_data: str | None = None, bandai_data: str | None = None,
               subjects: tuple[str, ...] | list[str] | None = None) -> list[Sequence]:
    """The sequences of suite ``name`` (``subjects`` replaces S9 and S11 in the Human3.6M suites)."""
    subjects = subjects or TEST_SUBJECTS
    if name == "h36m":
        return load_sequences(subjects, h36m_data)
    if name == "h36m-virtual":
        return virtual_sequences(load_world_clips(subjects, h36m_data), "h36m-virtual", per_clip=2, ranges=EVAL_RANGES)
    if name == "bandai1-virtual":
        return virtual_sequences(load_bandai(1, bandai_data), "bandai1", per_clip=4, ranges=EVAL_RANGES)
    raise ValueError(f"unknown suite {name!r}: choose from {', '.join(SUITES)}.")
