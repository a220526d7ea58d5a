"""Frame index: PDQ hashes filed under their video's slot, searched by Hamming radius with multi-index
hashing (bit sampling): each hash is filed under ``SLICES`` keys of ``SLICE_BITS`` fixed random bits,
a query frame looks up its own keys and checks the full distance of what it finds. A copy at distance
16 shares a key with probability 0.99, at 31 with 0.68, at 48 with 0.19, per frame; a copy has many.

Measured against FAISS's binary indexes (flat, hash, multi-hash, IVF) in SCALING.md: at the recall
that copies need it answers 6-23x faster than IVF (nprobe 4-16), FAISS's only contender, and builds
in linear time without training.

Frozen part: per slice, CSR offsets over the keys and the entries in key order (memory-mappable).
Tail: entries added since the last build, searched through sorted keys. Posting lists longer than
``CROWDED`` times the average are skipped and their query frames called crowded (a common frame).
"""

from __future__ import annotations

import numpy as np

from pipeline.dedup.landmarks import blocks, expand, sorted_runs
from pipeline.dedup.pdq import HASH_BYTES, hamming_pairs

SLICES, SLICE_BITS = 16, 20
_POSITIONS = np.random.default_rng(5).permuted(np.tile(np.arange(256), (SLICES, 1)), axis=1)[:, :SLICE_BITS]
CROWDED = 30.0  # a posting list this many times longer than average is not read
MIN_CROWD = 64  # ... and never one shorter than this


def _byte_tables() -> list[list[tuple[int, np.ndarray]]]:
    """Per slice, per hash byte holding some of its bits: what each byte value adds to the key."""
    values = np.arange(256)
    tables = []
    for t in range(SLICES):
        parts: dict[int, np.ndarray] = {}
        for i, p in enumerate(_POSITIONS[t]):  # unpackbits order: bit p is bit 7 - p % 8 of byte p // 8
            bit = (values >> (7 - p % 8) & 1) << i
            parts[p // 8] = parts.get(p // 8, 0) | bit
        tables.append([(j, table.astype(np.int32)) for j, table in sorted(parts.items())])
    return tables


_TABLES = _byte_tables()


def slice_keys(hashes: np.ndarray) -> np.ndarray:
    """(n, SLICES) keys of packed PDQ hashes: slice t's i-th bit is bit ``_POSITIONS[t, i]`` of the hash
    (read a byte at a time through lookup tables)."""
    columns = np.ascontiguousarray(np.asarray(hashes, np.uint8).T)
    keys = np.zeros((SLICES, columns.shape[1]), np.int32)
    for t, parts in enumerate(_TABLES):
        for j, table in parts:
            keys[t] |= table[columns[j]]
    return keys.T.astype(np.int64)


class FrameIndex:
    """Hashes (n, 32) uint8 -> video slots."""

    def __init__(self, hashes=None, slots=None, offsets=None, postings=None):
        self.hashes = np.zeros((0, HASH_BYTES), np.uint8) if hashes is None else hashes
        self.slots = np.zeros(0, np.uint32) if slots is None else slots
        self.offsets = np.zeros((SLICES, (1 << SLICE_BITS) + 1), np.uint32) if offsets is None else offsets
        self.postings = np.zeros((SLICES, 0), np.uint32) if postings is None else postings
        self._tail: list[tuple[np.ndarray, np.ndarray]] = []  # (hashes, slots)
        self._sorted: dict | None = None

    @classmethod
    def build(cls, hashes: np.ndarray, slots: np.ndarray) -> FrameIndex:
        """The frozen index of ``hashes`` (their videos' ``slots``), in time linear in their number."""
        hashes = np.ascontiguousarray(hashes, np.uint8)
        n = len(hashes)
        counts = np.zeros((SLICES, 1 << SLICE_BITS), np.int64)
        for b, e in blocks(n):  # two passes of a counting sort, all slices at once
            keys = slice_keys(hashes[b:e])
            for t in range(SLICES):
                counts[t] += np.bincount(keys[:, t], minlength=1 << SLICE_BITS)
        offsets = np.zeros((SLICES, (1 << SLICE_BITS) + 1), np.uint32 if n < 2**32 else np.int64)
        np.cumsum(counts, axis=1, out=offsets[:, 1:])
        cursor = offsets[:, :-1].astype(np.int64)
        postings = np.empty((SLICES, n), np.uint32)
        for b, e in blocks(n):
            keys = slice_keys(hashes[b:e])
            ids = np.arange(b, e, dtype=np.uint32)
            for t in range(SLICES):
                order = np.argsort(keys[:, t], kind="stable")
                ks = keys[order, t]
                place, uniq, cnt = sorted_runs(ks)
                postings[t, cursor[t, ks] + place] = ids[order]
                cursor[t, uniq] += cnt
        return cls(hashes, np.asarray(slots, np.uint32), offsets, postings)

    def __len__(self) -> int:
        return len(self.slots) + self.tail_size

    @property
    def tail_size(self) -> int:
        return sum(len(s) for _, s in self._tail)

    def add(self, hashes: np.ndarray, slots: np.ndarray) -> None:
        if len(hashes):
            self._tail.append((np.ascontiguousarray(hashes, np.uint8), np.asarray(slots, np.uint32)))
            self._sorted = None

    def rebuild(self, alive: np.ndarray) -> FrameIndex:
        """A frozen index of the frozen part and the tail, videos not ``alive`` left out."""
        hashes = np.concatenate([np.asarray(self.hashes), *(h for h, _ in self._tail)])
        slots = np.concatenate([np.asarray(self.slots), *(s for _, s in self._tail)])
        keep = alive[slots]
        return FrameIndex.build(hashes[keep], slots[keep])

    def _tail_arrays(self) -> dict:
        if self._sorted is None:
            hashes = np.concatenate([h for h, _ in self._tail])
            keys = slice_keys(hashes)
            order = np.argsort(keys, axis=0, kind="stable")
            self._sorted = {
                "hashes": hashes,
                "slots": np.concatenate([s for _, s in self._tail]),
                "keys": np.take_along_axis(keys, order, axis=0),
                "order": order,
            }
        return self._sorted

    def within(
        self, q: np.ndarray, radius: int, slices: int = SLICES
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(query row, slot, distance) of indexed frames within ``radius`` of the rows of ``q``, met
        through the first ``slices`` slices, and per row whether most of its posting lists are crowded
        (a frame common to many videos)."""
        keys = slice_keys(q)[:, :slices]
        crowded = np.zeros(len(q), bool)
        out = []
        if len(self.slots):
            rows = np.arange(slices)
            lo = np.asarray(self.offsets)[rows, keys].astype(np.int64)
            hi = np.asarray(self.offsets)[rows, keys + 1].astype(np.int64)
            too_long = (hi - lo) > max(MIN_CROWD, CROWDED * len(self.slots) / (1 << SLICE_BITS))
            crowded = too_long.sum(axis=1) > slices // 2
            qi, t = np.nonzero(~too_long)
            lo, hi = lo[qi, t], hi[qi, t]
            n = hi - lo
            entries = np.asarray(self.postings)[np.repeat(t, n), expand(lo, hi)].astype(np.int64)
            qi = np.repeat(qi, n)
            out.append(
                (qi, np.asarray(self.slots)[entries], hamming_pairs(q[qi], np.asarray(self.hashes)[entries]))
            )
        if self._tail:
            tail = self._tail_arrays()
            found = []
            for t in range(slices):
                col = tail["keys"][:, t]
                lo, hi = np.searchsorted(col, keys[:, t], "left"), np.searchsorted(col, keys[:, t], "right")
                which = np.repeat(np.arange(len(q)), hi - lo)
                found.append(which << 32 | tail["order"][expand(lo, hi), t].astype(np.int64))
            pair = np.unique(np.concatenate(found))  # a frame met through several slices once
            qi, e = pair >> 32, pair & 0xFFFFFFFF
            out.append((qi, tail["slots"][e], hamming_pairs(q[qi], tail["hashes"][e])))
        if not out:
            empty = np.zeros(0, np.int64)
            return empty, empty, empty, crowded
        qi, slot, d = (np.concatenate(x) for x in zip(*out, strict=True))
        close = d <= radius
        return qi[close], slot[close].astype(np.int64), d[close].astype(np.int64), crowded

    def nbytes(self) -> int:
        frozen = self.hashes.nbytes + self.slots.nbytes + self.offsets.nbytes + self.postings.nbytes
        return frozen + self.tail_size * (HASH_BYTES + 4)

    def arrays(self) -> dict[str, np.ndarray]:
        """The frozen arrays, for a snapshot (fold the tail in first)."""
        return {
            "hashes": self.hashes,
            "slots": self.slots,
            "offsets": self.offsets,
            "postings": self.postings,
        }
