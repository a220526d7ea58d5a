"""Face tracks over the sampled frames: full scans now and then, scans of changed regions in
between, cheap re-detection around live tracks, and backfill of a new track into recent samples."""

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
    min_face_px: float = 40.0  # smallest face searched for: sets the scan scale (80 px HOG window)
    full_scan_every: int = 30  # samples between full-frame scans (a safety net; changes trigger scans)
    changed_scan_every: int = 2  # samples between scans of the regions that changed
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
    full: int = 0  # whole-frame scans
    regions: int = 0  # scans of changed regions
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
        found += self._scan(gray, rois, force_full=crowded)
        found = suppress_overlaps(found)
        closed += self._associate(t, image, gray, found)
        self._past.append(_Past(t, gray, [tr.last_box for tr in self._live if tr.last_t == t]))
        return closed

    def close_all(self) -> list[Track]:
        """End every live track (the video is over)."""
        closed, self._live = self._live, []
        return closed

    def _scan(self, gray: np.ndarray, rois: list[Box], force_full: bool) -> list[Detection]:
        """A full scan when due (or forced), else scans of the regions that changed, if due."""
        cfg = self.config
        self._since_full += 1
        self._since_changed += 1
        regions: list[Box] | None = []
        if force_full or self._since_full >= cfg.full_scan_every:
            regions = None
        elif self._since_changed >= cfg.changed_scan_every:
            self._since_changed = 0
            margin = max(1.5 * cfg.min_face_px, 48.0)
            regions = self._changes.changed_regions(exclude=rois, margin_px=margin)
        if regions is None:
            self._since_full = self._since_changed = 0
            self._changes.mark_scanned()
            self.counts.full += 1
            # Weak detections may still continue live tracks; only strong ones start new tracks.
            return detect(gray, self._scale, None, cfg.keep_score if self._live else cfg.birth_score)
        found: list[Detection] = []
        for region in regions:
            found += detect(gray, self._scale, region, cfg.birth_score)
            self._changes.mark_scanned(region)
            self.counts.regions += 1
        return found

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


def _link_cost(prev: Box, new: Box, max_distance: float) -> float | None:
    """How well ``new`` continues a face last seen at ``prev`` (lower is better); None when it cannot."""
    ratio = new.w / max(prev.w, 1.0)
    if not 0.6 <= ratio <= 1.0 / 0.6:
        return None
    distance = math.hypot(new.cx - prev.cx, new.cy - prev.cy) / max(prev.w, 1.0)
    if distance > max_distance:
        return None
    return distance - prev.iou(new) + abs(math.log(ratio))
