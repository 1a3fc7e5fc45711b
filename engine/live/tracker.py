"""Stable identities for the people MediaPipe finds, frame to frame.

Each track remembers its person's last few boxes and 2D landmarks and how the box was moving. A
frame's people are matched to the tracks by one assignment (scipy's linear_sum_assignment) on a cost
that mixes how well each box overlaps the track's predicted box with how far the landmarks are from
the track's last ones, in units of the person's height: boxes tell people apart when they are far
from each other, landmarks when they overlap in a crossing. A track that finds nobody keeps its id
for ``max_misses`` frames, so a missed frame or a short occlusion does not hand the person's id to
someone else; after that it is dropped. Unmatched people start new tracks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from .keypoints import Keypoints, box_iou


@dataclass
class Sighting:
    box: np.ndarray  # (4,) x0, y0, x1, y1 pixels
    landmarks: np.ndarray  # (33, 2) pixels
    visibility: np.ndarray  # (33,)


@dataclass
class Track:
    id: int
    seen: list[Sighting]  # the last few sightings, newest last
    velocity: np.ndarray  # (4,) box pixels per frame, smoothed
    misses: int = 0  # frames since last seen

    def shift(self, max_frames: int) -> np.ndarray:
        """How far the box has moved since last seen, extrapolated for at most ``max_frames`` frames."""
        return self.velocity * min(self.misses + 1, max_frames)


class PersonTracker:
    """``update(people)`` -> the (track id, keypoints) of every person in this frame, by id.

    ``max_misses``: frames a person may be unseen and keep their id (1.5 s at 30 fps: MediaPipe
    loses people in fast, unusual poses, a jump for one); ``max_cost``: the loosest match accepted;
    ``memory``: sightings kept per track; ``coast_frames``: how many frames of a gap the box is
    carried on at its last speed. The distance a person may have moved grows with the time gone."""

    def __init__(self, max_misses: int = 45, max_cost: float = 0.9, memory: int = 4, coast_frames: int = 5):
        self.max_misses, self.max_cost, self.memory, self.coast_frames = max_misses, max_cost, memory, coast_frames
        self.reset()

    def reset(self) -> None:
        self.tracks: list[Track] = []
        self._next_id = 0

    def cost(self, track: Track, person: Keypoints) -> float:
        """0 for a perfect match, 1 and more for someone else; the best fit to any of the track's last
        sightings, so that one bad MediaPipe frame does not make the person a stranger. Landmarks are
        compared for a person seen in the last frame; after a gap their pose will have changed (a
        jump), so only where their box is."""
        shift = track.shift(self.coast_frames)
        box = person.box()
        reach = 1.0 + track.misses / 15.0
        costs = []
        for seen in track.seen:
            height = max(seen.box[3] - seen.box[1], 1.0)
            overlap = float(box_iou(seen.box + shift, box))
            both = np.minimum(seen.visibility, person.visibility) >= 0.3
            if track.misses == 0 and both.sum() >= 4:  # a person just seen: their pose has barely changed
                dist = np.linalg.norm(person.landmarks[both] - seen.landmarks[both] - shift[:2], axis=1).mean()
            else:
                dist = np.linalg.norm((box - seen.box - shift).reshape(2, 2).mean(0))
            costs.append(0.5 * (1.0 - overlap) + 0.5 * min(dist / (height * reach), 2.0))
        return min(costs)

    def update(self, people: list[Keypoints]) -> list[tuple[int, Keypoints]]:
        matched: dict[int, int] = {}  # person index -> track index
        if self.tracks and people:
            costs = np.array([[self.cost(t, p) for p in people] for t in self.tracks])
            for ti, pi in zip(*linear_sum_assignment(costs)):
                if costs[ti, pi] <= self.max_cost:
                    matched[pi] = ti
        out, known = [], len(self.tracks)
        for pi, person in enumerate(people):
            sighting = Sighting(person.box(), person.landmarks, person.visibility)
            if pi in matched:
                track = self.tracks[matched[pi]]
                step = (sighting.box - track.seen[-1].box) / (track.misses + 1)
                track.velocity = 0.5 * track.velocity + 0.5 * step
                track.seen = (track.seen + [sighting])[-self.memory:]
                track.misses = 0
            else:
                track = Track(self._next_id, [sighting], np.zeros(4))
                self._next_id += 1
                self.tracks.append(track)
            out.append((track.id, person))
        seen = set(matched.values())
        for ti in range(known):
            if ti not in seen:
                self.tracks[ti].misses += 1
        self.tracks = [t for t in self.tracks if t.misses <= self.max_misses]
        return sorted(out, key=lambda pair: pair[0])
