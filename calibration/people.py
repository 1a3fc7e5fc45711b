"""People across the views of a calibrated rig and over time: detections matched across views (left/right
swaps included), triangulated, and followed with ids that last."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy.optimize import linear_sum_assignment

from .camera import Camera
from .triangulation import (
    MIN_WEIGHT,
    Triangulated,
    person_size,
    triangulate,
)

TRACK_GATE = 0.25  # a detection continues a known person: median joint distance / person size
EPIPOLAR_GATE = 0.06  # two views' detections are one person: median epipolar distance / person size
# A matched view is dropped when its median joint reprojects further than this (/ person size): another
# person's detection is 0.3 or more off; a well calibrated view of the right one, 0.01-0.06.
VIEW_GATE = 0.12
REIDENTIFY_MM = 600.0  # a person lost and found again within this distance (median joint) keeps their id
# Two matches on disjoint views whose joints lie this close (median) are one person whose views the
# epipolar grouping left apart (one view's 2D a little off); distinct people stand 0.3 m or more apart.
SAME_PERSON_MM = 200.0


@dataclass
class Match:
    """One person seen in two or more views of a frame."""
    detections: np.ndarray  # (V,) int: the index of their detection in each view; -1 where not seen
    points: np.ndarray  # (J, 3) world mm, NaN where not triangulated
    error: np.ndarray  # (J,) pixels, see :class:`Triangulated`
    views: np.ndarray  # (V, J) bool
    flipped: np.ndarray  # (V,) bool: the view's detection has left and right swapped (used swapped back)
    previous: int | None  # which of ``previous`` this person continues; None for someone new


def _detections(points: Sequence[np.ndarray], visibility: Sequence[np.ndarray], V: int) -> list[tuple[np.ndarray, np.ndarray]]:
    if len(points) != V or len(visibility) != V:
        raise ValueError(f"give one entry of points and visibility per camera ({V}), not {len(points)} and {len(visibility)}.")
    out = []
    for p, s in zip(points, visibility):
        p = np.asarray(p, np.float64)
        p = p.reshape((-1,) + p.shape[-2:]) if p.size else p.reshape(0, 0, 2)
        out.append((p, np.asarray(s, np.float64).reshape(p.shape[:2])))
    return out


def _flip_index(flip: Sequence[int] | None, dets) -> np.ndarray | None:
    J = next((p.shape[1] for p, _ in dets if len(p)), None)
    if flip is None or J is None:
        return None
    flip = np.asarray(flip, int)
    if len(flip) != J:
        raise ValueError(f"the left/right swap has {len(flip)} joints but the detections {J}: pass flip=None or "
                         f"your skeleton's flip index.")
    return flip


def _reprojection_cost(X: np.ndarray, uv: np.ndarray, vis: np.ndarray, camera: Camera) -> float:
    """Median pixel distance between a person's 3D joints X (J, 3) seen by ``camera`` and a detection, over
    its person size; inf with fewer than 4 joints to compare."""
    seen = (vis >= MIN_WEIGHT) & np.isfinite(uv).all(-1)
    with np.errstate(invalid="ignore"):
        xc = camera.world_to_camera(X)
        both = seen & np.isfinite(xc).all(-1) & (xc[:, 2] > 0)
    if both.sum() < 4:
        return np.inf
    d = np.linalg.norm(camera.project(xc[both]) - uv[both], axis=-1)
    return float(np.median(d) / max(person_size(uv, seen), 1.0))


def _epipolar_cost(a: tuple[np.ndarray, np.ndarray, Camera], b: tuple[np.ndarray, np.ndarray, Camera]) -> float:
    """Median symmetric epipolar distance (pixels) between two views' detections, over the person's mean
    size in them; inf with fewer than 6 joints both see."""
    (uva, visa, ca), (uvb, visb, cb) = a, b
    both = (visa >= MIN_WEIGHT) & (visb >= MIN_WEIGHT) & np.isfinite(uva).all(-1) & np.isfinite(uvb).all(-1)
    if both.sum() < 6:
        return np.inf
    Ra, Rb = np.asarray(ca.R), np.asarray(cb.R)
    R = Rb @ Ra.T
    t = Rb @ (np.asarray(ca.T) - np.asarray(cb.T))
    E = np.array([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]]) @ R
    xa = np.column_stack([ca.rays(uva[both]), np.ones(both.sum())])
    xb = np.column_stack([cb.rays(uvb[both]), np.ones(both.sum())])
    la, lb = xb @ E, xa @ E.T  # epipolar lines in a and in b
    alg = np.einsum("ni,ni->n", xb, lb)
    d = 0.5 * (np.abs(alg) / np.linalg.norm(lb[:, :2], axis=1) * cb.focal
               + np.abs(alg) / np.linalg.norm(la[:, :2], axis=1) * ca.focal)
    size = 0.5 * (person_size(uva, visa >= MIN_WEIGHT) + person_size(uvb, visb >= MIN_WEIGHT))
    return float(np.median(d) / max(size, 1.0))


def _view(dets, cameras: Sequence[Camera], v: int, d: int, flip: np.ndarray | None = None):
    uv, vis = dets[v][0][d], dets[v][1][d]
    return (uv, vis, cameras[v]) if flip is None else (uv[flip], vis[flip], cameras[v])


def _epipolar_groups(nodes: list[tuple[int, int]], dets, cameras: Sequence[Camera],
                     flip: np.ndarray | None) -> list[list[tuple[int, int]]]:
    """Detections (view, index) grouped into people, at most one per view: the closest pairs first, two
    groups joined when all their cross pairs are within ``EPIPOLAR_GATE`` (either way round left/right)."""
    n = len(nodes)
    cost = np.full((n, n), np.inf)
    for i, j in combinations(range(n), 2):
        (va, da), (vb, db) = nodes[i], nodes[j]
        if va != vb:
            a = _view(dets, cameras, va, da)
            cost[i, j] = cost[j, i] = min(_epipolar_cost(a, _view(dets, cameras, vb, db)),
                                          np.inf if flip is None else _epipolar_cost(a, _view(dets, cameras, vb, db, flip)))
    group = list(range(n))
    members = {i: [i] for i in range(n)}
    for k in np.argsort(cost, axis=None):
        i, j = divmod(int(k), n)
        if not cost[i, j] < EPIPOLAR_GATE:
            break
        gi, gj = group[i], group[j]
        if gi == gj or {nodes[m][0] for m in members[gi]} & {nodes[m][0] for m in members[gj]}:
            continue
        if (cost[np.ix_(members[gi], members[gj])] < EPIPOLAR_GATE).all():
            for m in members.pop(gj):
                group[m] = gi
                members[gi].append(m)
    return [[nodes[m] for m in ms] for ms in members.values() if len(ms) >= 2]


def _orientation(detections: np.ndarray, dets, cameras: Sequence[Camera], flip: np.ndarray | None) -> np.ndarray:
    """Which views' detections to swap left/right for a newcomer: each view as it agrees best (epipolar)
    with the view that sees the most of them, then whichever labelling most views gave."""
    flipped = np.zeros(len(detections), bool)
    views = np.flatnonzero(detections >= 0)
    if flip is None or len(views) < 2:
        return flipped
    anchor = max(views, key=lambda v: dets[v][1][detections[v]].sum())
    a = _view(dets, cameras, anchor, detections[anchor])
    for v in views:
        if v != anchor:
            d = detections[v]
            flipped[v] = _epipolar_cost(a, _view(dets, cameras, v, d, flip)) < _epipolar_cost(a, _view(dets, cameras, v, d))
    if 2 * flipped.sum() > len(views):
        flipped[views] = ~flipped[views]
    return flipped


def _triangulate_match(detections: np.ndarray, flipped: np.ndarray, dets, cameras: Sequence[Camera],
                       flip: np.ndarray | None) -> Triangulated | None:
    """Triangulate the detections chosen per view (-1: none), dropping views that disagree with the others."""
    V, J = len(cameras), next(p.shape[1] for p, _ in dets if len(p))
    uv = np.full((V, J, 2), np.nan)
    vis = np.zeros((V, J))
    for v, d in enumerate(detections):
        if d >= 0:
            uv[v], vis[v] = _view(dets, cameras, v, d, flip if flipped[v] else None)[:2]
    while (vis.max(1) > 0).sum() >= 2:
        tri = triangulate(uv, vis, cameras)
        if np.isfinite(tri.points).all(-1).sum() < 4:
            return None
        err = tri.view_errors
        seen = vis >= MIN_WEIGHT
        off = np.array([np.nanmedian(np.where(seen[v], err[v], np.nan)) / max(person_size(uv[v], seen[v]), 1.0)
                        if seen[v].any() else -np.inf for v in range(V)])
        worst = int(np.argmax(np.nan_to_num(off, nan=np.inf)))
        if not off[worst] > VIEW_GATE:
            return tri
        uv[worst], vis[worst] = np.nan, 0.0
    return None


def match_people(points: Sequence[np.ndarray], visibility: Sequence[np.ndarray], cameras: Sequence[Camera],
                 previous: Sequence[np.ndarray] = (), flip: Sequence[int] | None = None) -> list[Match]:
    """The people of one frame across its views, triangulated. ``points[v]`` (n_v, J, 2) pixels and
    ``visibility[v]`` (n_v, J) are the detections of camera v, in any order. ``previous`` are the world
    joints (J, 3) mm of people known from earlier frames: each view's detections go first to them
    (Hungarian on the reprojection distance, within ``TRACK_GATE`` of the person's size), and the rest are
    grouped by epipolar agreement. A view that disagrees with the others' triangulation is dropped; a
    person needs two views.

    ``flip``: the permutation swapping the skeleton's left and right joints (MediaPipe's ``flip_index``),
    or None to take every detection's labels as they come. With it, a detection may have left and right
    swapped (MediaPipe does, for people turning or seen from behind): a known person's views are labelled
    as their previous joints reproject best, a newcomer's as most views label them."""
    V = len(cameras)
    dets = _detections(points, visibility, V)
    flip = _flip_index(flip, dets)
    assigned = np.full((len(previous), V), -1)
    turned = np.zeros((len(previous), V), bool)
    for v, (uv, vis) in enumerate(dets):
        if not len(previous) or not len(uv):
            continue
        cost = np.array([[[_reprojection_cost(np.asarray(X, np.float64), *_view(dets, cameras, v, d, f)[:2], cameras[v])
                           for f in ((None,) if flip is None else (None, flip))] for d in range(len(uv))]
                         for X in previous])
        best = cost.min(-1)
        rows, cols = linear_sum_assignment(np.where(np.isfinite(best), best, 1e6))
        for t, d in zip(rows, cols):
            if best[t, d] < TRACK_GATE:
                assigned[t, v], turned[t, v] = d, cost[t, d].argmin() == 1
    taken = {(v, d) for t in range(len(previous)) for v, d in enumerate(assigned[t]) if d >= 0}
    free = [(v, d) for v in range(V) for d in range(len(dets[v][0])) if (v, d) not in taken]
    candidates: list[tuple[np.ndarray, np.ndarray, int | None]] = [(assigned[t], turned[t], t) for t in range(len(previous))]
    for group in _epipolar_groups(free, dets, cameras, flip):
        chosen = np.full(V, -1)
        for v, d in group:
            chosen[v] = d
        candidates.append((chosen, _orientation(chosen, dets, cameras, flip), None))
    matches = []
    for chosen, flipped, t in candidates:
        match = _triangulated(chosen, flipped, t, dets, cameras, flip) if (chosen >= 0).sum() >= 2 else None
        if match is not None:
            matches.append(match)
    return _joined(matches, dets, cameras, flip)


def _triangulated(chosen: np.ndarray, flipped: np.ndarray, previous: int | None, dets, cameras: Sequence[Camera],
                  flip: np.ndarray | None) -> Match | None:
    tri = _triangulate_match(chosen, flipped, dets, cameras, flip)
    if tri is None:
        return None
    kept = tri.views.any(1)
    return Match(np.where(kept, chosen, -1), tri.points, tri.error, tri.views, flipped & kept, previous)


def _joined(matches: list[Match], dets, cameras: Sequence[Camera], flip: np.ndarray | None) -> list[Match]:
    """``matches`` with any two that are one person made one: on disjoint views, their joints within
    ``SAME_PERSON_MM`` (median, either way round left/right), and triangulated together each keeping a
    view. The one made continues the earlier known person of the two."""
    for a, b in combinations(range(len(matches)), 2):
        one, other = matches[a], matches[b]
        if ((one.detections >= 0) & (other.detections >= 0)).any():
            continue
        turned = flip is not None and _median_distance(one.points, other.points[flip]) < _median_distance(one.points, other.points)
        if not _median_distance(one.points, other.points[flip] if turned else other.points) < SAME_PERSON_MM:
            continue
        previous = min((t for t in (one.previous, other.previous) if t is not None), default=None)
        both = _triangulated(np.maximum(one.detections, other.detections),
                             np.where(one.detections >= 0, one.flipped, other.flipped ^ turned), previous, dets, cameras, flip)
        if both is not None and all(((m.detections >= 0) & (both.detections >= 0)).any() for m in (one, other)):
            return _joined([both] + [m for k, m in enumerate(matches) if k not in (a, b)], dets, cameras, flip)
    return matches


def _median_distance(a: np.ndarray, b: np.ndarray) -> float:
    d = np.linalg.norm(a - b, axis=-1)
    d = d[np.isfinite(d)]
    return float(np.median(d)) if len(d) >= 4 else np.inf


class PeopleTracker:
    """People followed through a multi-view recording with ids that last: each frame's :func:`match_people`
    against those seen in the last ``memory`` frames; someone found anew near where a person was lost
    (within ``REIDENTIFY_MM``) takes up their id."""

    def __init__(self, cameras: Sequence[Camera], memory: int = 30, flip: Sequence[int] | None = None):
        self.cameras, self.memory, self.flip = list(cameras), memory, flip
        self._known: dict[int, tuple[np.ndarray, int]] = {}  # id -> (last world joints, frames since seen)
        self._next = 0

    def __call__(self, points: Sequence[np.ndarray], visibility: Sequence[np.ndarray]) -> dict[int, Match]:
        ids = list(self._known)
        matches = match_people(points, visibility, self.cameras, [self._known[i][0] for i in ids], self.flip)
        found = {ids[m.previous]: m for m in matches if m.previous is not None}
        new = [m for m in matches if m.previous is None]
        lost = [i for i in ids if i not in found]
        if new and lost:
            cost = np.array([[_median_distance(m.points, self._known[i][0]) for i in lost] for m in new])
            for r, c in zip(*linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e9))):
                if cost[r, c] < REIDENTIFY_MM:
                    found[lost[c]] = new[r]
        for m in new:
            if not any(m is f for f in found.values()):
                found[self._next] = m
                self._next += 1
        for i in list(self._known):
            if i not in found:
                last, age = self._known[i]
                if age + 1 > self.memory:
                    del self._known[i]
                else:
                    self._known[i] = (last, age + 1)
        for i, m in found.items():
            # Joints not triangulated this frame keep their last place (for the next frame's matching).
            self._known[i] = (m.points, 0) if i not in self._known else (
                np.where(np.isfinite(m.points), m.points, self._known[i][0]), 0)
        return dict(sorted(found.items()))


@dataclass
class Reference:
    """The people of a multi-view recording, triangulated frame by frame (P people, F frames, V views)."""
    ids: np.ndarray  # (P,) int
    points: np.ndarray  # (F, P, J, 3) world mm; NaN where not triangulated
    error: np.ndarray  # (F, P, J) pixels
    detections: np.ndarray  # (F, P, V) int: their detection in each view's frame, -1 where none
    flipped: np.ndarray  # (F, P, V) bool: that detection has left and right swapped
    views: np.ndarray  # (F, P, V, J) bool


def track_people(points: Sequence[Sequence[np.ndarray]], visibility: Sequence[Sequence[np.ndarray]],
                 cameras: Sequence[Camera], memory: int = 30,
                 flip: Sequence[int] | None = None) -> Reference:
    """:class:`PeopleTracker` over a recording: ``points[f][v]`` (n, J, 2) pixels and ``visibility[f][v]``
    (n, J) are frame f's detections in camera v."""
    tracker = PeopleTracker(cameras, memory, flip)
    frames = [tracker(p, s) for p, s in zip(points, visibility)]
    ids = np.array(sorted({i for f in frames for i in f}), dtype=int)
    V = len(cameras)
    J = next((m.points.shape[0] for f in frames for m in f.values()), 0)
    F, P = len(frames), len(ids)
    ref = Reference(ids, np.full((F, P, J, 3), np.nan), np.full((F, P, J), np.nan), np.full((F, P, V), -1),
                    np.zeros((F, P, V), bool), np.zeros((F, P, V, J), bool))
    for f, people in enumerate(frames):
        for i, m in people.items():
            p = int(np.searchsorted(ids, i))
            ref.points[f, p], ref.error[f, p], ref.detections[f, p] = m.points, m.error, m.detections
            ref.flipped[f, p], ref.views[f, p] = m.flipped, m.views
    return ref
