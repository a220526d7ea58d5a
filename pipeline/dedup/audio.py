"""Audio fingerprint: spectral peak-pair landmarks (Shazam/Panako style) of the 8 kHz mono track.

Peaks of a log spectrogram that stand out from their neighbourhood survive noise, EQ, reverb and a
microphone; pairs of peaks hash (anchor frequency, frequency step, log-quantised time step) so a tempo
change of up to ~12% moves the time step by at most one bin (the query probes the neighbours).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pipeline.analysis.analyser import Analyser, FinishContext, FrameFeed, ReportSection, StageOutput

RATE = 8000
N_FFT = 1024
HOP = 256
FRAME_S = HOP / RATE  # 32 ms
F_LO, F_HI = 10, 460  # bins kept: ~80 Hz to ~3.6 kHz
PEAK_DT, PEAK_DF = 6, 12  # peak neighbourhood half-size (frames, bins)
PEAKS_PER_S = 7  # strongest peaks kept per second
MIN_PROMINENCE_DB = 6.0  # above the local mean spectrum
SILENCE_DBFS = -55.0  # frames quieter than this carry no peaks
PAIR_MAX_DT, PAIR_MAX_DF, FAN_OUT = 40, 100, 3
DT_RATIO = 1.12  # log step of the time quantisation
KEEP_OF_16 = 6  # landmarks kept: hash-consistent sub-sampling, the same subset on every copy
CHUNK_S = 120.0


@dataclass
class AudioFingerprint:
    """Landmark hashes (uint32) and their anchor times (seconds, float32), sorted by time."""

    hashes: np.ndarray
    times: np.ndarray
    duration_s: float
    voiced_s: float  # seconds above the silence level
    has_audio: bool  # False when the file has no audio stream

    @property
    def silent(self) -> bool:
        """No usable sound: no stream, or too little sound to fingerprint."""
        return len(self.hashes) == 0

    def to_data(self) -> dict:
        packed = np.stack([self.hashes.astype("<u4"), self.times.astype("<f4").view("<u4")], axis=1)
        return {
            "landmarks": base64.b64encode(packed.tobytes()).decode(),
            "duration_s": self.duration_s,
            "voiced_s": round(self.voiced_s, 3),
            "has_audio": self.has_audio,
            "silent": self.silent,
        }

    @classmethod
    def from_data(cls, data: dict) -> AudioFingerprint:
        packed = np.frombuffer(base64.b64decode(data["landmarks"]), "<u4").reshape(-1, 2)
        return cls(
            hashes=packed[:, 0].astype(np.uint32),
            times=packed[:, 1].copy().view("<f4").astype(np.float32),
            duration_s=float(data["duration_s"]),
            voiced_s=float(data["voiced_s"]),
            has_audio=bool(data["has_audio"]),
        )

    @classmethod
    def empty(cls, duration_s: float = 0.0, has_audio: bool = False) -> AudioFingerprint:
        return cls(np.zeros(0, np.uint32), np.zeros(0, np.float32), duration_s, 0.0, has_audio)


def _spectrogram(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(log magnitude in dB, frame level in dBFS) for int16 samples ``x``; frames x bins."""
    if len(x) < N_FFT:
        return np.zeros((0, F_HI - F_LO), np.float32), np.zeros(0, np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(x.astype(np.float32) / 32768.0, N_FFT)[::HOP]
    win = np.hanning(N_FFT).astype(np.float32)
    spec = np.abs(np.fft.rfft(frames * win, axis=1))[:, F_LO:F_HI].astype(np.float32)
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12).astype(np.float32)
    return 20 * np.log10(spec + 1e-6), level


def _peaks(spec: np.ndarray, level: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(frame, bin) of prominent local maxima, at most ``PEAKS_PER_S`` per second."""
    if len(spec) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    kernel = np.ones((2 * PEAK_DT + 1, 2 * PEAK_DF + 1), np.uint8)
    local_max = spec >= cv2.dilate(spec, kernel)
    mean = cv2.blur(spec, (4 * PEAK_DF + 1, 4 * PEAK_DT + 1), borderType=cv2.BORDER_REFLECT)
    prominence = spec - mean
    ok = local_max & (prominence >= MIN_PROMINENCE_DB) & (level >= SILENCE_DBFS)[:, None]
    t, f = np.nonzero(ok)
    if len(t) == 0:
        return t, f
    strength = prominence[t, f]
    per_s = max(1, round(1 / FRAME_S))
    block = t // per_s
    order = np.lexsort((-strength, block))
    t, f, block = t[order], f[order], block[order]
    first = np.searchsorted(block, block, side="left")
    keep = (np.arange(len(t)) - first) < PEAKS_PER_S
    t, f = t[keep], f[keep]
    order = np.lexsort((f, t))
    return t[order], f[order]


def dt_bin(dt: np.ndarray) -> np.ndarray:
    """Log-quantised time step between two peaks (in frames)."""
    return np.round(np.log(dt) / np.log(DT_RATIO)).astype(np.int64)


def pack_hash(f1: np.ndarray, df: np.ndarray, dtb: np.ndarray) -> np.ndarray:
    """Landmark hash: 9 bits anchor bin, 8 bits frequency step, 6 bits time-step bin."""
    return ((f1.astype(np.int64) & 0x1FF) << 14 | ((df + 128) & 0xFF) << 6 | (dtb & 0x3F)).astype(np.uint32)


def kept(f1: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Hash-consistent sub-sampling on (anchor bin, frequency step), independent of the time step."""
    mix = ((f1.astype(np.uint64) * 73856093) ^ ((df + 128).astype(np.uint64) * 19349663)) % np.uint64(16)
    return mix < KEEP_OF_16


def _pairs(t: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hashes and anchor frames of up to ``FAN_OUT`` peak pairs per anchor."""
    n = len(t)
    hashes, anchors, ranks = [], [], []
    taken = np.zeros(n, np.int64)
    for k in range(1, 40):
        if k >= n:
            break
        i = np.arange(n - k)
        j = i + k
        dt = t[j] - t[i]
        df = f[j] - f[i]
        ok = (dt >= 1) & (dt <= PAIR_MAX_DT) & (np.abs(df) <= PAIR_MAX_DF) & (taken[i] < FAN_OUT)
        i, j, dt, df = i[ok], j[ok], dt[ok], df[ok]
        taken[i] += 1
        sub = kept(f[i], df)
        hashes.append(pack_hash(f[i][sub], df[sub], dt_bin(dt[sub])))
        anchors.append(t[i][sub])
        ranks.append(np.full(sub.sum(), k))
        if not (t[k:] - t[:-k] <= PAIR_MAX_DT).any():
            break
    if not hashes:
        return np.zeros(0, np.uint32), np.zeros(0, np.int64)
    h, a = np.concatenate(hashes), np.concatenate(anchors)
    order = np.argsort(a, kind="stable")
    return h[order], a[order]


def fingerprint_samples(x: np.ndarray, has_audio: bool = True) -> AudioFingerprint:
    """Landmarks of int16 mono samples at 8 kHz, computed in overlapping chunks (bounded memory)."""
    duration = len(x) / RATE
    chunk = int(CHUNK_S * RATE)
    margin = (PEAK_DT * 2 + 2) * HOP + N_FFT
    all_t, all_f, voiced = [], [], 0.0
    for start in range(0, max(len(x), 1), chunk):
        lo = max(0, start - margin)
        hi = min(len(x), start + chunk + margin)
        spec, level = _spectrogram(x[lo:hi])
        t, f = _peaks(spec, level)
        t = t + lo // HOP
        core = (t * HOP >= start) & (t * HOP < start + chunk)
        all_t.append(t[core])
        all_f.append(f[core])
        centre = (np.arange(len(level)) * HOP + lo >= start) & (
            np.arange(len(level)) * HOP + lo < start + chunk
        )
        voiced += float(((level >= SILENCE_DBFS) & centre).sum()) * FRAME_S
    t, f = np.concatenate(all_t), np.concatenate(all_f)
    order = np.lexsort((f, t))
    hashes, anchors = _pairs(t[order], f[order] + F_LO)
    if voiced < 1.0:
        return AudioFingerprint.empty(duration, has_audio)
    return AudioFingerprint(hashes, (anchors * FRAME_S).astype(np.float32), duration, voiced, has_audio)


def fingerprint_pcm(path: Path | None, duration_s: float = 0.0) -> AudioFingerprint:
    """Landmarks of an 8 kHz mono s16le PCM file; ``None`` (no audio stream) gives an empty one."""
    if path is None or not path.exists():
        return AudioFingerprint.empty(duration_s, has_audio=False)
    n = path.stat().st_size // 2  # a trailing odd byte is ignored
    x = np.memmap(path, dtype="<i2", mode="r", shape=(n,)) if n else np.zeros(0, np.int16)
    return fingerprint_samples(np.asarray(x), has_audio=True)


class AudioFingerprinter(Analyser):
    """Fingerprints ``ctx.audio_path`` at finish (stage ``fingerprint_audio``); takes no frames."""

    stage = "fingerprint_audio"
    version = "1"
    feed = FrameFeed.NONE
    report = ReportSection.hidden()  # read by duplicate matching, not by people

    def finish(self, ctx: FinishContext) -> StageOutput:
        fp = fingerprint_pcm(ctx.audio_path, ctx.duration_s)
        data = fp.to_data()
        data["landmarks_count"] = len(fp.hashes)
        return StageOutput(data=data)
