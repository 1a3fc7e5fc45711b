"""Stable identities for the people MediaPipe finds, frame to frame.

Each track remembers its person's last box, how that box was moving, and the last 2D landmarks. A
frame's people are matched to the tracks by one assignment (scipy's linear_sum_assignment) on a cost
that mixes how well each box overlaps the track's predicted box with how far the landmarks are from
the track's last ones, in units of the person's height: boxes tell people apart when they are far
from each other, landmarks when they overlap in a crossing. A track that finds nobody keeps its id
for ``max_misses`` frames, predicted on, so a missed frame or a short occlusion does not hand the
person's id to someone else; after that it is dropped. Unmatched people start new tracks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from .keypoints import Keypoints, box_iou


@dataclass
class Track:
    id: int
    box: np.ndarray  # (4,) x0, y0, x1, y1 pixels, where last seen
    velocity: np.ndarray  # (4,) pixels per frame, smoothed
    landmarks: np.ndarray  # (33, 2) last seen
    visibility: np.ndarray  # (33,)
    misses: int = 0  # frames since last seen
    hits: int = 1  # frames seen

    def predicted_box(self) -> np.ndarray:
        return self.box + self.velocity * (self.misses + 1)

    @property
    def height(self) -> float:
        return float(max(self.box[3] - self.box[1], 1.0))


class PersonTracker:
    """``update(people)`` -> the (track id, keypoints) of every person in this frame."""

    def __init__(self, max_misses: int = 15, max_cost: float = 0.9):
        self.max_misses, self.max_cost = max_misses, max_cost
        self.reset()

    def reset(self) -> None:
        self.tracks: list[Track] = []
        self._next_id = 0

    def cost(self, track: Track, person: Keypoints) -> float:
        """0 for a perfect match; 1 and more for someone else."""
        overlap = float(box_iou(track.predicted_box(), person.box()))
        both = np.minimum(track.visibility, person.visibility) >= 0.3
        if both.sum() >= 4:
            shift = np.r_[track.predicted_box()[:2] - track.box[:2]]
            dist = np.linalg.norm(person.landmarks[both] - (track.landmarks[both] + shift), axis=1).mean()
        else:
            dist = np.linalg.norm((person.box() - track.predicted_box()).reshape(2, 2).mean(0))
        return 0.5 * (1.0 - overlap) + 0.5 * min(dist / track.height, 2.0)

    def update(self, people: list[Keypoints]) -> list[tuple[int, Keypoints]]:
        matched: dict[int, int] = {}  # person index -> track index
        if self.tracks and people:
            costs = np.array([[self.cost(t, p) for p in people] for t in self.tracks])
            for ti, pi in zip(*linear_sum_assignment(costs)):
                if costs[ti, pi] <= self.max_cost:
                    matched[pi] = ti
        out, known = [], len(self.tracks)
        for pi, person in enumerate(people):
            if pi in matched:
                track = self.tracks[matched[pi]]
                self._follow(track, person)
            else:
                track = Track(self._next_id, person.box(), np.zeros(4), person.landmarks, person.visibility)
                self._next_id += 1
                self.tracks.append(track)
            out.append((track.id, person))
        seen = set(matched.values())
        for ti in range(known):
            if ti not in seen:
                self.tracks[ti].misses += 1
        self.tracks = [t for t in self.tracks if t.misses <= self.max_misses]
        return sorted(out, key=lambda pair: pair[0])

    @staticmethod
    def _follow(track: Track, person: Keypoints) -> None:
        box = person.box()
        step = (box - track.box) / (track.misses + 1)
        track.velocity = 0.5 * track.velocity + 0.5 * step
        track.box, track.landmarks, track.visibility = box, person.landmarks, person.visibility
        track.misses, track.hits = 0, track.hits + 1
