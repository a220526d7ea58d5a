"""Keyframes for reviewers: a handful of sharp, distinct frames and one contact sheet.

Fed by the one decode (sampled, downscaled BGR frames), in PySceneDetect's detector shape:
``process`` measures each frame on small copies and keeps, with bounded memory, only the frames
that may become keyframes; ``finish`` decides the cuts and picks the keyframes.

Per frame: an HSV content delta against the previous frame (ContentDetector's measure, on a
96x64 copy), the Laplacian variance of a smoothed <= 480 px thumbnail (sharpness), and exposure (black,
washed-out or flat frames are never kept). Every delta of at least ``min_content`` opens a
candidate segment; each segment and each coverage time bin keeps only its best frame (sharpness
discounted by motion). Segments beyond ``max_segments`` merge across their weakest boundary and
bins double in width beyond twice ``coverage_slots``, so a 4-hour lesson holds at most about 256
JPEG thumbnails (~10 MB) plus a few floats per frame.

At the end a candidate boundary is a cut when its delta is ``cut_ratio`` times the calmer side's
mean delta over ``cut_window`` samples (an adaptive threshold: handheld motion is busy on both
sides, a cut is calm on at least one) or above ``strong_cut``. The keyframes are, within the cap:
one frame per teacher-confirmed stretch (presence's segments), then the best frame of each shot
(longest shots first), then coverage frames farthest in time from those already chosen; blurred
frames and near-duplicates (PDQ distance) are dropped on the way.
"""

from __future__ import annotations

import bisect
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pdqhash

from pipeline.analysis.analyser import (
    Analyser,
    FinishContext,
    FrameFeed,
    ReportSection,
    Setting,
    StageOutput,
)
from pipeline.contact_sheet import format_timestamp, write_contact_sheet
from pipeline.frames import Frame

DELTA_SIZE = (96, 64)  # (w, h) of the copy the content delta is measured on
DELTA_SIDE = 96
TAGS = ("scene", "coverage", "teacher")
SHARPER = 1.2  # a near-duplicate replaces a chosen frame when this many times sharper
PDQ_SIDE = 160  # PDQ of a small copy: same verdicts as full size, 8x cheaper
JPEG_QUALITY = 88


@dataclass(frozen=True)
class KeyframeParams:
    """Tunables of the keyframe stage; change ``KeyframeAnalyser.version`` with any default."""

    cap: int = 16  # keyframes for a lesson up to ``cap_step_s`` long
    cap_step: int = 4  # ... plus this many for every further full ``cap_step_s``
    cap_step_s: float = 900.0
    max_cap: int = 32  # hard maximum (a 75-minute lesson reaches it)
    thumb_side: int = 480  # long side of keyframe images (never upscaled)
    sheet_tile_side: int = 320
    min_content: float = 3.0  # HSV delta (0-255 scale) below which no cut is considered
    cut_ratio: float = 3.0
    cut_window: int = 2  # samples each side for the adaptive threshold
    strong_cut: float = 45.0  # delta that is a cut whatever its neighbours
    unstable_delta: float = 15.0  # differing this much from both neighbours: mid-transition
    motion_scale: float = 10.0  # rank = sharpness / (1 + delta / motion_scale)
    min_sharpness: float = 4.0  # ``sharpness()`` of the thumbnail below which a frame is blurred
    blur_ratio: float = 0.3  # ... or below this share of its shot's median sharpness nearby
    blur_window_s: float = 30.0
    duplicate_distance: int = 31  # PDQ Hamming distance (of 256 bits) at or below which frames match
    coverage_slots: int = 64  # coverage bins kept: between this and twice as many
    coverage_bin_s: float = 1.0  # initial bin width, doubled as the lesson grows
    max_segments: int = 128  # candidate shots kept while streaming

    def cap_for(self, duration_s: float) -> int:
        """Keyframe cap for a lesson of ``duration_s``: ``cap`` (16) up to 15 min, 4 more per
        further 15 min (45 min: 24), never above ``max_cap`` (32) unless ``cap`` itself is."""
        extra = max(0, math.floor((duration_s - self.cap_step_s) / self.cap_step_s)) if duration_s > 0 else 0
        return max(1, self.cap, min(self.max_cap, self.cap + self.cap_step * extra))


def fit_long_side(image: np.ndarray, side: int) -> np.ndarray:
    """A copy of ``image`` whose long side is at most ``side``, never upscaled: area-averaged by
    the largest whole factor (OpenCV's fast path), then bilinear for the remaining < 2x."""
    h, w = image.shape[:2]
    k = max(h, w) // side
    if k == 0:
        return image.copy()
    if k >= 2:
        hk, wk = max(1, h // k), max(1, w // k)
        image = cv2.resize(image[: hk * k, : wk * k], (wk, hk), interpolation=cv2.INTER_AREA)
        h, w = hk, wk
    scale = side / max(h, w)
    if scale >= 1:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)


def content_delta(hsv_a: np.ndarray, hsv_b: np.ndarray) -> float:
    """Mean absolute HSV difference of two same-size HSV images on a 0-255 scale (PySceneDetect's
    ContentDetector score), hue taken round the circle and weighted by saturation: the hue of
    near-grey pixels (white boards, slides) is sensor noise."""
    a = hsv_a.astype(np.float32)
    b = hsv_b.astype(np.float32)
    dh = np.abs(a[..., 0] - b[..., 0])
    dh = np.minimum(dh, 180 - dh) * (255.0 / 90.0) * (np.minimum(a[..., 1], b[..., 1]) / 255.0)
    ds = np.abs(a[..., 1] - b[..., 1])
    dv = np.abs(a[..., 2] - b[..., 2])
    return float((dh.mean() + ds.mean() + dv.mean()) / 3.0)


def sharpness(gray: np.ndarray) -> float:
    """Variance of the Laplacian of the 3x3-Gaussian-smoothed image (higher is sharper); the
    smoothing keeps sensor noise from passing for detail."""
    _, std = cv2.meanStdDev(cv2.Laplacian(cv2.GaussianBlur(gray, (3, 3), 0), cv2.CV_32F))
    return float(std[0, 0] ** 2)


def exposure_ok(gray: np.ndarray) -> bool:
    """False for black, washed-out or flat (single-tone) frames."""
    g = gray[::2, ::2]
    mean, std = (float(v[0, 0]) for v in cv2.meanStdDev(g))
    n = g.size
    dark = np.count_nonzero(g <= 40) / n
    bright = np.count_nonzero(g >= 215) / n
    if std < 5 or dark >= 0.98 or bright >= 0.98:
        return False
    return not (mean > 200 and std < 12)


def pdq_distance(a: np.ndarray, b: np.ndarray) -> int:
    """Hamming distance of two 256-bit PDQ hashes (as 0/1 arrays)."""
    return int(np.count_nonzero(a != b))


@dataclass(eq=False)
class _Kept:
    """A frame that may become a keyframe: its thumbnail, JPEG-encoded once no longer current."""

    index: int
    t: float
    sharpness: float
    rank: float  # sharpness discounted by motion
    thumb: np.ndarray | None
    width: int = 0
    height: int = 0
    jpeg: bytes | None = None
    _pdq: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.height, self.width = self.thumb.shape[:2]

    def seal(self) -> bytes:
        """Encode the thumbnail once and drop the raw pixels; returns the JPEG bytes."""
        if self.jpeg is None:
            ok, buf = cv2.imencode(".jpg", self.thumb, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if not ok:
                raise RuntimeError("JPEG encoding failed")
            self.jpeg = buf.tobytes()
            self.thumb = None
        return self.jpeg

    def image(self) -> np.ndarray:
        if self.thumb is not None:
            return self.thumb
        return cv2.imdecode(np.frombuffer(self.jpeg, np.uint8), cv2.IMREAD_COLOR)

    def pdq(self) -> np.ndarray:
        if self._pdq is None:
            small = fit_long_side(self.image(), PDQ_SIDE)
            bits, _quality = pdqhash.compute(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
            self._pdq = bits.astype(bool)
        return self._pdq


def _better(a: _Kept | None, b: _Kept | None) -> _Kept | None:
    if a is None:
        return b
    if b is None:
        return a
    return b if b.rank > a.rank else a


@dataclass(eq=False)
class _Segment:
    start: int  # sample index of its first frame
    boundary: float  # content delta at its first frame (0 for the first segment)
    best: _Kept | None = None


@dataclass(eq=False)
class _Shot:
    start: int
    end: int  # inclusive sample index
    best: _Kept | None


@dataclass
class _Candidates:
    scene: dict[_Kept, _Shot] = field(default_factory=dict)
    coverage: list[_Kept] = field(default_factory=list)


class KeyframeAnalyser(Analyser):
    """The ``keyframes`` stage. ``finish`` writes keyframe JPEGs (long side
    <= 480 px) and one contact sheet into ``ctx.workdir/keyframes`` and returns
    ``{"keyframes": [{t, uri, width, height, tags, sharpness}], "contact_sheet": {uri, tiles} | None,
    "cuts": [t], "cap": n}`` (no contact sheet when no frame was usable)."""

    stage = "keyframes"
    # 2: cut times at the middle of the sample gap; 3: teacher frames at most half the cap, never repeated
    version = "3"
    settings = (Setting("keyframe_params", KeyframeParams()),)
    feed = FrameFeed.SAMPLED
    reads = ("presence",)  # a frame of each stretch where the teacher is confirmed
    report = ReportSection.merged("keyframes", "contact_sheet")

    def __init__(self, keyframe_params: KeyframeParams | None = None) -> None:
        self.params = keyframe_params or KeyframeParams()
        self._t: list[float] = []
        self._delta: list[float] = []
        self._sharp: list[float] = []
        self._usable: list[bool] = []
        self._prev_hsv: np.ndarray | None = None
        self._segments: list[_Segment] = []
        self._bins: dict[int, _Kept] = {}
        self._bin_width = self.params.coverage_bin_s
        self._last_bin: int | None = None

    def process(self, frame: Frame) -> None:
        p = self.params
        i = len(self._t)
        thumb = fit_long_side(frame.image, p.thumb_side)
        gray = cv2.cvtColor(thumb, cv2.COLOR_BGR2GRAY)
        small = cv2.resize(fit_long_side(thumb, DELTA_SIDE), DELTA_SIZE, interpolation=cv2.INTER_LINEAR)
        hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
        delta = 0.0 if self._prev_hsv is None else content_delta(self._prev_hsv, hsv)
        self._prev_hsv = hsv
        sharp = sharpness(gray)
        usable = exposure_ok(gray)
        self._t.append(frame.t)
        self._delta.append(delta)
        self._sharp.append(sharp)
        self._usable.append(usable)

        if i == 0 or delta >= p.min_content:
            if self._segments and self._segments[-1].best is not None:
                self._segments[-1].best.seal()
            self._segments.append(_Segment(start=i, boundary=delta))
            if len(self._segments) > p.max_segments:
                self._merge_weakest_boundary()
        if not usable:
            return
        rank = sharp / (1.0 + delta / p.motion_scale)
        kept: _Kept | None = None
        segment = self._segments[-1]
        if segment.best is None or rank > segment.best.rank:
            kept = _Kept(index=i, t=frame.t, sharpness=sharp, rank=rank, thumb=thumb)
            segment.best = kept
        b = int(frame.t // self._bin_width)
        if self._last_bin is not None and b != self._last_bin and self._last_bin in self._bins:
            self._bins[self._last_bin].seal()
        self._last_bin = b
        current = self._bins.get(b)
        if current is None or rank > current.rank:
            self._bins[b] = kept or _Kept(index=i, t=frame.t, sharpness=sharp, rank=rank, thumb=thumb)
        if len(self._bins) > 2 * p.coverage_slots:
            self._widen_bins()

    def _merge_weakest_boundary(self) -> None:
        k = min(range(1, len(self._segments)), key=lambda j: self._segments[j].boundary)
        gone = self._segments.pop(k)
        self._segments[k - 1].best = _better(self._segments[k - 1].best, gone.best)

    def _widen_bins(self) -> None:
        self._bin_width *= 2
        merged: dict[int, _Kept] = {}
        for b, kept in self._bins.items():
            merged[b // 2] = _better(merged.get(b // 2), kept)
        self._bins = merged
        if self._last_bin is not None:
            self._last_bin //= 2

    def held_frames(self) -> int:
        """How many candidate thumbnails are held in memory (bounded, whatever the length)."""
        held = {id(s.best) for s in self._segments if s.best is not None}
        held.update(id(k) for k in self._bins.values())
        return len(held)

    # -- finish -------------------------------------------------------------------------------

    def _is_cut(self, i: int) -> bool:
        """Whether the content delta at sample ``i`` (> 0) is a cut (adaptive threshold)."""
        p = self.params
        d = self._delta[i]
        if d < p.min_content:
            return False
        if d >= p.strong_cut:
            return True
        left = self._delta[max(1, i - p.cut_window) : i]
        right = self._delta[i + 1 : i + 1 + p.cut_window]
        sides = [sum(s) / len(s) for s in (left, right) if s]
        return not sides or d >= p.cut_ratio * min(sides)

    def _shots(self) -> list[_Shot]:
        shots: list[_Shot] = []
        for seg in self._segments:
            if shots and not self._is_cut(seg.start):
                shots[-1].best = _better(shots[-1].best, seg.best)
                continue
            if shots:
                shots[-1].end = seg.start - 1
            shots.append(_Shot(start=seg.start, end=len(self._t) - 1, best=seg.best))
        return shots

    @staticmethod
    def _transitional(shots: list[_Shot], j: int) -> bool:
        """A one-sample shot between two cuts: a frame inside a fade or dissolve."""
        return 0 < j < len(shots) - 1 and shots[j].start == shots[j].end

    def _cut_times(self, shots: list[_Shot]) -> list[float]:
        """One time per transition: the middle of the gap between the last sample before it and the
        first sample after it (the best estimate of when a cut fell between two samples)."""
        cuts: list[float] = []
        first: int | None = None
        for j in range(1, len(shots)):
            first = shots[j].start if first is None else first
            if not self._transitional(shots, j):
                cuts.append(round((self._t[max(0, first - 1)] + self._t[shots[j].start]) / 2, 3))
                first = None
        return cuts

    def _sharp_enough(self, kept: _Kept, shot: _Shot) -> bool:
        p = self.params
        if kept.sharpness < p.min_sharpness:
            return False
        lo = max(shot.start, bisect.bisect_left(self._t, kept.t - p.blur_window_s))
        hi = min(shot.end + 1, bisect.bisect_right(self._t, kept.t + p.blur_window_s))
        nearby = [self._sharp[j] for j in range(lo, hi) if self._usable[j]]
        return kept.sharpness >= p.blur_ratio * statistics.median(nearby)

    def _unstable(self, kept: _Kept) -> bool:
        i = kept.index
        after = self._delta[i + 1] if i + 1 < len(self._delta) else 0.0
        return min(self._delta[i], after) >= self.params.unstable_delta

    def _candidates(self, shots: list[_Shot]) -> _Candidates:
        starts = [s.start for s in shots]
        out = _Candidates()
        for j, shot in enumerate(shots):
            b = shot.best
            if b is None or self._transitional(shots, j):
                continue
            if not self._unstable(b) and self._sharp_enough(b, shot):
                out.scene[b] = shot
        for kept in sorted(self._bins.values(), key=lambda k: k.t):
            shot = shots[bisect.bisect_right(starts, kept.index) - 1]
            if self._sharp_enough(kept, shot):
                out.coverage.append(kept)
        return out

    def _shot_length(self, shot: _Shot) -> float:
        step = self._t[1] - self._t[0] if len(self._t) > 1 else 1.0
        return self._t[shot.end] - self._t[shot.start] + step

    def _select(
        self, cands: _Candidates, stretches: list[tuple[float, float]], cap: int, duration_s: float
    ) -> dict[_Kept, set[str]]:
        """Teacher stretches first (one frame each, longest stretches first, at most half of the cap
        and never the same picture twice), then the best frame
        of each shot (longest first), then coverage frames farthest from those chosen, no closer
        than duration / (cap + 1). A near-duplicate of a chosen frame is not added; when clearly
        sharper it takes that frame's place and tags (unless that frame stands for a teacher
        stretch). Returns the chosen frames in time order with their ``scene``/``coverage`` tags."""
        p = self.params
        chosen: list[_Kept] = []
        pinned: set[_Kept] = set()
        tags: dict[_Kept, set[str]] = {}

        def source(kept: _Kept) -> set[str]:
            return {tag for tag, c in (("scene", cands.scene), ("coverage", cands.coverage)) if kept in c}

        def admit(kept: _Kept) -> None:
            for n, c in enumerate(chosen):
                if pdq_distance(kept.pdq(), c.pdq()) <= p.duplicate_distance:
                    if c not in pinned and kept not in tags and kept.sharpness > SHARPER * c.sharpness:
                        chosen[n] = kept
                        tags[kept] = tags.pop(c) | source(kept)
                    return
            chosen.append(kept)
            tags[kept] = source(kept)

        pool = list(dict.fromkeys([*cands.scene, *cands.coverage]))
        teacher_cap = math.ceil(cap / 2)  # the rest of the lesson keeps at least half of the frames
        for a, b in sorted(stretches, key=lambda s: s[1] - s[0], reverse=True):
            if len(pinned) >= teacher_cap:
                break
            if any(_within(c.t, a, b) for c in chosen):
                continue
            inside = [k for k in pool if _within(k.t, a, b)]
            if inside:
                best = max(inside, key=lambda k: k.rank)
                if any(pdq_distance(best.pdq(), c.pdq()) <= p.duplicate_distance for c in chosen):
                    continue  # the same picture is already there (a fragmented stretch of one scene)
                chosen.append(best)
                pinned.add(best)
                tags[best] = source(best)
        for kept, _shot in sorted(cands.scene.items(), key=lambda kv: -self._shot_length(kv[1])):
            if len(chosen) >= cap:
                break
            if kept not in chosen:
                admit(kept)
        min_gap = duration_s / (cap + 1)
        remaining = [k for k in cands.coverage if k not in chosen]
        while len(chosen) < cap and remaining:
            gap, kept = max(
                ((min((abs(k.t - c.t) for c in chosen), default=math.inf), k) for k in remaining),
                key=lambda gk: (gk[0], gk[1].rank),
            )
            if gap < min_gap:
                break
            remaining.remove(kept)
            admit(kept)
        return {k: tags[k] for k in sorted(chosen, key=lambda k: k.t)}

    def finish(self, ctx: FinishContext) -> StageOutput:
        if not self._t:
            return StageOutput(data={"keyframes": [], "contact_sheet": None, "cuts": [], "cap": 0})
        duration = ctx.duration_s if ctx.duration_s > 0 else self._t[-1]
        cap = self.params.cap_for(duration)
        shots = self._shots()
        cands = self._candidates(shots)
        stretches = teacher_stretches(ctx)
        chosen = self._select(cands, stretches, cap, duration)

        outdir = Path(ctx.workdir) / "keyframes"
        outdir.mkdir(parents=True, exist_ok=True)
        keyframes: list[dict[str, Any]] = []
        labels: list[str] = []
        for n, kept in enumerate(chosen):
            path = outdir / f"keyframe-{n:02d}-{int(kept.t * 1000):09d}ms.jpg"
            path.write_bytes(kept.seal())
            tags = sorted(chosen[kept], key=TAGS.index)
            if any(_within(kept.t, a, b) for a, b in stretches):
                tags.append("teacher")
            keyframes.append(
                {
                    "t": round(kept.t, 3),
                    "uri": path,
                    "width": kept.width,
                    "height": kept.height,
                    "tags": tags,
                    "sharpness": round(kept.sharpness, 1),
                }
            )
            labels.append(format_timestamp(kept.t) + ("  teacher" if "teacher" in tags else ""))
        sheet = None
        if chosen:
            sheet_path = outdir / "contact-sheet.jpg"
            write_contact_sheet([k.image() for k in chosen], labels, sheet_path, self.params.sheet_tile_side)
            sheet = {"uri": sheet_path, "tiles": len(chosen)}
        data = {"keyframes": keyframes, "contact_sheet": sheet, "cuts": self._cut_times(shots), "cap": cap}
        return StageOutput(data=data)


def _within(t: float, start: float, end: float) -> bool:
    """Whether sample time ``t`` falls in a presence stretch: [start, end), presence's segments
    ending one sample interval after the last confirmed sample; a bare instant when start == end."""
    return start <= t < end or t == start


def teacher_stretches(ctx: FinishContext) -> list[tuple[float, float]]:
    """(start, end) seconds of confirmed teacher presence, from the presence stage."""
    presence = ctx.results.get("presence")
    if presence is None:  # finished alone, outside a host (tests, benchmarks)
        return []
    out = []
    for seg in presence.data.get("segments", []):
        start, end = float(seg["start"]), float(seg["end"])
        if end >= start:
            out.append((start, end))
    return out
