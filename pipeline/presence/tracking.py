"""Face tracks over the sampled frames: coarse full scans now and then, fine scans where the picture
changed in between, cheap re-detection around live tracks, and backfill of a new track into recent
samples.

A full scan at the scale that finds the smallest faces (40 px: the frame upscaled 2x) costs half a
second on a 1080p frame, so full scans (at shot cuts, every ``full_scan_every`` samples, or when most
of the picture moved) look only at a downscaled frame (long side ``coarse_long_side``: faces from
~160 px in a 1080p frame, 29 ms). Smaller faces are searched at full resolution only where one is
likely: where the picture changed since it was last searched (people move; a wall, a slide or a
seated class does not), apart from the faces already tracked and the bodies below them and from
what was searched finely in the last ``fine_cooldown`` samples, those searched longest ago first,
at most ``fine_budget_px`` scanned pixels at a time (the rest waits for the next scan). When most
of the picture moves (a handheld camera) a coarse scan and a rolling tile of that size searched
finely come every ``moving_full_every`` samples, so a far-away face is still found, later."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np

from pipeline.presence.candidates import CandidatePool
from pipeline.presence.changes import ChangeMap
from pipeline.presence.detection import Box, Detection, detect, scan_scale, suppress_overlaps
from pipeline.presence.liveness import StillnessMeter
from pipeline.presence.quality import encoding_quality, sharpness


@dataclass(frozen=True)
class TrackingConfig:
    min_face_px: float = 40.0  # smallest face searched for: sets the fine scan scale (80 px HOG window)
    full_scan_every: int = 30  # samples between full-frame scans (a safety net; changes trigger scans)
    changed_scan_every: int = 2  # samples between fine scans of the regions that changed (<= backfill)
    coarse_long_side: int = 960  # full scans look at the frame downscaled to this long side (or less)
    fine_budget_px: int = 500_000  # scanned (upscaled) pixels of changed regions per scan, at most
    body_below: float = 2.0  # face heights below a tracked face left out of the fine search (its body)
    fine_cooldown: int = 4  # samples before a finely searched region is searched again (<= backfill)
    moving_full_every: int = 4  # while most of the picture moves: samples between coarse scans (+ a tile)
    roi_face_px: float = 100.0  # live tracks are re-detected on a crop rescaled to this face width
    roi_margin_x: float = 1.5  # the re-detection crop reaches this many face widths left and right
    roi_margin_y: float = 0.8
    max_link_distance: float = 2.0  # face widths a face may move between samples and stay one track
    birth_score: float = 0.0  # HOG margin needed to start a track (dlib's own threshold)
    keep_score: float = -0.4  # weaker detections only continue an existing track
    max_misses: int = 1  # samples a track may go undetected before it ends
    backfill_samples: int = 4  # a new track is followed back this many samples
    pool_capacity: int = 8  # faces kept per track as encoding candidates


@dataclass(frozen=True)
class Observation:
    t: float
    box: Box
    score: float


@dataclass
class Track:
    id: int
    observations: list[Observation] = field(default_factory=list)
    stillness: StillnessMeter = field(default_factory=StillnessMeter)
    pool: CandidatePool = field(default_factory=CandidatePool)
    misses: int = 0

    @property
    def start(self) -> float:
        return self.observations[0].t

    @property
    def last_t(self) -> float:
        return self.observations[-1].t

    @property
    def last_box(self) -> Box:
        return self.observations[-1].box

    @property
    def face_px(self) -> float:
        """Median face width over the track."""
        return float(np.median([o.box.w for o in self.observations]))


@dataclass
class ScanCounts:
    full: int = 0  # whole-frame scans (coarse, but fine when crowded)
    regions: int = 0  # fine scans of changed regions (or parts of them)
    tiles: int = 0  # fine scans of a rolling tile while most of the picture moves
    reacquire: int = 0  # re-detections around live tracks
    carried: int = 0  # live tracks whose surroundings did not change: kept without detection
    backfill: int = 0  # re-detections in past samples for new tracks


@dataclass
class _Past:
    t: float
    gray: np.ndarray
    boxes: list[Box]


class FaceTracker:
    """Feed sampled frames in order with ``update``; closed tracks come back as they end."""

    def __init__(self, config: TrackingConfig | None = None) -> None:
        self.config = config or TrackingConfig()
        self.counts = ScanCounts()
        self._scale = scan_scale(self.config.min_face_px)
        self._tile = 0
        self._changes = ChangeMap()
        self._live: list[Track] = []
        self._past: deque[_Past] = deque(maxlen=self.config.backfill_samples)
        self._next_id = 1
        self._since_full = 0
        self._since_changed = 0

    def update(self, t: float, image: np.ndarray) -> list[Track]:
        """Process one sampled BGR frame at time ``t``; returns the tracks that ended before it."""
        cfg = self.config
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        h, w = gray.shape
        closed: list[Track] = []
        if self._changes.update(gray):
            closed, self._live = self._live, []
            self._past.clear()
            self._since_full = cfg.full_scan_every
        found: list[Detection] = []
        rois: list[Box] = []
        pending: list[tuple[Box, float]] = []
        for track in self._live:
            roi = track.last_box.expand(cfg.roi_margin_x, cfg.roi_margin_y, w, h)
            rois.append(roi)
            if track.misses == 0 and self._changes.unchanged_since_previous(roi):
                last = track.observations[-1]
                found.append(Detection(last.box, last.score))
                self.counts.carried += 1
            else:
                pending.append((roi, cfg.roi_face_px / track.last_box.w))
        # Many faces (a class facing the camera): one full scan costs less than a crop per face.
        crowded = sum(r.w * r.h * s * s for r, s in pending) > w * h * self._scale**2
        if not crowded:
            for roi, scale in pending:
                found += detect(gray, scale, roi, cfg.keep_score)
                self.counts.reacquire += 1
        people = [_person(tr.last_box, cfg.body_below, w, h) for tr in self._live]
        found += self._scan(gray, people, force_full=crowded)
        found = suppress_overlaps(found)
        closed += self._associate(t, image, gray, found)
        self._past.append(_Past(t, gray, [tr.last_box for tr in self._live if tr.last_t == t]))
        return closed

    def close_all(self) -> list[Track]:
        """End every live track (the video is over)."""
        closed, self._live = self._live, []
        return closed

    def _scan(self, gray: np.ndarray, tracked: list[Box], force_full: bool) -> list[Detection]:
        """A full scan when due (coarse) or forced (fine: many faces), else fine scans of the regions
        that changed, if due, outside ``tracked`` (live faces and their bodies)."""
        cfg = self.config
        self._since_full += 1
        self._since_changed += 1
        if force_full or self._since_full >= cfg.full_scan_every:
            return self._full(gray, fine=force_full)
        if self._since_changed < cfg.changed_scan_every:
            return []
        self._since_changed = 0
        margin = max(1.5 * cfg.min_face_px, 48.0)
        regions = self._changes.changed_regions(tracked, margin, cfg.fine_cooldown)
        if regions is None:  # most of the picture changed: the camera moves
            if self._since_full < cfg.moving_full_every:
                return []
            return self._full(gray, fine=False) + self._fine(gray, [self._next_tile(gray.shape)])
        return self._fine(gray, regions)

    def _full(self, gray: np.ndarray, fine: bool) -> list[Detection]:
        """The whole frame at the fine scale, or downscaled to ``coarse_long_side``."""
        cfg = self.config
        self._since_full = self._since_changed = 0
        self._changes.mark_scanned()
        self.counts.full += 1
        scale = self._scale if fine else min(self._scale, cfg.coarse_long_side / max(gray.shape))
        # Weak detections may still continue live tracks; only strong ones start new tracks.
        return detect(gray, scale, None, cfg.keep_score if self._live else cfg.birth_score)

    def _fine(self, gray: np.ndarray, regions: list[Box]) -> list[Detection]:
        """Fine scans of ``regions``, those searched longest ago first (then the smallest), within
        ``fine_budget_px``; a region too large for what is left is scanned in part (the rest stays
        changed, for the next scan)."""
        budget = self.config.fine_budget_px / self._scale**2  # in frame pixels
        found: list[Detection] = []
        for region in sorted(regions, key=lambda r: (self._changes.last_searched(r), r.w * r.h)):
            if budget <= 0:
                break
            part = _first_rows(region, budget)
            found += detect(gray, self._scale, part, self.config.birth_score)
            self._changes.mark_scanned(part)
            self.counts.regions += 1
            budget -= part.w * part.h
        return found

    def _next_tile(self, shape: tuple[int, ...]) -> Box:
        """The next of the frame's tiles of ``fine_budget_px`` (scanned), in turn (rows of bands)."""
        h, w = shape[:2]
        side = max(4 * self.config.min_face_px, (self.config.fine_budget_px / self._scale**2) ** 0.5)
        cols, rows = max(1, math.ceil(w / side)), max(1, math.ceil(h / side))
        k = self._tile % (cols * rows)
        self._tile += 1
        self.counts.tiles += 1
        tw, th = w / cols, h / rows
        pad = self.config.min_face_px  # tiles overlap by a face width: no face falls between two
        x0, y0 = (k % cols) * tw, (k // cols) * th
        x1, y1 = min(float(w), x0 + tw + pad), min(float(h), y0 + th + pad)
        return Box(max(0.0, x0 - pad), max(0.0, y0 - pad), x1, y1)

    def _associate(
        self, t: float, image: np.ndarray, gray: np.ndarray, found: list[Detection]
    ) -> list[Track]:
        cfg = self.config
        pairs = sorted(
            (cost, ti, di)
            for ti, track in enumerate(self._live)
            for di, det in enumerate(found)
            if (cost := _link_cost(track.last_box, det.box, cfg.max_link_distance)) is not None
        )
        used_tracks: set[int] = set()
        used_dets: set[int] = set()
        for _, ti, di in pairs:
            if ti in used_tracks or di in used_dets:
                continue
            used_tracks.add(ti)
            used_dets.add(di)
            self._observe(self._live[ti], t, image, gray, found[di])
        closed: list[Track] = []
        live: list[Track] = []
        for ti, track in enumerate(self._live):
            if ti not in used_tracks:
                track.misses += 1
                if track.misses > cfg.max_misses:
                    closed.append(track)
                    continue
            live.append(track)
        for di, det in enumerate(found):
            if di not in used_dets and det.score >= cfg.birth_score:
                track = Track(self._next_id, pool=CandidatePool(cfg.pool_capacity))
                self._next_id += 1
                self._observe(track, t, image, gray, det)
                self._backfill(track)
                live.append(track)
        self._live = live
        return closed

    def _observe(self, track: Track, t: float, image: np.ndarray, gray: np.ndarray, det: Detection) -> None:
        track.observations.append(Observation(t, det.box, det.score))
        track.misses = 0
        track.stillness.add(t, gray, det.box)
        quality = encoding_quality(det.box.w, det.score, sharpness(gray, det.box))
        if track.pool.wants(t, quality):
            track.pool.add(t, quality, image, det.box)

    def _backfill(self, track: Track) -> None:
        """Follow a newly found face back through the recent samples it was not yet found in."""
        cfg = self.config
        box = track.observations[0].box
        for past in reversed(self._past):
            if any(b.iou(box) > 0.3 for b in past.boxes):
                break
            h, w = past.gray.shape
            roi = box.expand(cfg.roi_margin_x, cfg.roi_margin_y, w, h)
            self.counts.backfill += 1
            linked = [
                (cost, d)
                for d in detect(past.gray, cfg.roi_face_px / box.w, roi, cfg.keep_score)
                if (cost := _link_cost(box, d.box, cfg.max_link_distance)) is not None
            ]
            if not linked:
                break
            det = min(linked, key=lambda x: x[0])[1]
            track.observations.insert(0, Observation(past.t, det.box, det.score))
            track.stillness.add(past.t, past.gray, det.box)
            past.boxes.append(det.box)
            box = det.box


def _person(face: Box, below: float, width: int, height: int) -> Box:
    """A tracked face and the body below it, shoulder-wide: no new face can be there (a small face
    beside it may: the re-detection around the face looks only for faces of about its size)."""
    return Box(
        max(0.0, face.cx - face.w),
        max(0.0, face.y0 - 0.3 * face.h),
        min(float(width), face.cx + face.w),
        min(float(height), face.y1 + below * face.h),
    )


def _first_rows(region: Box, area: float) -> Box:
    """The top of ``region`` covering at most ``area`` (all of it when it fits)."""
    if region.w * region.h <= area:
        return region
    return Box(region.x0, region.y0, region.x1, region.y0 + max(1.0, area / max(region.w, 1.0)))


def _link_cost(prev: Box, new: Box, max_distance: float) -> float | None:
    """How well ``new`` continues a face last seen at ``prev`` (lower is better); None when it cannot."""
    ratio = new.w / max(prev.w, 1.0)
    if not 0.6 <= ratio <= 1.0 / 0.6:
        return None
    distance = math.hypot(new.cx - prev.cx, new.cy - prev.cy) / max(prev.w, 1.0)
    if distance > max_distance:
        return None
    return distance - prev.iou(new) + abs(math.log(ratio))
