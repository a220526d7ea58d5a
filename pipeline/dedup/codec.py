"""Compact, versioned binary forms of a fingerprint, for binary database columns.

``encode_fingerprint``: everything verification needs except the keyframe thumbnails (runs, their
hashes, mirrors, quality and dynamic hashes; landmark hashes and times), ~350 KB for 45 minutes.
``Signature``: only what the index holds (the hashes of the indexed frames, the indexed landmark
keys), ~85 KB for 45 minutes: the indexer bulk-loads these and nothing else.

Layout: a 4-byte magic, a version byte, a little-endian header, then the arrays back to back.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from pipeline.dedup.audio import AudioFingerprint
from pipeline.dedup.fingerprint import Fingerprint
from pipeline.dedup.pdq import HASH_BYTES
from pipeline.dedup.visual import VisualFingerprint

FINGERPRINT_MAGIC, SIGNATURE_MAGIC = b"EVFP", b"EVSG"
VERSION = 1
AUDIO_KEYS = 1 << 23  # landmark hash space (see audio.pack_hash)
_FP_HEADER = struct.Struct("<4sBBIIdIIddB")  # magic, version, flags, runs, landmarks, step, samples,
# hashed, duration, voiced, has_audio
_SIG_HEADER = struct.Struct("<4sBII")  # magic, version, frames, landmarks
_DYNAMIC = 1


class CodecError(ValueError):
    """Bytes that are not a fingerprint (or signature) of a version this code reads."""


def _check(data: bytes, header: struct.Struct, magic: bytes) -> tuple:
    if len(data) < header.size:
        raise CodecError("too short")
    fields = header.unpack_from(data)
    if fields[0] != magic:
        raise CodecError(f"bad magic {fields[0]!r}")
    if fields[1] != VERSION:
        raise CodecError(f"unsupported version {fields[1]}")
    return fields


class _Reader:
    def __init__(self, data: bytes, offset: int):
        self.data, self.offset = data, offset

    def take(self, dtype: str, count: int, shape: tuple[int, ...] | None = None) -> np.ndarray:
        size = np.dtype(dtype).itemsize * count
        if self.offset + size > len(self.data):
            raise CodecError("truncated")
        out = np.frombuffer(self.data, dtype, count, self.offset)
        self.offset += size
        return out.reshape(shape) if shape else out

    def done(self) -> None:
        if self.offset != len(self.data):
            raise CodecError("trailing bytes")


def encode_fingerprint(fp: Fingerprint) -> bytes:
    """The fingerprint (without thumbnails) as bytes."""
    v, a = fp.visual, fp.audio
    dynamic = v.dynamic is not None and v.dynamic_mirrors is not None
    header = _FP_HEADER.pack(
        FINGERPRINT_MAGIC,
        VERSION,
        _DYNAMIC if dynamic else 0,
        len(v),
        len(a.hashes),
        v.step,
        v.samples,
        v.hashed,
        a.duration_s,
        a.voiced_s,
        a.has_audio,
    )
    parts = [v.starts.astype("<f4"), v.ends.astype("<f4"), v.hashes, v.mirrors, v.quality.astype(np.uint8)]
    if dynamic:
        parts += [v.dynamic, v.dynamic_mirrors]
    parts += [a.hashes.astype("<u4"), a.times.astype("<f4")]
    return header + b"".join(np.ascontiguousarray(p).tobytes() for p in parts)


def decode_fingerprint(data: bytes, thumbs: bytes | None = None) -> Fingerprint:
    """Inverse of ``encode_fingerprint`` (``thumbs``: the keyframe artifact, for geometric checks)."""
    _, _, flags, n, m, step, samples, hashed, duration, voiced, has_audio = _check(
        data, _FP_HEADER, FINGERPRINT_MAGIC
    )
    r = _Reader(data, _FP_HEADER.size)
    starts, ends = r.take("<f4", n), r.take("<f4", n)
    hashes, mirrors = (
        r.take("u1", n * HASH_BYTES, (n, HASH_BYTES)),
        r.take("u1", n * HASH_BYTES, (n, HASH_BYTES)),
    )
    quality = r.take("u1", n)
    dynamic = dynamic_mirrors = None
    if flags & _DYNAMIC:
        dynamic = r.take("u1", n * HASH_BYTES, (n, HASH_BYTES))
        dynamic_mirrors = r.take("u1", n * HASH_BYTES, (n, HASH_BYTES))
    landmarks, times = r.take("<u4", m), r.take("<f4", m)
    r.done()
    visual = VisualFingerprint(
        starts.astype(np.float32),
        ends.astype(np.float32),
        hashes.copy(),
        mirrors.copy(),
        quality.copy(),
        step,
        samples,
        hashed,
        None if dynamic is None else dynamic.copy(),
        None if dynamic_mirrors is None else dynamic_mirrors.copy(),
    )
    if thumbs:
        from pipeline.dedup.visual import thumbs_from_bytes

        visual.thumb_times, visual.thumbs = thumbs_from_bytes(thumbs)
    audio = AudioFingerprint(
        landmarks.astype(np.uint32), times.astype(np.float32), duration, voiced, bool(has_audio)
    )
    return Fingerprint(visual, audio)


def indexed_landmarks(a: AudioFingerprint) -> np.ndarray:
    """Positions of the landmarks of ``a`` that are indexed: a hash-consistent half."""
    return np.flatnonzero(landmark_half(a.hashes.astype(np.int64)))


def landmark_half(h: np.ndarray) -> np.ndarray:
    """Whether landmark hashes ``h`` are in the indexed half; on (anchor bin, frequency step) only, so a
    query's neighbouring time-step probes stay in the same half."""
    return (((h >> 6) * 2654435761) >> 7) & 1 == 0


@dataclass
class Signature:
    """What the index holds of one video: the hashes of every run of distinct frames and the keys of
    the indexed landmarks."""

    frames: np.ndarray  # uint8 (n, 32)
    landmarks: np.ndarray  # uint32 (m,), < AUDIO_KEYS

    @classmethod
    def of(cls, fp: Fingerprint) -> Signature:
        keys = fp.audio.hashes[indexed_landmarks(fp.audio)].astype(np.int64) % AUDIO_KEYS
        return cls(np.ascontiguousarray(fp.visual.hashes, np.uint8), keys.astype(np.uint32))

    def to_bytes(self) -> bytes:
        header = _SIG_HEADER.pack(SIGNATURE_MAGIC, VERSION, len(self.frames), len(self.landmarks))
        return header + self.frames.tobytes() + self.landmarks.astype("<u4").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Signature:
        _, _, n, m = _check(data, _SIG_HEADER, SIGNATURE_MAGIC)
        r = _Reader(data, _SIG_HEADER.size)
        frames, landmarks = r.take("u1", n * HASH_BYTES, (n, HASH_BYTES)), r.take("<u4", m)
        r.done()
        return cls(frames, landmarks.astype(np.uint32))
