"""Where the picture changed since it was last scanned for faces, and where the shot cuts.

A region that has not changed since a scan cannot hold a new face, so only changed regions are
scanned between the periodic full scans (static slides and screen recordings cost almost nothing).
A region searched finely is not searched again for a few samples however it changes (leaves in the
wind, a screen playing video): a face that enters it is found a few samples late and backfilled."""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.presence.detection import Box

THUMB_DIVISOR = 8  # change is measured on a 1/8-size grey thumbnail (160x90 for 720p)
PIXEL_THRESHOLD = 14  # grey levels of change that count (codec noise stays well below)
CUT_FRACTION = 0.55  # share of the thumbnail changed since the previous sample that makes a cut
CUT_PIXEL_THRESHOLD = 40
MIN_COMPONENT_PX = 3  # thumbnail pixels; smaller specks are noise
FULL_FRAME_FRACTION = 0.5  # when regions cover more than this, scan the whole frame instead


class ChangeMap:
    """Tracks the thumbnail of the last sample and the thumbnail as of the last scan."""

    def __init__(self) -> None:
        self._previous: np.ndarray | None = None
        self._scanned: np.ndarray | None = None
        self._current: np.ndarray | None = None
        self._frame_shape: tuple[int, int] = (0, 0)
        self._samples = 0
        self._searched_at: np.ndarray | None = None  # per thumbnail pixel: sample of its last fine search

    def update(self, gray: np.ndarray) -> bool:
        """Take a new sample; True when it starts a new shot (hard cut) or is the first one."""
        h, w = gray.shape[:2]
        size = (max(1, w // THUMB_DIVISOR), max(1, h // THUMB_DIVISOR))
        thumb = cv2.GaussianBlur(cv2.resize(gray, size, interpolation=cv2.INTER_AREA), (3, 3), 0)
        first = self._current is None or self._frame_shape != (h, w)
        self._previous, self._current, self._frame_shape = self._current, thumb, (h, w)
        self._samples += 1
        if first or self._previous is None:
            self._scanned = None
            self._searched_at = np.full(thumb.shape, -(2**30), np.int32)
            return True
        moved = cv2.absdiff(thumb, self._previous) > CUT_PIXEL_THRESHOLD
        return bool(moved.mean() >= CUT_FRACTION)

    def unchanged_since_previous(self, region: Box) -> bool:
        """Whether ``region`` looks the same as in the previous sample (a still face stays put)."""
        if self._previous is None or self._current is None or self._previous.shape != self._current.shape:
            return False
        x0, y0, x1, y1 = self._thumb_rect(region)
        if x1 <= x0 or y1 <= y0:
            return False
        diff = cv2.absdiff(self._current[y0:y1, x0:x1], self._previous[y0:y1, x0:x1])
        return not bool((diff > PIXEL_THRESHOLD).any())

    def mark_scanned(self, region: Box | None = None) -> None:
        """Record that ``region`` (default: the whole frame) of the current sample was scanned;
        a region given is a fine search (see ``changed_regions``' ``cooldown``)."""
        assert self._current is not None
        if region is None or self._scanned is None:
            self._scanned = self._current.copy()
            return
        x0, y0, x1, y1 = self._thumb_rect(region)
        self._scanned[y0:y1, x0:x1] = self._current[y0:y1, x0:x1]
        if self._searched_at is not None:
            self._searched_at[y0:y1, x0:x1] = self._samples

    def last_searched(self, region: Box) -> int:
        """The sample at which the least recently searched part of ``region`` was last searched
        finely (very negative: never)."""
        if self._searched_at is None:
            return -(2**30)
        x0, y0, x1, y1 = self._thumb_rect(region)
        cells = self._searched_at[y0:y1, x0:x1]
        return int(cells.min()) if cells.size else -(2**30)

    def changed_regions(self, exclude: list[Box], margin_px: float, cooldown: int = 0) -> list[Box] | None:
        """Regions (frame pixels, grown by ``margin_px``) that changed since they were scanned,
        ignoring the ``exclude`` boxes and what was searched finely in the last ``cooldown``
        samples; None means "scan the whole frame"."""
        if self._scanned is None or self._current is None:
            return None
        mask = (cv2.absdiff(self._current, self._scanned) > PIXEL_THRESHOLD).astype(np.uint8)
        if cooldown > 0 and self._searched_at is not None:
            mask[self._samples - self._searched_at < cooldown] = 0
        for box in exclude:
            x0, y0, x1, y1 = self._thumb_rect(box)
            mask[y0:y1, x0:x1] = 0
        if not mask.any():
            return []
        mask = cv2.dilate(mask, np.ones((3, 3), np.uint8))
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        h, w = self._frame_shape
        sy, sx = h / mask.shape[0], w / mask.shape[1]
        boxes = [
            Box(
                max(0.0, x * sx - margin_px),
                max(0.0, y * sy - margin_px),
                min(float(w), (x + bw) * sx + margin_px),
                min(float(h), (y + bh) * sy + margin_px),
            )
            for x, y, bw, bh, area in stats[1:n]
            if area >= MIN_COMPONENT_PX
        ]
        boxes = _merge(boxes)
        if sum(b.w * b.h for b in boxes) > FULL_FRAME_FRACTION * w * h:
            return None
        return boxes

    def _thumb_rect(self, box: Box) -> tuple[int, int, int, int]:
        assert self._current is not None
        th, tw = self._current.shape[:2]
        h, w = self._frame_shape
        return (
            max(0, int(box.x0 * tw / w)),
            max(0, int(box.y0 * th / h)),
            min(tw, int(np.ceil(box.x1 * tw / w))),
            min(th, int(np.ceil(box.y1 * th / h))),
        )


def _merge(boxes: list[Box]) -> list[Box]:
    """Union overlapping boxes until none overlap (each region is then scanned once)."""
    merged = list(boxes)
    changed = True
    while changed:
        changed = False
        out: list[Box] = []
        for b in merged:
            for i, o in enumerate(out):
                if b.x0 < o.x1 and o.x0 < b.x1 and b.y0 < o.y1 and o.y0 < b.y1:
                    out[i] = Box(min(b.x0, o.x0), min(b.y0, o.y0), max(b.x1, o.x1), max(b.y1, o.y1))
                    changed = True
                    break
            else:
                out.append(b)
        merged = out
    return merged
