"""Visual fingerprint: PDQ per sampled frame with bars removed, mirrored hash, quality filter, runs of
near-identical frames collapsed, a "dynamic" hash per run and small greyscale keyframe thumbnails.

The dynamic hash is PDQ of a 48x48 image of the frame where pixels that never change over the video
(classroom background, a station logo, a static caption) are flattened: it compares what changes, so
a watermark barely moves it and two lessons filmed in the same room stop looking alike.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field

import cv2
import numpy as np

from pipeline.analysis.analyser import Analyser, FinishContext, ReportSection, StageOutput
from pipeline.dedup.pdq import HASH_BYTES, content_box, hamming_pairs, pdq, pdq_gray_pair, work_image
from pipeline.frames import Frame

MIN_QUALITY = 50  # PDQ quality below this is a blank, dark or blurred frame: not hashed
RUN_DISTANCE = 24  # a frame within this distance of its run's first frame extends the run
MIN_CONTENT = 0.08  # content box smaller than this fraction of the frame: nothing to hash
THUMB_SIDE = 96  # long side of keyframe thumbnails
THUMB_GAP_S = 2.0  # at most one thumbnail per this many seconds (at run starts)
MAX_THUMBS = 900  # thumbnails of very long videos are thinned to this many
TINY = 48  # side of the images the dynamic hash is computed on
STATIC_STD = 4.0  # a pixel whose grey level varies less than this over the video is static
MIN_DYNAMIC = 0.03  # fewer changing pixels than this (a still video): no dynamic hash


@dataclass
class VisualFingerprint:
    """Runs of near-identical frames: times are the first and last sample of each run, in seconds."""

    starts: np.ndarray  # float32 (n,)
    ends: np.ndarray  # float32 (n,)
    hashes: np.ndarray  # uint8 (n, 32) PDQ of the content box
    mirrors: np.ndarray  # uint8 (n, 32) PDQ of the horizontally mirrored content box
    quality: np.ndarray  # uint8 (n,)
    step: float  # seconds between samples
    samples: int  # frames seen
    hashed: int  # frames that passed the quality filter
    dynamic: np.ndarray | None = None  # uint8 (n, 32) PDQ of the changing pixels; None: too few change
    dynamic_mirrors: np.ndarray | None = None
    thumb_times: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    thumbs: list[np.ndarray] = field(default_factory=list)  # greyscale content-box thumbnails

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def seconds(self) -> float:
        """Seconds of hashed (non-blank) video."""
        return self.hashed * self.step

    def to_data(self) -> dict:
        """JSON-friendly form (runs as base64; thumbnails excluded, see ``thumbs_to_bytes``)."""
        cols = [
            self.starts.astype("<f4").view(np.uint8).reshape(-1, 4),
            self.ends.astype("<f4").view(np.uint8).reshape(-1, 4),
            self.hashes,
            self.mirrors,
            self.quality.reshape(-1, 1),
        ]
        if self.dynamic is not None and self.dynamic_mirrors is not None:
            cols += [self.dynamic, self.dynamic_mirrors]
        return {
            "runs": base64.b64encode(np.concatenate(cols, axis=1).tobytes()).decode(),
            "dynamic": self.dynamic is not None,
            "step": self.step,
            "samples": self.samples,
            "hashed": self.hashed,
        }

    @classmethod
    def from_data(cls, data: dict, thumbs: bytes | None = None) -> VisualFingerprint:
        """Inverse of ``to_data`` (plus ``thumbs_to_bytes`` output when available)."""
        dyn = bool(data.get("dynamic"))
        width = 8 + (4 if dyn else 2) * HASH_BYTES + 1
        runs = np.frombuffer(base64.b64decode(data["runs"]), np.uint8).reshape(-1, width)
        h0 = 8 + 2 * HASH_BYTES + 1  # first dynamic byte
        fp = cls(
            starts=runs[:, 0:4].copy().view("<f4").ravel().astype(np.float32),
            ends=runs[:, 4:8].copy().view("<f4").ravel().astype(np.float32),
            hashes=runs[:, 8 : 8 + HASH_BYTES].copy(),
            mirrors=runs[:, 8 + HASH_BYTES : 8 + 2 * HASH_BYTES].copy(),
            quality=runs[:, h0 - 1].copy(),
            step=float(data["step"]),
            samples=int(data["samples"]),
            hashed=int(data["hashed"]),
            dynamic=runs[:, h0 : h0 + HASH_BYTES].copy() if dyn else None,
            dynamic_mirrors=runs[:, h0 + HASH_BYTES :].copy() if dyn else None,
        )
        if thumbs:
            fp.thumb_times, fp.thumbs = thumbs_from_bytes(thumbs)
        return fp

    def thumbs_to_bytes(self) -> bytes:
        """Keyframe thumbnails as one compressed blob (an artifact, kept out of the database row)."""
        buf = io.BytesIO()
        arrays: dict[str, np.ndarray] = {"times": self.thumb_times.astype(np.float32)}
        for i, t in enumerate(self.thumbs):
            ok, jpg = cv2.imencode(".jpg", t, [cv2.IMWRITE_JPEG_QUALITY, 85])
            assert ok
            arrays[f"t{i}"] = jpg
        np.savez(buf, **arrays)
        return buf.getvalue()


def thumbs_from_bytes(blob: bytes) -> tuple[np.ndarray, list[np.ndarray]]:
    """(times, thumbnails) from ``VisualFingerprint.thumbs_to_bytes`` output."""
    with np.load(io.BytesIO(blob)) as z:
        times = z["times"].astype(np.float32)
        thumbs = [cv2.imdecode(z[f"t{i}"], cv2.IMREAD_GRAYSCALE) for i in range(len(times))]
    return times, thumbs


class VisualFingerprinter(Analyser):
    """Builds a ``VisualFingerprint`` from every frame of the stream (stage ``fingerprint_visual``)."""

    stage = "fingerprint_visual"
    version = "1"
    report = ReportSection.hidden()  # read by duplicate matching, not by people

    def __init__(self, step: float | None = None):
        """``step``: seconds between sampled frames (1 / analysis_fps); inferred from the frames when None."""
        self.step = step
        self._last_t: float | None = None
        self._starts: list[float] = []
        self._ends: list[float] = []
        self._hashes: list[np.ndarray] = []
        self._mirrors: list[np.ndarray] = []
        self._quality: list[int] = []
        self._thumb_times: list[float] = []
        self._thumbs: list[np.ndarray] = []
        self._tiny: list[np.ndarray] = []  # per run: its first frame at TINY x TINY
        self._sum = np.zeros((TINY, TINY))  # per-pixel sums over all hashed frames (variance)
        self._sumsq = np.zeros((TINY, TINY))
        self.samples = 0
        self.hashed = 0

    def process(self, frame: Frame) -> None:
        if self.step is None and self._last_t is not None and frame.t > self._last_t:
            self.step = frame.t - self._last_t
        self._last_t = frame.t
        self.samples += 1
        small = work_image(frame.image)
        gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        x0, y0, x1, y1 = content_box(gray)
        if (x1 - x0) * (y1 - y0) < MIN_CONTENT * gray.size or min(x1 - x0, y1 - y0) < 16:
            return
        h, m, q = pdq(small[y0:y1, x0:x1])
        if q < MIN_QUALITY:
            return
        self.hashed += 1
        tiny = cv2.resize(gray[y0:y1, x0:x1], (TINY, TINY), interpolation=cv2.INTER_AREA)
        self._sum += tiny
        self._sumsq += tiny.astype(np.float64) ** 2
        contiguous = self._ends and frame.t - self._ends[-1] <= 1.5 * (self.step or 1.0)
        if contiguous and hamming_pairs(h[None], self._hashes[-1][None])[0] <= RUN_DISTANCE:
            self._ends[-1] = frame.t
            return
        self._starts.append(frame.t)
        self._ends.append(frame.t)
        self._hashes.append(h)
        self._mirrors.append(m)
        self._quality.append(q)
        self._tiny.append(tiny)
        if not self._thumb_times or frame.t - self._thumb_times[-1] >= THUMB_GAP_S - 1e-6:
            self._thumb_times.append(frame.t)
            self._thumbs.append(_thumbnail(gray[y0:y1, x0:x1]))

    def _dynamic(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Dynamic hashes (and their mirrors) of every run, or None when (almost) nothing changes."""
        if not self._tiny:
            return None
        n = self.hashed
        std = np.sqrt(np.maximum(self._sumsq / n - (self._sum / n) ** 2, 0))
        moving = cv2.dilate((std >= STATIC_STD).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        if moving.mean() < MIN_DYNAMIC:
            return None
        hashes, mirrors = [], []
        for tiny in self._tiny:
            img = tiny.astype(np.float32)
            img[~moving] = img[moving].mean()
            h, m = pdq_gray_pair(np.clip(img, 0, 255).astype(np.uint8))
            hashes.append(h)
            mirrors.append(m)
        return np.array(hashes, np.uint8), np.array(mirrors, np.uint8)

    def fingerprint(self) -> VisualFingerprint:
        """The fingerprint of the frames seen so far."""
        keep = _thin(len(self._thumbs), MAX_THUMBS)
        dyn = self._dynamic()
        return VisualFingerprint(
            starts=np.array(self._starts, np.float32),
            ends=np.array(self._ends, np.float32),
            hashes=np.array(self._hashes, np.uint8).reshape(-1, HASH_BYTES),
            mirrors=np.array(self._mirrors, np.uint8).reshape(-1, HASH_BYTES),
            quality=np.array(self._quality, np.uint8),
            step=self.step or 1.0,
            samples=self.samples,
            hashed=self.hashed,
            thumb_times=np.array(self._thumb_times, np.float32)[keep],
            thumbs=[self._thumbs[i] for i in keep],
            dynamic=dyn[0] if dyn else None,
            dynamic_mirrors=dyn[1] if dyn else None,
        )

    def finish(self, ctx: FinishContext) -> StageOutput:
        fp = self.fingerprint()
        data = fp.to_data()
        if fp.thumbs:
            path = ctx.workdir / "dedup_keyframes.npz"
            path.write_bytes(fp.thumbs_to_bytes())
            data["keyframes"] = path
        data["runs_count"] = len(fp)
        data["blank"] = fp.hashed == 0
        return StageOutput(data=data)


def _thumbnail(gray: np.ndarray) -> np.ndarray:
    h, w = gray.shape
    s = THUMB_SIDE / max(h, w)
    size = (max(8, round(w * s)), max(8, round(h * s)))
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA)


def _thin(n: int, cap: int) -> np.ndarray:
    if n <= cap:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, cap).round().astype(int))
