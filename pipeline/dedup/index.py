"""Candidate retrieval that scales: multi-index hashing for frames, an inverted index for audio
landmarks, document-frequency down-weighting, incremental add/remove, save/load.

Frames: each indexed PDQ hash is filed under 16 keys, each made of 20 of its 256 bits (fixed random
slices, bit-sampling LSH); a query frame looks up its own 16 keys and checks the full distance of what
it finds. A copy at distance 20 shares a key with probability 0.97, at 40 with 0.42 — per frame, and a
copy has many frames. Audio: one posting list per landmark hash. Both are CSR arrays (offsets into
flat posting arrays) built by a two-pass counting sort in blocks, so building never needs more than
the index itself plus a block.

Layout: a frozen part plus a small delta (sorted keys, rebuilt on demand) that ``compact()`` folds
in, automatically past ``COMPACT_AT`` entries; removals are tombstones until the next compaction.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.dedup.audio import AudioFingerprint
from pipeline.dedup.fingerprint import Fingerprint
from pipeline.dedup.pdq import HASH_BYTES, hamming, hamming_pairs
from pipeline.dedup.visual import VisualFingerprint

SLICES, SLICE_BITS = 16, 20
_POSITIONS = np.random.default_rng(5).permuted(np.tile(np.arange(256), (SLICES, 1)), axis=1)[:, :SLICE_BITS]
_WEIGHTS = (1 << np.arange(SLICE_BITS)).astype(np.int64)
AUDIO_KEYS = 1 << 23  # landmark hash space (see audio.pack_hash)
AUDIO_INDEX_HALF = True  # index a hash-consistent half of the fingerprint's landmarks (memory)
VISUAL_EVERY_S = 3.0  # at most one indexed frame per this many seconds (the longest run wins)
RETRIEVE_DISTANCE = 72  # an indexed frame this close to a query frame is a hit
COMMON_DISTANCE = 40  # ... this close counts towards the frame's document frequency
COMMON_VIDEOS = 3  # a frame close to more videos than this is common (weight falls as 1 / df)
MIN_VISUAL_HITS = 2
MIN_AUDIO_HITS = 8
VISUAL_BUDGET = 300_000  # postings a query may read, rarest keys first (bounded latency)
AUDIO_BUDGET = 300_000
COMMON_LIST = 30.0  # a frame whose slice lists are this many times longer than average is common
COMPACT_AT = 500_000  # delta entries (frames + landmarks, ~50 lessons of 45 min) that trigger a compaction
BLOCK = 1 << 20  # entries per step of the builds


@dataclass
class Candidate:
    video_id: str
    score: float  # retrieval votes (weighted frames + landmark hits / 4)
    visual_hits: int  # query frames with a close indexed frame of this video
    audio_hits: int  # landmark hits
    allowlisted: bool


@dataclass
class SearchResult:
    candidates: list[Candidate]
    common: np.ndarray  # per query run: 1 distinctive ... 0 common to many indexed videos
    stats: dict = field(default_factory=dict)


def indexed_runs(v: VisualFingerprint) -> np.ndarray:
    """Runs of ``v`` that are indexed (and queried): per ``VISUAL_EVERY_S`` window, the longest."""
    if len(v) == 0:
        return np.zeros(0, np.int64)
    bucket = np.floor(v.starts / VISUAL_EVERY_S).astype(np.int64)
    order = np.lexsort((-(v.ends - v.starts), bucket))
    first = np.concatenate([[True], bucket[order][1:] != bucket[order][:-1]])
    return np.sort(order[first])


def indexed_landmarks(a: AudioFingerprint) -> np.ndarray:
    """Landmarks of ``a`` that are indexed (a hash-consistent half when ``AUDIO_INDEX_HALF``)."""
    if not AUDIO_INDEX_HALF:
        return np.arange(len(a.hashes))
    return np.flatnonzero(_half(a.hashes.astype(np.int64)))


def _half(h: np.ndarray) -> np.ndarray:
    # on (anchor bin, frequency step) only, so the query's time-step probes stay in the same half
    return (((h >> 6) * 2654435761) >> 7) & 1 == 0


def slice_keys(hashes: np.ndarray) -> np.ndarray:
    """(n, SLICES) keys of packed PDQ hashes."""
    bits = np.unpackbits(hashes, axis=1)
    return np.stack([bits[:, _POSITIONS[t]] @ _WEIGHTS for t in range(SLICES)], axis=1)


def _blocks(n: int) -> list[tuple[int, int]]:
    return [(b, min(n, b + BLOCK)) for b in range(0, n, BLOCK)]


def _csr(
    n: int, n_keys: int, keys_of: Callable[[int, int], np.ndarray], payloads: list[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Two-pass counting sort of ``n`` entries whose keys ``keys_of(start, end)`` gives block by block:
    (offsets uint32/int64, payloads in key order)."""
    counts = np.zeros(n_keys, np.int64)
    for b, e in _blocks(n):
        counts += np.bincount(keys_of(b, e), minlength=n_keys)
    offsets = np.zeros(n_keys + 1, np.uint32 if n < 2**32 else np.int64)
    np.cumsum(counts, out=offsets[1:])
    cursor = offsets[:-1].astype(np.int64)
    out = [np.empty(n, p.dtype) for p in payloads]
    for b, e in _blocks(n):
        k = keys_of(b, e)
        order = np.argsort(k, kind="stable")
        ks = k[order]
        pos = cursor[ks] + (np.arange(len(ks)) - np.searchsorted(ks, ks, side="left"))
        for o, p in zip(out, payloads, strict=True):
            o[pos] = p[b:e][order]
        uniq, cnt = np.unique(ks, return_counts=True)
        cursor[uniq] += cnt
    return offsets, out


def _rarest(lengths: np.ndarray, budget: int) -> np.ndarray:
    """Indices of the lookups to read: shortest posting lists first, within ``budget`` postings."""
    order = np.argsort(lengths, kind="stable")
    return np.sort(order[np.cumsum(lengths[order]) <= budget])


def _expand(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lookup index, posting position) of every posting in the ranges [lo, hi)."""
    lo, hi = lo.astype(np.int64), hi.astype(np.int64)
    n = hi - lo
    which = np.repeat(np.arange(len(lo)), n)
    pos = np.repeat(lo - (np.cumsum(n) - n), n) + np.arange(int(n.sum()))
    return which, pos


class _Flags:
    """A growable boolean array indexed by slot."""

    def __init__(self, values: np.ndarray | None = None):
        values = np.zeros(0, bool) if values is None else np.asarray(values, bool)
        self._a = np.concatenate([values, np.zeros(max(16, len(values)), bool)])
        self.n = len(values)

    def append(self, v: bool) -> None:
        if self.n == len(self._a):
            self._a = np.concatenate([self._a, np.zeros(len(self._a), bool)])
        self._a[self.n] = v
        self.n += 1

    @property
    def array(self) -> np.ndarray:
        return self._a[: self.n]


@dataclass
class _Delta:
    """Recently added entries, searched through sorted keys until the next compaction."""

    visual: list[tuple[int, np.ndarray]] = field(default_factory=list)  # slot, hashes
    audio: list[tuple[int, np.ndarray]] = field(default_factory=list)  # slot, landmark keys
    size: int = 0
    _cache: dict | None = None

    def add_visual(self, slot: int, hashes: np.ndarray) -> None:
        self.visual.append((slot, hashes))
        self.size += len(hashes)
        self._cache = None

    def add_audio(self, slot: int, keys: np.ndarray) -> None:
        self.audio.append((slot, keys))
        self.size += len(keys)
        self._cache = None

    def arrays(self) -> dict:
        if self._cache is None:
            hashes = np.concatenate([h for _, h in self.visual] or [np.zeros((0, HASH_BYTES), np.uint8)])
            keys = slice_keys(hashes)
            order = np.argsort(keys, axis=0, kind="stable")
            a_keys = np.concatenate([k for _, k in self.audio] or [np.zeros(0, np.int32)])
            a_order = np.argsort(a_keys, kind="stable")
            self._cache = {
                "v_video": _slots(self.visual),
                "v_hash": hashes,
                "v_sorted": np.take_along_axis(keys, order, axis=0),
                "v_order": order,
                "a_keys": a_keys[a_order],
                "a_video": _slots(self.audio)[a_order],
            }
        return self._cache


def _slots(parts: list[tuple[int, np.ndarray]]) -> np.ndarray:
    """The slot of every entry of (slot, entries) parts."""
    return np.concatenate([np.full(len(x), s, np.uint32) for s, x in parts] or [np.zeros(0, np.uint32)])


class DedupIndex:
    """In-memory index of many videos' fingerprints, keyed by video id."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self._slot: dict[str, int] = {}
        self._allow, self._alive = _Flags(), _Flags()
        self.v_video = np.zeros(0, np.uint32)  # frozen frames: video slot, hash
        self.v_hash = np.zeros((0, HASH_BYTES), np.uint8)
        self.v_offsets = np.zeros((SLICES, 2), np.uint32)  # per slice: CSR offsets over its keys
        self.v_postings = np.zeros((SLICES, 0), np.uint32)  # per slice: frame numbers in key order
        self.a_offsets = np.zeros(2, np.uint32)  # CSR over landmark hashes
        self.a_video = np.zeros(0, np.uint32)
        self._delta = _Delta()
        self._bulk = False

    # -- membership ---------------------------------------------------------------------------
    @property
    def alive(self) -> np.ndarray:
        return self._alive.array

    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, video_id: object) -> bool:
        return video_id in self._slot

    def is_allowlisted(self, video_id: str) -> bool:
        slot = self._slot.get(video_id)
        return slot is not None and bool(self._allow.array[slot])

    def add(self, video_id: str, fp: Fingerprint, *, allowlisted: bool = False) -> None:
        """Index ``fp`` under ``video_id`` (replacing an earlier version of it)."""
        self.remove(video_id)
        slot = len(self.ids)
        self.ids.append(video_id)
        self._slot[video_id] = slot
        self._allow.append(allowlisted)
        self._alive.append(True)
        runs = indexed_runs(fp.visual)
        if len(runs):
            self._delta.add_visual(slot, fp.visual.hashes[runs])
        keep = indexed_landmarks(fp.audio)
        if len(keep):
            self._delta.add_audio(slot, (fp.audio.hashes[keep] % AUDIO_KEYS).astype(np.int32))
        if not self._bulk and self._delta.size >= COMPACT_AT:
            self.compact()

    def remove(self, video_id: str) -> bool:
        """Forget ``video_id``; False when it was not indexed."""
        slot = self._slot.pop(video_id, None)
        if slot is None:
            return False
        self._alive.array[slot] = False
        return True

    @classmethod
    def build(cls, items: Iterable[tuple[str, Fingerprint, bool]]) -> DedupIndex:
        """A compacted index of (video id, fingerprint, allowlisted) items, e.g. read from the database."""
        index = cls()
        index._bulk = True
        for video_id, fp, allowlisted in items:
            index.add(video_id, fp, allowlisted=allowlisted)
        index._bulk = False
        index.compact()
        return index

    # -- compaction ---------------------------------------------------------------------------
    def compact(self) -> None:
        """Fold the delta into the frozen arrays and drop removed videos."""
        alive = self.alive
        delta, self._delta = self._delta, _Delta()
        keep = alive[self.v_video]
        self.v_video = np.concatenate([self.v_video[keep], _slots(delta.visual)])
        self.v_hash = np.concatenate([self.v_hash[keep]] + [h for _, h in delta.visual])
        delta.visual = []  # free the delta as soon as it is copied
        self._build_visual()

        keep = alive[self.a_video]
        counts = np.diff(self.a_offsets.astype(np.int64))
        old_keys = np.repeat(np.arange(len(counts), dtype=np.int32), counts)[keep]
        keys = np.concatenate([old_keys] + [k for _, k in delta.audio])
        vid = np.concatenate([self.a_video[keep], _slots(delta.audio)])
        del old_keys
        delta.audio = []
        self.a_offsets, (self.a_video,) = _csr(
            len(keys), AUDIO_KEYS, lambda b, e: keys[b:e].astype(np.int64), [vid]
        )

    def _build_visual(self) -> None:
        n = len(self.v_hash)
        counts = np.zeros((SLICES, 1 << SLICE_BITS), np.int64)
        for b, e in _blocks(n):
            keys = slice_keys(self.v_hash[b:e])
            for t in range(SLICES):
                counts[t] += np.bincount(keys[:, t], minlength=1 << SLICE_BITS)
        self.v_offsets = np.zeros((SLICES, (1 << SLICE_BITS) + 1), np.uint32)
        np.cumsum(counts, axis=1, out=self.v_offsets[:, 1:])
        cursor = self.v_offsets[:, :-1].astype(np.int64)
        self.v_postings = np.empty((SLICES, n), np.uint32)
        for b, e in _blocks(n):
            keys = slice_keys(self.v_hash[b:e])
            ids = np.arange(b, e, dtype=np.uint32)
            for t in range(SLICES):
                order = np.argsort(keys[:, t], kind="stable")
                ks = keys[order, t]
                pos = cursor[t, ks] + (np.arange(len(ks)) - np.searchsorted(ks, ks, side="left"))
                self.v_postings[t, pos] = ids[order]
                uniq, cnt = np.unique(ks, return_counts=True)
                cursor[t, uniq] += cnt

    # -- search -------------------------------------------------------------------------------
    def search(self, fp: Fingerprint, *, limit: int = 20, exclude: str | None = None) -> SearchResult:
        """Candidates for ``fp`` (the video ``exclude``, usually the query itself, left out), best first."""
        usable = self.alive.copy()
        if exclude in self._slot:
            usable[self._slot[exclude]] = False
        v_votes, v_hits, common = self._search_visual(fp.visual, usable)
        a_votes = self._search_audio(fp.audio, usable)
        a_hits = np.where(a_votes >= MIN_AUDIO_HITS, a_votes, 0)
        score = v_votes + a_hits / 4.0
        found = np.flatnonzero(((v_hits >= MIN_VISUAL_HITS) | (a_hits > 0)) & usable)
        found = found[np.argsort(-score[found], kind="stable")][:limit]
        allow = self._allow.array
        cands = [
            Candidate(self.ids[s], round(float(score[s]), 2), int(v_hits[s]), int(a_votes[s]), bool(allow[s]))
            for s in found
        ]
        stats = {
            "videos": len(self),
            "visual_entries": len(self.v_hash),
            "audio_postings": len(self.a_video),
            "delta_entries": self._delta.size,
        }
        return SearchResult(cands, common, stats)

    def _visual_hits(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(query index, slot, distance) of indexed frames within ``RETRIEVE_DISTANCE`` of ``q``, and per
        query hash the median length of its posting lists relative to the average (commonness)."""
        keys = slice_keys(q)
        qi_parts, e_parts = [], []
        crowding = np.zeros(len(q))
        if len(self.v_hash):
            lo = np.stack([self.v_offsets[t][keys[:, t]] for t in range(SLICES)], axis=1).astype(np.int64)
            hi = np.stack([self.v_offsets[t][keys[:, t] + 1] for t in range(SLICES)], axis=1).astype(np.int64)
            lengths = hi - lo
            crowding = np.median(lengths, axis=1) / max(1.0, len(self.v_hash) / (1 << SLICE_BITS))
            use = _rarest(lengths.ravel(), VISUAL_BUDGET)
            qi_use, t_use = np.divmod(use, SLICES)
            which, pos = _expand(lo.ravel()[use], hi.ravel()[use])
            qi_parts.append(qi_use[which])
            e_parts.append(self.v_postings[t_use[which], pos].astype(np.int64))
        qi = np.concatenate(qi_parts) if qi_parts else np.zeros(0, np.int64)
        ei = np.concatenate(e_parts) if e_parts else np.zeros(0, np.int64)
        d = hamming_pairs(q[qi], self.v_hash[ei])  # a frame met through several slices is simply met again
        out = [(qi, self.v_video[ei].astype(np.int64), d)]
        if self._delta.visual:
            dv = self._delta.arrays()
            found = []
            for t in range(SLICES):
                col = dv["v_sorted"][:, t]
                which, pos = _expand(
                    np.searchsorted(col, keys[:, t], "left"), np.searchsorted(col, keys[:, t], "right")
                )
                found.append(which.astype(np.int64) << 32 | dv["v_order"][pos, t].astype(np.int64))
            pair = np.unique(np.concatenate(found))
            dq, de = pair >> 32, pair & 0xFFFFFFFF
            out.append((dq, dv["v_video"][de].astype(np.int64), hamming_pairs(q[dq], dv["v_hash"][de])))
        qi, slot, d = (np.concatenate(x) for x in zip(*out, strict=True))
        close = d <= RETRIEVE_DISTANCE
        return qi[close], slot[close], d[close], crowding

    def _search_visual(
        self, v: VisualFingerprint, usable: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n_slots = len(usable)
        votes, hits = np.zeros(n_slots), np.zeros(n_slots, np.int64)
        if len(v) == 0:
            return votes, hits, np.ones(0)
        asked = indexed_runs(v)  # the query is sampled like an indexed video
        qi, slot, d, crowding = self._visual_hits(np.concatenate([v.hashes[asked], v.mirrors[asked]]))
        ok = usable[slot]
        run, slot, d = asked[qi[ok] % len(asked)], slot[ok], d[ok]  # a mirrored hash counts for its run
        # document frequency: distinct videos holding a frame close to each asked run (crowded posting
        # lists, partly skipped by the budget, say the same)
        near = d <= COMMON_DISTANCE
        df = np.bincount(np.unique(run[near] * n_slots + slot[near]) // n_slots, minlength=len(v))
        weight = np.minimum(1.0, COMMON_VIDEOS / np.maximum(df, 1))
        crowded = asked[crowding[: len(asked)] > COMMON_LIST]
        weight[crowded] = np.minimum(weight[crowded], 1.0 / 3)
        common = _spread(v, asked, weight)
        # one vote per (query run, video): its best similarity, weighted by distinctiveness
        sim = (1.0 - d / (RETRIEVE_DISTANCE + 1)) * common[run]
        key = run * n_slots + slot
        order = np.lexsort((-sim, key))
        first = np.concatenate([[True], key[order][1:] != key[order][:-1]]) if len(key) else np.zeros(0, bool)
        votes += np.bincount(slot[order][first], sim[order][first], minlength=n_slots)
        hits += np.bincount(slot[order][first], minlength=n_slots)
        return votes, hits, common

    def _search_audio(self, a: AudioFingerprint, usable: np.ndarray) -> np.ndarray:
        votes = np.zeros(len(usable))
        base = a.hashes.astype(np.int64)
        if len(base) == 0:
            return votes
        keys = np.concatenate([base, base + 1, base - 1]) % AUDIO_KEYS  # neighbouring time-step bins
        keys = keys[_half(keys)] if AUDIO_INDEX_HALF else keys
        slots = []
        if len(self.a_video):
            lo, hi = self.a_offsets[keys].astype(np.int64), self.a_offsets[keys + 1].astype(np.int64)
            use = _rarest(hi - lo, AUDIO_BUDGET)  # the most frequent landmarks say the least
            _, pos = _expand(lo[use], hi[use])
            slots.append(self.a_video[pos].astype(np.int64))
        if self._delta.audio:
            da = self._delta.arrays()
            _, pos = _expand(
                np.searchsorted(da["a_keys"], keys, "left"), np.searchsorted(da["a_keys"], keys, "right")
            )
            slots.append(da["a_video"][pos].astype(np.int64))
        if slots:
            slot = np.concatenate(slots)
            votes += np.bincount(slot[usable[slot]], minlength=len(usable))
        return votes

    # -- size and persistence -----------------------------------------------------------------
    def nbytes(self) -> dict[str, int]:
        """Memory held by the frozen arrays, per signal."""
        visual = self.v_video.nbytes + self.v_hash.nbytes + self.v_offsets.nbytes + self.v_postings.nbytes
        audio = self.a_offsets.nbytes + self.a_video.nbytes
        return {"visual": visual, "audio": audio}

    def save(self, path: Path) -> None:
        """Write the compacted index to ``path`` (one .npz file)."""
        self.compact()
        meta = json.dumps({"ids": self.ids, "version": 2}).encode()
        arrays = {name: getattr(self, name) for name in _SAVED}
        with open(path, "wb") as f:
            np.savez(
                f, meta=np.frombuffer(meta, np.uint8), allow=self._allow.array, alive=self.alive, **arrays
            )

    @classmethod
    def load(cls, path: Path) -> DedupIndex:
        index = cls()
        with np.load(io.BytesIO(Path(path).read_bytes())) as z:
            index.ids = list(json.loads(z["meta"].tobytes())["ids"])
            index._allow, index._alive = _Flags(z["allow"]), _Flags(z["alive"])
            for name in _SAVED:
                setattr(index, name, z[name])
        index._slot = {vid: i for i, vid in enumerate(index.ids) if index.alive[i]}
        return index


_SAVED = ("v_video", "v_hash", "v_offsets", "v_postings", "a_offsets", "a_video")


def _spread(v: VisualFingerprint, asked: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Per run of ``v``: the weight of the asked run nearest to it in hash (1 when none is near)."""
    out = np.ones(len(v))
    out[asked] = weight[asked]
    low = asked[weight[asked] < 1.0]
    if len(low):
        d = hamming(v.hashes, v.hashes[low])
        near = d.min(axis=1) <= COMMON_DISTANCE
        out[near] = np.minimum(out[near], weight[low][d.argmin(axis=1)][near])
    return out
