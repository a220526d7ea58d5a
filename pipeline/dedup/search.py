"""Duplicate search for one query: retrieve candidates, verify each, keep allowlisted material out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from pipeline.dedup.fingerprint import Fingerprint
from pipeline.dedup.index import SearchResult
from pipeline.dedup.verify import Match, Segment, Thresholds, verify


class Searchable(Protocol):
    """A ``DedupIndex``, or a fan-out over shards that merges their results (``index.merge``)."""

    def search(self, fp: Fingerprint, *, limit: int = 20, exclude: str | None = None) -> SearchResult: ...


@dataclass
class DedupOutcome:
    matches: list[Match]  # flags: kind near | partial | audio_only, verdict duplicate | needs_review
    allowlisted: list[Match]  # matches against allowlisted shared material: never flags
    candidates: int  # videos verified
    visual_only: bool  # the query has no usable audio: matched on visuals alone
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "matches": [m.to_dict() for m in self.matches],
            "allowlisted": [m.to_dict() for m in self.allowlisted],
            "candidates": self.candidates,
            "visual_only": self.visual_only,
            "notes": self.notes,
        }


def _subtract(segs: list[Segment], covered: list[tuple[float, float]]) -> list[Segment]:
    """``segs`` minus the query intervals ``covered`` (match times cut proportionally)."""
    out = segs
    for a, b in covered:
        nxt = []
        for s in out:
            rate = (s.match_end - s.match_start) / max(s.length, 1e-9)
            for lo, hi in ((s.query_start, min(s.query_end, a)), (max(s.query_start, b), s.query_end)):
                if hi - lo > 1e-6:
                    m0 = s.match_start + (lo - s.query_start) * rate
                    nxt.append(Segment(lo, hi, m0, m0 + (hi - lo) * rate))
        out = nxt
    return out


def find_duplicates(
    query: Fingerprint,
    index: Searchable,
    load: Callable[[str], Fingerprint | None],
    *,
    query_id: str | None = None,
    limit: int = 20,
    thresholds: Thresholds | None = None,
) -> DedupOutcome:
    """Search ``index`` for copies of ``query``; ``load`` fetches a candidate's stored fingerprint.

    Allowlisted videos are verified first; the query stretches they explain cannot support a match
    with anything else (two lessons sharing a national courseware clip are not copies of each other).
    """
    th = thresholds or Thresholds()
    found = index.search(query, limit=limit, exclude=query_id)
    common = found.common.copy()
    allowed: list[Match] = []
    flagged: list[Match] = []
    checked = 0
    for cand in sorted(found.candidates, key=lambda c: not c.allowlisted):
        fp = load(cand.video_id)
        if fp is None:
            continue
        checked += 1
        m = verify(query, fp, cand.video_id, thresholds=th, common=common, allowlisted=cand.allowlisted)
        if m is None:
            continue
        if cand.allowlisted:
            allowed.append(m)
            for s in m.segments:  # the allowlisted stretch is common content from now on
                inside = (query.visual.ends >= s.query_start) & (query.visual.starts <= s.query_end)
                common[inside] = 0.0
            continue
        covered = [(s.query_start, s.query_end) for a in allowed for s in a.segments]
        if covered:
            segs = _subtract(m.segments, covered)
            need = max(th.min_seconds, th.min_fraction * min(query.duration_s, fp.duration_s))
            if sum(s.length for s in segs) < need:
                continue
            q_cov = sum(s.length for s in segs) / max(query.duration_s, 1e-6)
            c_cov = sum(abs(s.match_end - s.match_start) for s in segs) / max(fp.duration_s, 1e-6)
            kind = (
                m.kind
                if m.kind == "audio_only"
                else ("near" if min(q_cov, c_cov) >= th.near_coverage else "partial")
            )
            m = replace(
                m,
                segments=segs,
                query_coverage=min(1.0, q_cov),
                match_coverage=min(1.0, c_cov),
                kind=kind,
                reasons=[*m.reasons, "stretches matching allowlisted material left out"],
            )
        flagged.append(m)
    flagged.sort(key=lambda m: (m.verdict != "duplicate", -m.score))
    notes = []
    if query.audio.silent and len(query.visual) == 0:
        notes.append("no hashable frames and no usable audio: nothing to match on")
    elif query.audio.silent:
        notes.append("no usable audio: matched on visuals alone")
    elif len(query.visual) == 0:
        notes.append("no hashable frames (blank or too dark): matched on audio alone")
    return DedupOutcome(flagged, allowed, checked, query.audio.silent, notes)
