"""Landmark index: an inverted file from audio landmark keys to video slots.

Frozen part: CSR arrays (offsets over the 2^23 keys, slots in key order) built by a counting sort in
blocks, linear in the postings, and memory-mappable from a snapshot. Tail: entries added since,
searched through sorted keys until ``rebuild`` folds them in. A key whose posting list is ``CROWDED``
times longer than average (a landmark half the shard's lessons hold) is not read: it says nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pipeline.dedup.codec import AUDIO_KEYS

BLOCK = 1 << 20  # entries per step of the build
CROWDED = 30.0  # a posting list this many times longer than average is not read
MIN_CROWD = 64  # ... and never one shorter than this


def blocks(n: int) -> list[tuple[int, int]]:
    return [(b, min(n, b + BLOCK)) for b in range(0, n, BLOCK)]


def csr(
    n: int, n_keys: int, keys_of: Callable[[int, int], np.ndarray], values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Two-pass counting sort of ``n`` entries whose keys ``keys_of(start, end)`` gives block by block:
    (offsets, ``values`` in key order)."""
    counts = np.zeros(n_keys, np.int64)
    for b, e in blocks(n):
        counts += np.bincount(keys_of(b, e), minlength=n_keys)
    offsets = np.zeros(n_keys + 1, np.uint32 if n < 2**32 else np.int64)
    np.cumsum(counts, out=offsets[1:])
    cursor = offsets[:-1].astype(np.int64)
    out = np.empty(n, values.dtype)
    for b, e in blocks(n):
        k = keys_of(b, e)
        order = np.argsort(k, kind="stable")
        ks = k[order]
        place, uniq, cnt = sorted_runs(ks)
        out[cursor[ks] + place] = values[b:e][order]
        cursor[uniq] += cnt
    return offsets, out


def sorted_runs(ks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For sorted keys: each entry's rank among its equals, the distinct keys and their counts."""
    idx = np.arange(len(ks))
    first = np.ones(len(ks), bool)
    np.not_equal(ks[1:], ks[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    rank = idx - np.maximum.accumulate(np.where(first, idx, 0))
    return rank, ks[starts], np.diff(np.append(starts, len(ks)))


def expand(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Every position in the ranges [lo, hi)."""
    lo, hi = lo.astype(np.int64), hi.astype(np.int64)
    n = hi - lo
    return np.repeat(lo - (np.cumsum(n) - n), n) + np.arange(int(n.sum()))


class LandmarkIndex:
    """Landmark keys -> video slots."""

    def __init__(self, offsets: np.ndarray | None = None, slots: np.ndarray | None = None):
        self.offsets = np.zeros(AUDIO_KEYS + 1, np.uint32) if offsets is None else offsets
        self.slots = np.zeros(0, np.uint32) if slots is None else slots
        self._tail: list[tuple[np.ndarray, np.ndarray]] = []  # (keys, slots)
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def build(cls, keys: np.ndarray, slots: np.ndarray) -> LandmarkIndex:
        """The frozen index of postings (``keys``, ``slots``), in time linear in their number."""
        offsets, ordered = csr(
            len(keys), AUDIO_KEYS, lambda b, e: keys[b:e].astype(np.int64), slots.astype(np.uint32)
        )
        return cls(offsets, ordered)

    def __len__(self) -> int:
        return len(self.slots) + self.tail_size

    @property
    def tail_size(self) -> int:
        return sum(len(k) for k, _ in self._tail)

    def add(self, keys: np.ndarray, slot: int) -> None:
        if len(keys):
            self._tail.append((keys.astype(np.int64), np.full(len(keys), slot, np.uint32)))
            self._sorted = None

    def rebuild(self, alive: np.ndarray) -> LandmarkIndex:
        """A frozen index of the frozen part and the tail, videos not ``alive`` left out."""
        counts = np.diff(self.offsets.astype(np.int64))
        keys = np.concatenate([np.repeat(np.arange(AUDIO_KEYS), counts), *(k for k, _ in self._tail)])
        slots = np.concatenate([np.asarray(self.slots), *(s for _, s in self._tail)])
        keep = alive[slots]
        return LandmarkIndex.build(keys[keep], slots[keep])

    def hits(self, keys: np.ndarray) -> np.ndarray:
        """The slot of every posting under ``keys`` (crowded frozen lists left out)."""
        keys = keys.astype(np.int64)
        lo, hi = self.offsets[keys].astype(np.int64), self.offsets[keys + 1].astype(np.int64)
        use = (hi - lo) <= max(MIN_CROWD, CROWDED * len(self.slots) / (AUDIO_KEYS / 2))  # half is indexed
        out = [np.asarray(self.slots)[expand(lo[use], hi[use])]]
        if self._tail:
            if self._sorted is None:
                k = np.concatenate([k for k, _ in self._tail])
                s = np.concatenate([s for _, s in self._tail])
                order = np.argsort(k, kind="stable")
                self._sorted = (k[order], s[order])
            tk, ts = self._sorted
            out.append(ts[expand(np.searchsorted(tk, keys, "left"), np.searchsorted(tk, keys, "right"))])
        return np.concatenate(out).astype(np.int64)

    def nbytes(self) -> int:
        return self.offsets.nbytes + self.slots.nbytes + self.tail_size * 12

    def arrays(self) -> dict[str, np.ndarray]:
        """The frozen arrays, for a snapshot (fold the tail in first)."""
        return {"offsets": self.offsets, "slots": self.slots}
