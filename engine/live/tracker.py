"""Stable identities for the people MediaPipe finds, frame to frame.

Each track remembers its person's last few boxes and 2D landmarks and how the box was moving. A
frame's people are matched to the tracks by one assignment (scipy's linear_sum_assignment) on a cost
that mixes how well each box overlaps the track's predicted box with how far the landmarks are from
the track's last ones, in units of the person's height: boxes tell people apart when they are far
from each other, landmarks when they overlap in a crossing. A track that finds nobody keeps its id
for ``max_misses_s`` seconds, so a missed frame or a short occlusion does not hand the person's id to
someone else; after that it is dropped, but remembered for ``remember_s``. Someone found who
matches no track is first compared with the people missed (a track unseen in the last frame or
longer, or remembered): when they are plausibly the same (about the size they typically had in the
picture lately, and no farther from where that person was last seen than one could have gone in the
time), they get that person's id back; a person MediaPipe loses in a jump, or who walks out of the
picture and back, stays one person. Everyone else starts a new track.

MediaPipe now and then loses a person's body for a few frames and reports, with full confidence, a
skeleton squeezed into part of it (a walker's legs taken for her whole body). A sighting whose size in
the picture (the span of its landmarks, or its trunk: shoulders' to hips' midpoints) is more than
``glitch_ratio`` times larger or smaller than in the person's last sightings, when they have been seen
in every frame of the last ``steady_s`` seconds, is such a glitch: a body does not grow or shrink that much
from one frame to the next (a trunk bent towards the camera shortens over a few frames, not one). The
person keeps their id and is missed in that frame; after ``max_glitches_s`` of such frames in a row the
new size is taken as real (a cut in an edited video, a zoom). A person just found, or found again after
MediaPipe lost them (in a backflip, whose landing changes the body's size from frame to frame), is
taken as they come.

A small person MediaPipe loses is sometimes reported as a garbled skeleton beside them, of about their
size, for a few frames (the demo clip's man at 40 % of its size). A sighting whose box centre leaped
further from where the person was heading than anyone moves in a frame (``leap_per_s`` body heights
per second, a sprint being about 6; in a thirtieth of a second at higher frame rates, as MediaPipe's
scatter does not shrink with the time between frames), once they have been seen in every frame of
the last ``leap_steady_s``, is a glitch too; in a run of glitches, a sighting nearer the last such
leap than the person's last place continues the run.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from ...models.skeletons import MEDIAPIPE
from .keypoints import ASSUMED_FRAME_RATE, Keypoints, box_centre, box_iou


@dataclass
class Sighting:
    box: np.ndarray  # (4,) x0, y0, x1, y1 pixels
    landmarks: np.ndarray  # (33, 2) pixels
    visibility: np.ndarray  # (33,)
    sizes: np.ndarray  # (2,) pixels: :func:`body_sizes`, measured once


@dataclass
class Track:
    id: int
    seen: list[Sighting]  # the last few sightings, newest last
    velocity: np.ndarray  # (4,) box pixels per frame, smoothed
    misses: int = 0  # frames since last seen
    sightings: int = 1  # frames seen in all
    glitches: int = 0  # sightings in a row left out as implausible (see the module docstring)
    steady: int = 1  # sightings taken in a row since MediaPipe last missed the person
    leap_box: np.ndarray | None = None  # (4,) the last sighting left out for a leap, in this run of glitches
    heights: list[float] = field(default_factory=list)  # box heights (px) of the last second's sightings

    def height(self) -> float:
        """How tall the person typically looks lately (px): the median of the last second's boxes, so that
        a few garbled last sightings (MediaPipe losing someone in a jump) do not make them another size."""
        return max(float(np.median(self.heights)), 1.0)

    def shift(self, max_frames: int) -> np.ndarray:
        """How far the box has moved since last seen, extrapolated for at most ``max_frames`` frames."""
        return self.velocity * min(self.misses + 1, max_frames)


_SHOULDERS = [MEDIAPIPE.index("left_shoulder"), MEDIAPIPE.index("right_shoulder")]
_HIPS = [MEDIAPIPE.index("left_hip"), MEDIAPIPE.index("right_hip")]


def came_back_in(last: np.ndarray, box: np.ndarray, frame_size: tuple[int, int] | None) -> bool:
    """Whether a person last seen in box ``last`` (x0, y0, x1, y1 px) may be back in ``box``: anywhere,
    unless ``last`` reached out of the picture of ``frame_size`` (w, h), whence they come back through
    the edge they left by, within one of their body heights of it (found mid-picture, it is someone
    else: a false detection a second after the demo clip's walker left was given her id)."""
    if frame_size is None:
        return True
    w, h = frame_size
    beyond = np.array([-last[0], -last[1], last[2] - w, last[3] - h])  # past the left, top, right, bottom edge
    inside = np.array([box[0], box[1], w - box[2], h - box[3]])
    return bool(beyond.max() < 0 or inside[beyond.argmax()] <= box[3] - box[1])


def assignment(costs: np.ndarray) -> list[tuple[int, int]]:
    """(row, column) pairs of one assignment of least total cost (``linear_sum_assignment``); an
    infinite cost, an implausible pair, is never preferred to a finite one."""
    return list(zip(*linear_sum_assignment(np.where(np.isfinite(costs), costs, 1e9))))


def body_sizes(landmarks: np.ndarray) -> np.ndarray:
    """A MediaPipe sighting's size in the picture (pixels): the diagonal of the box around all its
    landmarks, and its trunk's length."""
    trunk = np.linalg.norm(landmarks[_SHOULDERS].mean(0) - landmarks[_HIPS].mean(0))
    return np.array([np.hypot(*(landmarks.max(0) - landmarks.min(0))), trunk])


class PersonTracker:
    """``update(people)`` -> the (track id, keypoints) of every person in this frame, by id.

    Times are in seconds, counted in frames at ``frame_rate`` (the pipeline sets it once the frames'
    timestamps tell it), so a 120 fps video is tracked as a 30 fps one. ``max_misses_s``: how long a
    person may be unseen and keep their id (MediaPipe loses people in fast, unusual poses, a jump for
    one); ``max_cost``: the loosest match accepted; ``memory_s``: how far back a track keeps its
    sightings (4 at 30 fps: at 120 fps, 4 sightings would be the same moment, and a person MediaPipe
    finds only in part for a few frames would then be known only by those parts);
    ``coast_frames``: how many frames of a gap the box is carried on at its last speed (frames, not
    time: that speed is a frame-to-frame estimate, the noisier the higher the frame rate; carried on
    for twice as many frames at 60 fps, it cost one more identity switch on Pose2Sim's cam03).
    ``reach_per_s``: body heights one may move per second gone (a run, a jump down), beyond one, for a track
    missed a while as for a person come back. Re-identification (see the module docstring):
    ``remember_s`` how long a dropped track is kept for it, ``min_sightings_s`` how long a track must
    have been seen to be given back (a false detection is not), ``size_ratio`` how much larger or
    smaller one may look on return. Glitches (see the module docstring): ``glitch_ratio`` the change
    in size from the last sightings that marks one, ``max_glitches_s`` how long a run of them is left
    out, ``steady_s`` how long a person must have been seen without a miss for their size to be trusted;
    ``leap_per_s`` the move that marks one, ``leap_steady_s`` how long they must have been seen for
    their place to be."""

    def __init__(self, max_misses_s: float = 1.5, max_cost: float = 0.9, memory_s: float = 2 / 15, coast_frames: int = 5,
                 lost_after_s: float = 1 / 6, remember_s: float = 10.0, min_sightings_s: float = 1.0,
                 reach_per_s: float = 3.0, size_ratio: float = 2.0, glitch_ratio: float = 1.5,
                 max_glitches_s: float = 1 / 3, steady_s: float = 1.0, leap_per_s: float = 12.0,
                 leap_steady_s: float = 1 / 3, frame_rate: float = ASSUMED_FRAME_RATE):
        self.max_misses_s, self.max_cost, self.memory_s, self.coast_frames = max_misses_s, max_cost, memory_s, coast_frames
        self.lost_after_s, self.remember_s, self.min_sightings_s = lost_after_s, remember_s, min_sightings_s
        self.reach_per_s, self.size_ratio = reach_per_s, size_ratio
        self.glitch_ratio, self.max_glitches_s, self.steady_s = glitch_ratio, max_glitches_s, steady_s
        self.leap_per_s, self.leap_steady_s = leap_per_s, leap_steady_s
        self.frame_rate = frame_rate
        self.reset()

    def frames(self, seconds: float) -> int:
        """``seconds`` as a number of frames at the tracker's frame rate (at least one)."""
        return max(1, round(seconds * self.frame_rate))

    def reset(self) -> None:
        self.tracks: list[Track] = []
        self.departed: list[Track] = []  # dropped tracks remembered for re-identification
        self._next_id = 0

    def return_cost(self, track: Track, person: Keypoints, frame_size: tuple[int, int] | None = None) -> float:
        """Below 1 when ``person`` may be ``track``'s person come back after ``track.misses`` frames: their
        size in the picture and how far they are from where the track was last seen, against how far
        one could have gone meanwhile (in body heights); infinite when implausible. Their size is their
        typical one lately (:meth:`Track.height`). Someone last seen reaching out of the picture
        (``frame_size``, when given) comes back through the edge they left by (:func:`came_back_in`)."""
        last, box = track.seen[-1].box, person.box()
        h_last, h_now = track.height(), max(box[3] - box[1], 1.0)
        if not came_back_in(last, box, frame_size):
            return np.inf
        size = abs(np.log(h_now / h_last)) / np.log(self.size_ratio)
        reach = 1.0 + self.reach_per_s * track.misses / self.frame_rate
        dist = np.linalg.norm(box_centre(box - last)) / max(h_last, h_now) / reach
        if size >= 1.0 or dist >= 1.0:
            return np.inf
        return 0.5 * size + 0.5 * dist

    def cost(self, track: Track, person: Keypoints, frame_size: tuple[int, int] | None = None) -> float:
        """0 for a perfect match, 1 and more for someone else; the best fit to any of the track's last
        sightings, so that one bad MediaPipe frame does not make the person a stranger. Landmarks are
        compared for a person seen in the last frame; after a gap their pose will have changed (a
        jump), so only where their box is, and someone lost a while who had reached out of the picture
        (``frame_size``, when given) comes back through its edge, as in :meth:`return_cost`."""
        shift = track.shift(self.coast_frames)
        box = person.box()
        if track.misses >= self.frames(self.lost_after_s) and not came_back_in(track.seen[-1].box, box, frame_size):
            return np.inf
        reach = 1.0 + self.reach_per_s * track.misses / self.frame_rate
        # Right after a short miss, in units of the larger of the two heights: sightings MediaPipe squeezed
        # into part of the body (in a jump) make the person look small, and everything far from them, until
        # they are found whole again. After a longer gap ``reach`` grows instead.
        whole = box[3] - box[1] if track.misses < self.frames(self.lost_after_s) else 0.0
        costs = []
        for seen in track.seen:
            height = max(seen.box[3] - seen.box[1], whole, 1.0)
            overlap = float(box_iou(seen.box + shift, box))
            both = np.minimum(seen.visibility, person.visibility) >= 0.3
            if track.misses == 0 and both.sum() >= 4:  # a person just seen: their pose has barely changed
                dist = np.linalg.norm(person.landmarks[both] - seen.landmarks[both] - shift[:2], axis=1).mean()
            else:
                dist = np.linalg.norm(box_centre(box - seen.box - shift))
            costs.append(0.5 * (1.0 - overlap) + 0.5 * min(dist / (height * reach), 2.0))
        return min(costs)

    def update(self, people: list[Keypoints], frame_size: tuple[int, int] | None = None) -> list[tuple[int, Keypoints]]:
        """Each of ``people`` (seen in a picture of ``frame_size`` pixels, when given) with their id."""
        matched: dict[int, int] = {}  # person index -> track index
        glitched: set[int] = set()  # track indices whose sighting was left out as a glitch
        if self.tracks and people:
            costs = np.array([[self.cost(t, p, frame_size) for p in people] for t in self.tracks])
            for ti, pi in assignment(costs):
                if costs[ti, pi] <= self.max_cost:
                    matched[pi] = ti
        returned = self._returned(people, matched, frame_size)
        out, known = [], len(self.tracks)
        for pi, person in enumerate(people):
            sighting = Sighting(person.box(), person.landmarks, person.visibility, body_sizes(person.landmarks))
            if pi in matched:
                track = self.tracks[matched[pi]]
                glitch = self._glitch(track, sighting)
                if glitch:
                    track.glitches += 1
                    track.leap_box = sighting.box if glitch == "leap" else track.leap_box
                    glitched.add(matched.pop(pi))  # missed in this frame, below
                    continue
                step = (sighting.box - track.seen[-1].box) / (track.misses + 1)
                track.velocity = 0.5 * track.velocity + 0.5 * step
                restart = track.glitches >= self.frames(self.max_glitches_s)  # the new size is real: start from it
                track.seen = [sighting] if restart else (track.seen + [sighting])[-self.frames(self.memory_s):]
                track.heights = self._heights([] if restart else track.heights, sighting)
                track.steady = 1 if restart else track.steady + 1
                track.glitches, track.leap_box = 0, None
                track.misses = 0
                track.sightings += 1
            elif pi in returned:
                track = returned[pi]
                track.seen, track.velocity, track.misses, track.steady, track.glitches = [sighting], np.zeros(4), 0, 1, 0
                track.heights = self._heights(track.heights, sighting)
                track.leap_box = None
                track.sightings += 1
                if all(t is not track for t in self.tracks):
                    self.tracks.append(track)
            else:
                track = Track(self._next_id, [sighting], np.zeros(4), heights=self._heights([], sighting))
                self._next_id += 1
                self.tracks.append(track)
            out.append((track.id, person))
        seen = set(matched.values()) | {ti for ti, t in enumerate(self.tracks[:known])
                                        if any(t is r for r in returned.values())}
        for ti in range(known):
            if ti not in seen:
                self.tracks[ti].misses += 1
                if ti not in glitched:
                    self.tracks[ti].steady = 0
        for t in self.departed:
            t.misses += 1
        max_misses = self.frames(self.max_misses_s)
        gone = [t for t in self.tracks if t.misses > max_misses]
        self.tracks = [t for t in self.tracks if t.misses <= max_misses]
        self.departed = [t for t in self.departed + gone if t.misses <= self.frames(self.remember_s)
                         and t.sightings >= self.frames(self.min_sightings_s)]
        return sorted(out, key=lambda pair: pair[0])

    def _heights(self, heights: list[float], sighting: Sighting) -> list[float]:
        """``heights`` with the box height of ``sighting``, the last second's (``steady_s``) kept."""
        return (heights + [float(sighting.box[3] - sighting.box[1])])[-self.frames(self.steady_s):]

    def _glitch(self, track: Track, sighting: Sighting) -> str | None:
        """Why ``sighting`` is one of MediaPipe's glitches (see the module docstring): "leap" or "size";
        None when it is not one."""
        if track.glitches >= self.frames(self.max_glitches_s):
            return None
        if track.steady >= self.frames(self.leap_steady_s) and self._leaped(track, sighting):
            return "leap"
        if track.steady < self.frames(self.steady_s):
            return None
        before = np.median([s.sizes for s in track.seen], axis=0)
        change = np.abs(np.log(np.maximum(sighting.sizes, 1.0) / np.maximum(before, 1.0)))
        return "size" if change.max() > np.log(self.glitch_ratio) else None

    def _leaped(self, track: Track, sighting: Sighting) -> bool:
        """Whether ``sighting`` is a garbled body beside the person (see the module docstring)."""
        here, last = box_centre(sighting.box), box_centre(track.seen[-1].box)
        if track.leap_box is not None:
            return bool(np.linalg.norm(here - box_centre(track.leap_box)) < np.linalg.norm(here - last))
        # in units of the larger height: a person seen squeezed, then whole again, grows about the feet
        height = max(float(np.median([s.box[3] - s.box[1] for s in track.seen])), sighting.box[3] - sighting.box[1], 1.0)
        # per frame, or per thirtieth of a second at higher rates: MediaPipe's scatter from frame to frame
        # does not shrink with the time between frames
        frame_s = 1.0 / min(self.frame_rate, ASSUMED_FRAME_RATE)
        return bool(np.linalg.norm(here - last - box_centre(track.velocity)) > self.leap_per_s * height * frame_s)

    def _returned(self, people: list[Keypoints], matched: dict[int, int],
                  frame_size: tuple[int, int] | None) -> dict[int, Track]:
        """The people not matched to a track who are someone lost a while ago come back: person index ->
        that person's track (taken out of the remembered ones)."""
        new = [pi for pi in range(len(people)) if pi not in matched]
        taken = set(matched.values())
        lost = [t for ti, t in enumerate(self.tracks) if ti not in taken and t.misses >= 1
                and t.sightings >= self.frames(self.min_sightings_s)] + self.departed
        if not new or not lost:
            return {}
        costs = np.array([[self.return_cost(t, people[pi], frame_size) for pi in new] for t in lost])
        found = {}
        for li, ni in assignment(costs):
            if np.isfinite(costs[li, ni]):
                found[new[ni]] = lost[li]
        self.departed = [t for t in self.departed if all(t is not f for f in found.values())]
        return found
