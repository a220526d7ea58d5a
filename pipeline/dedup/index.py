"""One shard of the duplicate index: candidate retrieval for frames (multi-index hashing,
``frames.FrameIndex``) and audio landmarks (an inverted file, ``landmarks.LandmarkIndex``), with
document-frequency down-weighting of frames common to many videos and allowlisted material marked.

Every run of distinct frames is indexed and asked: a copy's frame is within 31 bits of the aligned
original frame for 85-99% of frames under re-encoding, grey, speed changes and excerpts, but of the
one frame per 3 s indexed before for only 31-39% (SCALING.md). No read budget: only posting lists
crowded relative to the shard's average are skipped, so recall does not fall as a shard grows.

Built in bulk from compact arrays (``build_arrays``, linear in the entries), grown by ``add`` (the tail
committed after a snapshot; removals are tombstones), folded by ``compact``, saved to and loaded from
one file (``save``/``load``, memory-mapped).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.dedup import snapshot
from pipeline.dedup.codec import AUDIO_KEYS, Signature, landmark_half
from pipeline.dedup.fingerprint import Fingerprint
from pipeline.dedup.frames import SLICES, FrameIndex
from pipeline.dedup.landmarks import LandmarkIndex
from pipeline.dedup.pdq import HASH_BYTES, hamming
from pipeline.dedup.visual import VisualFingerprint

RADIUS = 48  # an indexed frame this close to a query frame is a hit
# A query of more runs than this (a whole lesson) meets the index through half the slices: its cost
# halves, and a copied stretch of 2 minutes or more still meets its source through dozens of runs.
LONG_QUERY_RUNS = 600
COMMON_DISTANCE = 40  # ... this close counts towards the frame's document frequency
COMMON_VIDEOS = 3  # a frame close to more videos than this is common (weight falls as 1 / df)
MIN_VISUAL_HITS = 2  # distinct query frames meeting a video
MIN_AUDIO_HITS = 8
COMPACT_AT = 1_000_000  # tail entries (frames + landmarks, ~100 lessons of 45 min) that make ``add`` compact
FORMAT = 3


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


def merge(results: Sequence[SearchResult], limit: int = 20) -> SearchResult:
    """One result from the results of several shards: the best candidates overall; a frame common in
    any shard is common."""
    cands = sorted((c for r in results for c in r.candidates), key=lambda c: -c.score)[:limit]
    common = np.minimum.reduce([r.common for r in results]) if results else np.ones(0)
    stats = {k: sum(r.stats.get(k, 0) for r in results) for k in ("videos", "frames", "landmarks")}
    return SearchResult(cands, common, stats)


def probe_keys(hashes: np.ndarray) -> np.ndarray:
    """Index keys a query's landmarks look up: each hash and its neighbouring time-step bins, in the
    indexed half."""
    base = hashes.astype(np.int64)
    keys = np.concatenate([base, base + 1, base - 1]) % AUDIO_KEYS
    return keys[landmark_half(keys)]


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


class DedupIndex:
    """One shard: every video's signature, keyed by video id."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self._slot: dict[str, int] = {}
        self._allow, self._alive = _Flags(), _Flags()
        self.frames = FrameIndex()
        self.landmarks = LandmarkIndex()

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

    def _new_slot(self, video_id: str, allowlisted: bool) -> int:
        self.remove(video_id)
        slot = len(self.ids)
        self.ids.append(video_id)
        self._slot[video_id] = slot
        self._allow.append(allowlisted)
        self._alive.append(True)
        return slot

    def add(
        self,
        video_id: str,
        entry: Fingerprint | Signature,
        *,
        allowlisted: bool = False,
        compact_at: int | None = COMPACT_AT,
    ) -> None:
        """Index ``entry`` under ``video_id`` (replacing an earlier version of it), in the tail; compacts
        past ``compact_at`` tail entries (None: never here, an indexer's rebuilt snapshot replaces the
        tail instead)."""
        sig = entry if isinstance(entry, Signature) else Signature.of(entry)
        slot = self._new_slot(video_id, allowlisted)
        self.frames.add(sig.frames, np.full(len(sig.frames), slot))
        self.landmarks.add(sig.landmarks, slot)
        if compact_at is not None and self.frames.tail_size + self.landmarks.tail_size >= compact_at:
            self.compact()

    def remove(self, video_id: str) -> bool:
        """Forget ``video_id``; False when it was not indexed."""
        slot = self._slot.pop(video_id, None)
        if slot is None:
            return False
        self._alive.array[slot] = False
        return True

    @classmethod
    def build(cls, items: Iterable[tuple[str, Fingerprint | Signature, bool]]) -> DedupIndex:
        """An index of (video id, fingerprint or signature, allowlisted) items."""
        ids, allow, sigs = [], [], []
        for video_id, entry, allowlisted in items:
            ids.append(video_id)
            allow.append(allowlisted)
            sigs.append(entry if isinstance(entry, Signature) else Signature.of(entry))
        frames = [s.frames for s in sigs]
        landmarks = [s.landmarks for s in sigs]
        return cls.build_arrays(
            ids,
            np.array(allow, bool),
            np.array([len(f) for f in frames], np.int64),
            np.concatenate(frames) if frames else np.zeros((0, HASH_BYTES), np.uint8),
            np.array([len(k) for k in landmarks], np.int64),
            np.concatenate(landmarks) if landmarks else np.zeros(0, np.uint32),
        )

    @classmethod
    def build_arrays(
        cls,
        ids: Sequence[str],
        allowlisted: np.ndarray,
        frame_counts: np.ndarray,
        frames: np.ndarray,
        landmark_counts: np.ndarray,
        landmarks: np.ndarray,
    ) -> DedupIndex:
        """Bulk build from the concatenated signatures of ``ids`` (``frame_counts[i]`` frames and
        ``landmark_counts[i]`` landmark keys each, in order), in time linear in the entries. A video
        listed twice keeps its last entry."""
        index = cls()
        for video_id, allow in zip(ids, allowlisted, strict=True):
            index._new_slot(video_id, bool(allow))
        alive = index.alive
        f_slots = np.repeat(np.arange(len(ids)), frame_counts)
        a_slots = np.repeat(np.arange(len(ids), dtype=np.uint32), landmark_counts)
        f_keep, a_keep = alive[f_slots], alive[a_slots]
        index.frames = FrameIndex.build(frames[f_keep], f_slots[f_keep])
        index.landmarks = LandmarkIndex.build(landmarks[a_keep], a_slots[a_keep])
        return index

    def compact(self) -> None:
        """Fold the tails into the frozen arrays and drop removed videos."""
        self.frames = self.frames.rebuild(self.alive)
        self.landmarks = self.landmarks.rebuild(self.alive)

    # -- search -------------------------------------------------------------------------------
    def search(self, fp: Fingerprint, *, limit: int = 20, exclude: str | None = None) -> SearchResult:
        """Candidates for ``fp`` (the video ``exclude``, usually the query itself, left out), best first."""
        usable = self.alive.copy()
        if exclude in self._slot:
            usable[self._slot[exclude]] = False
        v_votes, v_hits, common = self._search_visual(fp.visual, usable)
        a_votes = np.zeros(len(usable))
        if len(fp.audio.hashes):
            slot = self.landmarks.hits(probe_keys(fp.audio.hashes))
            a_votes = np.bincount(slot[usable[slot]], minlength=len(usable)).astype(float)
        a_hits = np.where(a_votes >= MIN_AUDIO_HITS, a_votes, 0)
        score = v_votes + a_hits / 4.0
        found = np.flatnonzero(((v_hits >= MIN_VISUAL_HITS) | (a_hits > 0)) & usable)
        found = found[np.argsort(-score[found], kind="stable")][:limit]
        allow = self._allow.array
        cands = [
            Candidate(self.ids[s], round(float(score[s]), 2), int(v_hits[s]), int(a_votes[s]), bool(allow[s]))
            for s in found
        ]
        stats = {"videos": len(self), "frames": len(self.frames), "landmarks": len(self.landmarks)}
        return SearchResult(cands, common, stats)

    def _search_visual(
        self, v: VisualFingerprint, usable: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n_slots = len(usable)
        votes, hits = np.zeros(n_slots), np.zeros(n_slots, np.int64)
        if len(v) == 0:
            return votes, hits, np.ones(0)
        slices = SLICES if len(v) <= LONG_QUERY_RUNS else SLICES // 2
        qi, slot, d, crowded = self.frames.within(np.concatenate([v.hashes, v.mirrors]), RADIUS, slices)
        ok = usable[slot]
        run, slot, d = qi[ok] % len(v), slot[ok], d[ok]  # a mirrored hash counts for its run
        # document frequency: distinct videos holding a frame close to each run
        near = d <= COMMON_DISTANCE
        df = np.bincount(np.unique(run[near] * n_slots + slot[near]) // n_slots, minlength=len(v))
        weight = np.minimum(1.0, COMMON_VIDEOS / np.maximum(df, 1))
        crowded = crowded[: len(v)] | crowded[len(v) :]  # a frame whose posting lists a crowd shares
        weight[crowded] = np.minimum(weight[crowded], 1 / 3)
        common = _spread(v, weight)
        # one vote per (query run, video): its best similarity, weighted by distinctiveness
        sim = (1.0 - d / (RADIUS + 1)) * common[run]
        key = run * n_slots + slot
        order = np.lexsort((-sim, key))
        first = np.concatenate([[True], key[order][1:] != key[order][:-1]]) if len(key) else np.zeros(0, bool)
        votes += np.bincount(slot[order][first], sim[order][first], minlength=n_slots)
        hits += np.bincount(slot[order][first], minlength=n_slots)
        return votes, hits, common

    # -- size and persistence -----------------------------------------------------------------
    def nbytes(self) -> dict[str, int]:
        """Memory held per signal."""
        return {"visual": self.frames.nbytes(), "audio": self.landmarks.nbytes()}

    def save(self, path: Path) -> None:
        """Write the index to ``path``: one file, compacted first. Write a new path and rename it over
        the old one: an index loaded from the old file may still be mapping it."""
        if self.frames.tail_size or self.landmarks.tail_size or not self.alive.all():
            self.compact()
        arrays = {"allow": self._allow.array, "alive": self.alive}
        arrays |= {f"frames.{k}": a for k, a in self.frames.arrays().items()}
        arrays |= {f"landmarks.{k}": a for k, a in self.landmarks.arrays().items()}
        snapshot.write(Path(path), {"format": FORMAT, "ids": self.ids}, arrays)

    @classmethod
    def load(cls, path: Path, *, mmap: bool = True) -> DedupIndex:
        """The index saved at ``path``; with ``mmap`` its arrays stay in the file (page cache, shared by
        the processes that load it) and are read as queries touch them."""
        meta, arrays = snapshot.read(Path(path), mmap)
        if meta.get("format") != FORMAT:
            raise ValueError(f"{path}: index format {meta.get('format')}, expected {FORMAT}")
        index = cls()
        index.ids = list(meta["ids"])
        index._allow, index._alive = _Flags(arrays.pop("allow")), _Flags(arrays.pop("alive"))
        index._slot = {vid: i for i, vid in enumerate(index.ids) if index.alive[i]}
        part = {
            p: {k.split(".", 1)[1]: a for k, a in arrays.items() if k.startswith(p + ".")}
            for p in ("frames", "landmarks")
        }
        index.frames = FrameIndex(**part["frames"])
        index.landmarks = LandmarkIndex(**part["landmarks"])
        return index


def _spread(v: VisualFingerprint, weight: np.ndarray) -> np.ndarray:
    """Per run of ``v``: its own weight, lowered to that of a common run within ``COMMON_DISTANCE``."""
    out = weight.astype(float).copy()
    low = np.flatnonzero(weight < 1.0)
    if len(low):
        d = hamming(v.hashes, v.hashes[low])
        near = d.min(axis=1) <= COMMON_DISTANCE
        out[near] = np.minimum(out[near], weight[low][d.argmin(axis=1)][near])
    return out
