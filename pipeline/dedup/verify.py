"""Verification of one candidate: align query and candidate in time, find matched segments, combine the
visual and audio evidence into a kind (near | partial | audio_only) and a verdict."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np

from pipeline.dedup.align import (
    MAX_SPEED,
    MIN_SPEED,
    SPEEDS,
    Line,
    refine,
    segments,
    vote_intervals,
    vote_points,
)
from pipeline.dedup.audio import AudioFingerprint
from pipeline.dedup.fingerprint import Fingerprint
from pipeline.dedup.pdq import hamming
from pipeline.dedup.register import register, registered_fingerprints
from pipeline.dedup.visual import VisualFingerprint

VERSION = "2"  # 2: every frame run indexed, no read budget (the product path finds what verify finds)
# chance that a frame of unrelated but similar-looking video is within distance d of a query frame:
# exp(-(UNRELATED_D - d) / UNRELATED_SCALE) (same classroom, same slide template)
UNRELATED_D, UNRELATED_SCALE = 64.0, 8.0
KNEE = 32  # see _distances
# a run is evidence only when at most UNIQUE_S seconds of the candidate come within UNIQUE_SLACK of the
# aligned frame (itself and its neighbours)
UNIQUE_SLACK, UNIQUE_S = 6, 4.0
MAX_PAIRS = 200_000  # landmark pairs voted on per candidate


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds (distances are PDQ bits out of 256); tuned on the generated lessons and the
    ThreatExchange sample videos, see tests/test_dedup.py."""

    pair_distance: int = 72  # runs this close vote for an alignment
    allowance: int = 60  # an aligned frame within this distance matches
    margin: int = 16  # ... and must be this much closer than its typical distance to the candidate
    event_radius: int = 40  # matched frames further apart than this are distinct visual contents
    min_events: int = 3  # distinct, changing contents needed for visual evidence
    min_seconds: float = 5.0  # N: a match needs an aligned stretch of max(N s, X% of the shorter);
    # stretches shorter than N s are not counted at all
    min_fraction: float = 0.05  # X
    gap_s: float = 4.0  # unmatched seconds bridged inside a visual segment
    min_density: float = 0.5  # matched share of compared frames inside a segment
    near_coverage: float = 0.7  # both coverages at least this: the whole video (near), else partial
    audio_tol_s: float = 0.25  # landmark pairs this close to the line are aligned
    audio_gap_s: float = 8.0  # bridged inside an audio segment (pauses in speech)
    audio_min_matches: int = 10  # aligned landmarks needed for audio evidence on its own
    audio_min_agree: int = 6  # ... for audio to confirm a visual alignment
    audio_min_rate: float = 0.25  # aligned landmarks per second of segment
    support_fraction: float = 0.5  # share of frames agreeing along an audio alignment: visual support
    min_bits: float = 10.0  # visual evidence needed on its own, on top of log2(alignments tried)
    min_bits_with_audio: float = 6.0  # ... when the audio agrees on the same alignment


@dataclass
class Segment:
    query_start: float
    query_end: float
    match_start: float
    match_end: float

    @property
    def length(self) -> float:
        return self.query_end - self.query_start


@dataclass
class Match:
    """A verified match of the query against one indexed video."""

    video_id: str
    kind: str  # near | partial | audio_only
    verdict: str  # duplicate | needs_review
    score: float  # 0..1
    query_coverage: float
    match_coverage: float
    segments: list[Segment]
    reasons: list[str]
    evidence: dict = field(default_factory=dict)
    allowlisted: bool = False

    def to_dict(self) -> dict:
        out = asdict(self)
        out["segments"] = [{k: round(v, 2) for k, v in asdict(s).items()} for s in self.segments]
        return out


@dataclass
class _Alignment:
    line: Line
    mirrored: bool
    segs: list[Segment]
    events: int = 0
    matched: int = 0
    compared: int = 0
    aligned_s: float = 0.0
    distance: float = 0.0
    bits: float = 0.0  # evidence: -log2 of the chance of so many, so close aligned frames
    method: str = "pdq"  # pdq | registered | audio

    @property
    def longest(self) -> float:
        return max((s.length for s in self.segs), default=0.0)


def _samples(v: VisualFingerprint) -> tuple[np.ndarray, np.ndarray]:
    """Sample times and their run index, runs expanded back to one entry per sampled frame."""
    counts = np.maximum(1, np.round((v.ends - v.starts) / v.step).astype(np.int64) + 1)
    run = np.repeat(np.arange(len(v)), counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    t = v.starts[run] + (np.arange(len(run)) - first) * v.step
    return t.astype(np.float64), run


def aligned_distances(
    mapped: np.ndarray, run: np.ndarray, c: VisualFingerprint, dist: np.ndarray, slack: float = 1.0
) -> np.ndarray:
    """Distance from each query sample (its run ``run``) to the candidate's content within ``slack``
    samples of the aligned candidate time ``mapped`` (same shape; inf where the candidate shows
    nothing hashable)."""
    if len(c) == 0:
        return np.full(mapped.shape, np.inf)
    tol = slack * c.step
    j = np.searchsorted(c.starts, mapped + tol, side="right") - 1
    d = np.full(mapped.shape, np.inf)
    for jj in (j, j - 1):
        safe = np.clip(jj, 0, len(c) - 1)
        ok = (jj >= 0) & (c.ends[safe] >= mapped - tol)
        d = np.where(ok, np.minimum(d, dist[run, safe]), d)
    return d


def _distances(
    qh: np.ndarray, ch: np.ndarray, qd: np.ndarray | None, cd: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """(match distances, evidence distances) between query and candidate runs.

    Frames match on the whole picture or on what changes in it, whichever is closer. Evidence is
    weighed differently: whole pictures closer than ``KNEE`` count as they are; beyond it, what two
    lessons filmed in one room share (walls, desks, slide template) can explain the likeness, so the
    excess counts double unless the changing content is close too."""
    full = hamming(qh, ch)
    penalised = full + np.maximum(0, full - KNEE).astype(np.int16)
    if qd is None or cd is None:
        return full, penalised
    dyn = hamming(qd, cd)
    return np.minimum(full, dyn), np.minimum(penalised, dyn)


def _events(hashes: np.ndarray, radius: int, cap: int = 64) -> int:
    reps: list[np.ndarray] = []
    for h in hashes:
        if not reps or hamming(h[None], np.array(reps)).min() > radius:
            reps.append(h)
            if len(reps) >= cap:
                break
    return len(reps)


class _Visual:
    """PDQ distances between the query's and the candidate's runs, both orientations."""

    def __init__(
        self,
        q: VisualFingerprint,
        c: VisualFingerprint,
        th: Thresholds,
        common: np.ndarray | None = None,
        mirror: bool = True,
    ):
        self.q, self.c, self.th = q, c, th
        self.t, self.run = _samples(q)
        self.dist, self.evid = {}, {}
        self.dist[False], self.evid[False] = _distances(q.hashes, c.hashes, q.dynamic, c.dynamic)
        if mirror:
            self.dist[True], self.evid[True] = _distances(q.mirrors, c.hashes, q.dynamic_mirrors, c.dynamic)
        self.common = np.ones(len(q)) if common is None else np.asarray(common, np.float64)
        # a frame's typical distance to the candidate: its median over the candidate's contents
        self.typical = {m: np.median(d, axis=1) if d.size else np.zeros(len(q)) for m, d in self.dist.items()}
        self.c_samples = np.maximum(1, np.round((c.ends - c.starts) / c.step).astype(np.int64) + 1)
        self.hints: list[Line] = []  # refined lines tried by best(), for the geometric check

    def lines(self) -> list[tuple[Line, bool]]:
        out = []
        th, q, c = self.th, self.q, self.c
        for mirrored, d in self.dist.items():
            if d.size == 0:
                continue
            gain = self.typical[mirrored][:, None] - d
            i, j = np.nonzero((d <= th.pair_distance) & (gain >= th.margin))
            if len(i) == 0:
                continue
            w = gain[i, j] / 64.0 * self.common[i]
            span = float(max(q.ends.max() if len(q) else 0, 1.0))
            for line in vote_intervals(q.starts[i], q.ends[i], c.starts[j], c.ends[j], w, span, c.step):
                out.append((line, mirrored))
        return out

    def evaluate(self, line: Line, mirrored: bool) -> _Alignment:
        th = self.th
        d = aligned_distances(line.at(self.t), self.run, self.c, self.dist[mirrored])
        evid = aligned_distances(line.at(self.t), self.run, self.c, self.evid[mirrored])
        compared = np.isfinite(d)
        matched = d <= th.allowance
        distinct = (
            matched & (self.typical[mirrored][self.run] - d >= th.margin) & (self.common[self.run] > 0.5)
        )
        al = _Alignment(line, mirrored, [])
        for a, b in segments(self.t, matched, th.gap_s, self.q.step):
            inside = (self.t >= a) & (self.t < b)
            n_cmp, n_match = int((inside & compared).sum()), int((inside & matched).sum())
            if b - a < th.min_seconds or n_match < th.min_density * n_cmp:
                continue
            al.segs.append(Segment(a, b, float(line.at(a)), float(line.at(b))))
            al.matched += n_match
            al.compared += n_cmp
            runs = np.unique(self.run[inside & distinct])
            al.events += _events(
                self.q.hashes[runs] if not mirrored else self.q.mirrors[runs], th.event_radius
            )
            al.bits += self._bits(evid, inside & distinct, mirrored)
        al.aligned_s = sum(s.length for s in al.segs)
        hit = matched & np.isfinite(d)
        al.distance = float(np.median(d[hit])) if hit.any() else float("inf")
        return al

    def _bits(self, e: np.ndarray, which: np.ndarray, mirrored: bool) -> float:
        """Evidence of the aligned (evidence) distances ``e[which]``: per distinct query run whose aligned
        candidate content is also its nearest (recurring content, a teacher passing the same spot
        again and again, proves nothing), -log2 of the chance that unrelated, similar-looking video
        comes as close."""
        k = np.flatnonzero(which)
        if len(k) == 0:
            return 0.0
        run, ek = self.run[k], e[k]
        order = np.lexsort((ek, run))
        first = np.concatenate([[True], run[order][1:] != run[order][:-1]])
        run, ek = run[order][first], ek[order][first]
        rivals = (self.evid[mirrored][run] <= ek[:, None] + UNIQUE_SLACK) @ self.c_samples
        unique = rivals * self.c.step <= UNIQUE_S
        return float((np.maximum(0.0, UNRELATED_D - ek[unique]) / UNRELATED_SCALE / np.log(2)).sum())

    def refine(self, line: Line, mirrored: bool) -> Line:
        """Local grid search around a Hough line for the alignment that best explains the frames."""
        th = self.th
        keep = np.arange(0, len(self.t), max(1, len(self.t) // 600))  # bounded cost on long videos
        t, run = self.t[keep], self.run[keep]
        typical = self.typical[mirrored][run]
        for ds, do in (
            (np.arange(-0.06, 0.0601, 0.01), np.arange(-3, 3.01, 0.5)),
            (np.arange(-0.01, 0.0101, 0.002), np.arange(-0.5, 0.51, 0.1)),
        ):
            speeds = np.clip(line.speed * (1 + ds), MIN_SPEED, MAX_SPEED)
            s_grid, o_grid = np.meshgrid(speeds, line.offset + do, indexing="ij")
            mapped = s_grid.ravel()[:, None] * t[None, :] + o_grid.ravel()[:, None]
            runs = np.broadcast_to(run, mapped.shape)
            d = aligned_distances(mapped, runs, self.c, self.dist[mirrored], slack=0.5)
            gain = np.where(d <= th.allowance, np.clip(typical - d - th.margin, 0, None), 0).sum(axis=1)
            k = int(np.argmax(gain - np.abs(np.log(s_grid.ravel()))))  # ties: the speed nearest 1
            line = Line(float(s_grid.ravel()[k]), float(o_grid.ravel()[k]), float(gain[k]))
        return line

    def best(self) -> _Alignment | None:
        """The alignment with the most evidence (refined Hough lines, both orientations)."""
        best: _Alignment | None = None
        for line, mirrored in self.lines():
            line = self.refine(line, mirrored)
            self.hints.append(line)
            al = self.evaluate(line, mirrored)
            if al.segs and (best is None or al.bits > best.bits):
                best = al
        return best

    def support(self, line: Line, segs: list[Segment]) -> float:
        """Share of compared frames inside ``segs`` that agree along ``line`` (best orientation)."""
        best = 0.0
        for mirrored in self.dist:
            d = aligned_distances(line.at(self.t), self.run, self.c, self.dist[mirrored])
            inside = np.zeros(len(self.t), bool)
            for s in segs:
                inside |= (self.t >= s.query_start) & (self.t < s.query_end)
            cmp = inside & np.isfinite(d)
            if cmp.sum() >= 3:
                best = max(best, float((d[cmp] <= self.th.allowance).mean()))
        return best


def _audio_pairs(q: AudioFingerprint, c: AudioFingerprint) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(query time, candidate time, weight) of landmarks with equal hashes, probing the neighbouring
    time-step bins; a hash repeated in the candidate weighs less."""
    if len(q.hashes) == 0 or len(c.hashes) == 0:
        empty = np.zeros(0)
        return empty, empty, empty
    order = np.argsort(c.hashes, kind="stable")
    ch = c.hashes[order].astype(np.int64)
    tq, tc, w = [], [], []
    for delta in (0, 1, -1):
        h = q.hashes.astype(np.int64) + delta
        lo, hi = np.searchsorted(ch, h, "left"), np.searchsorted(ch, h, "right")
        n = hi - lo
        qi = np.repeat(np.arange(len(h)), n)
        ci = order[np.repeat(lo, n) + np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)]
        tq.append(q.times[qi])
        tc.append(c.times[ci])
        w.append(1.0 / np.repeat(n, n))
    return np.concatenate(tq).astype(np.float64), np.concatenate(tc).astype(np.float64), np.concatenate(w)


def _audio(q: AudioFingerprint, c: AudioFingerprint, th: Thresholds) -> _Alignment | None:
    tq, tc, w = _audio_pairs(q, c)
    if len(tq) < th.audio_min_agree:
        return None
    if len(tq) > MAX_PAIRS:  # long videos full of common landmarks: keep the rarest pairs
        keep = np.argsort(-w, kind="stable")[:MAX_PAIRS]
        tq, tc, w = tq[keep], tc[keep], w[keep]
    span = float(max(q.duration_s, 1.0))
    best: _Alignment | None = None
    for line in vote_points(tq, tc, w, span, max_lines=3, min_votes=th.audio_min_matches / 2):
        line = refine(line, tq, tc, w, th.audio_tol_s)
        near = np.abs(tc - line.at(tq)) <= th.audio_tol_s
        times = np.unique(np.round(tq[near], 3))
        al = _Alignment(line, False, [], method="audio")
        for a, b in segments(times, np.ones(len(times), bool), th.audio_gap_s, 0.5):
            n = int(((times >= a) & (times < b)).sum())
            if b - a >= th.min_seconds and n >= th.audio_min_agree and n >= th.audio_min_rate * (b - a):
                al.segs.append(Segment(a, b, float(line.at(a)), float(line.at(b))))
                al.matched += n
                al.compared += int(((q.times >= a) & (q.times < b)).sum())
        al.aligned_s = sum(s.length for s in al.segs)
        if al.segs and (best is None or al.matched > best.matched):
            best = al
    return best


def _coverage(segs: list[Segment], q_dur: float, c_dur: float) -> tuple[float, float]:
    qs = sum(s.query_end - s.query_start for s in segs)
    cs = sum(abs(s.match_end - s.match_start) for s in segs)
    return min(1.0, qs / max(q_dur, 1e-6)), min(1.0, cs / max(c_dur, 1e-6))


def _geometric(
    query: Fingerprint, candidate: Fingerprint, hints: list[Line], th: Thresholds
) -> tuple[_Alignment | None, str]:
    """The best alignment after registering the two pictures (crop, picture-in-picture, filmed
    screen), and a description of the transform."""
    reg = register(query.visual, candidate.visual, hints)
    if reg is None:
        return None, ""
    pair = registered_fingerprints(query.visual, candidate.visual, reg)
    if pair is None:
        return None, ""
    al = _Visual(pair[0], pair[1], replace(th, gap_s=3 * th.gap_s), mirror=False).best()
    if al is None:
        return None, ""
    al.method, al.mirrored = "registered", reg.mirrored
    return al, reg.describe()


def _remap(segs: list[Segment], line: Line) -> list[Segment]:
    return [
        Segment(s.query_start, s.query_end, float(line.at(s.query_start)), float(line.at(s.query_end)))
        for s in segs
    ]


def _agree(a: Line, b: Line, segs: list[Segment]) -> bool:
    """Whether two alignments map the middle of each segment to within 2 s of each other."""
    mids = np.array([(s.query_start + s.query_end) / 2 for s in segs])
    return bool(len(mids)) and bool(np.all(np.abs(a.at(mids) - b.at(mids)) <= 2.0))


def verify(
    query: Fingerprint,
    candidate: Fingerprint,
    video_id: str = "",
    *,
    thresholds: Thresholds | None = None,
    common: np.ndarray | None = None,
    allowlisted: bool = False,
) -> Match | None:
    """Verify ``candidate`` against ``query``; None when they do not match.

    ``common``: per query run, 1 for distinctive content, 0 for content common to many indexed videos
    (from ``DedupIndex.search``), which then cannot count as evidence."""
    th = thresholds or Thresholds()
    q_dur, c_dur = query.duration_s, candidate.duration_s
    need = max(th.min_seconds, th.min_fraction * min(q_dur, c_dur))
    # a-contrario: the evidence must beat chance over every alignment that was tried
    strong_bits = th.min_bits + float(np.log2(len(SPEEDS) * max(2.0, q_dur + c_dur)))
    silent = query.audio.silent or candidate.audio.silent
    reasons: list[str] = []
    if silent:
        who = "query" if query.audio.silent else "candidate"
        reasons.append(f"no usable audio in the {who}: matched on visuals alone")
    audio = None if silent else _audio(query.audio, candidate.audio, th)
    audio_ok = audio is not None and audio.longest >= need and audio.matched >= th.audio_min_matches

    def accepted(al: _Alignment | None) -> bool:
        if al is None or al.longest < need or al.events < th.min_events:
            return False
        if al.bits >= strong_bits:
            return True
        return (
            audio is not None and al.bits >= th.min_bits_with_audio and _agree(al.line, audio.line, al.segs)
        )

    vis = _Visual(query.visual, candidate.visual, th, common)
    visual = vis.best()
    visual_ok = accepted(visual)
    geometry = ""
    if not visual_ok:
        hints = ([audio.line] if audio_ok and audio else []) + vis.hints[:3]
        if hints:
            geo, geometry = _geometric(query, candidate, hints, th)
            if accepted(geo):
                visual, visual_ok = geo, True

    chosen: _Alignment | None = None
    kind = ""
    verdict = "duplicate"
    if visual_ok and visual is not None:
        chosen = visual
        if audio is not None and _agree(visual.line, audio.line, visual.segs):
            # landmarks time a speed change far better than one frame a second: report their line
            chosen = replace(visual, line=audio.line, segs=_remap(visual.segs, audio.line))
        reasons.append(
            f"{visual.events} distinct changing frames aligned over {visual.aligned_s:.0f} s"
            f" (median distance {visual.distance:.0f}/256, evidence {visual.bits:.0f} bits"
            f"{', mirrored' if visual.mirrored else ''})"
        )
        if geometry:
            reasons.append(f"after a geometric correction: {geometry}")
        if audio is not None and _agree(visual.line, audio.line, visual.segs):
            reasons.append(f"audio aligned too ({audio.matched} landmarks)")
        elif not silent:
            reasons.append("audio does not match: re-dubbed or replaced sound")
    elif audio_ok and audio is not None:
        chosen = audio
        share = vis.support(audio.line, audio.segs)
        reasons.append(f"audio aligned over {audio.aligned_s:.0f} s ({audio.matched} landmarks)")
        if share >= th.support_fraction:
            reasons.append(f"{share:.0%} of the frames agree along the audio alignment (few changes)")
        else:
            kind, verdict = "audio_only", "needs_review"
            reasons.append("no visual support: possible re-recording or reused audio")
    if chosen is None:
        return None
    q_cov, c_cov = _coverage(chosen.segs, q_dur, c_dur)
    if not kind:
        kind = "near" if min(q_cov, c_cov) >= th.near_coverage else "partial"
    if allowlisted:
        reasons.append("matches allowlisted shared material: not a flag")
    evidence = {
        "method": chosen.method,
        "speed": round(chosen.line.speed, 4),
        "offset_s": round(chosen.line.offset, 2),
        "mirrored": chosen.mirrored,
        "visual": _summary(visual),
        "audio": _summary(audio),
        "bits_needed": round(strong_bits, 1),
        "thresholds": asdict(th),
        "version": VERSION,
    }
    score = _score(chosen, strong_bits, th)
    return Match(video_id, kind, verdict, score, q_cov, c_cov, chosen.segs, reasons, evidence, allowlisted)


def _score(al: _Alignment, strong_bits: float, th: Thresholds) -> float:
    """Strength of the evidence: 0.5 at the decision threshold, 1 at twice the threshold or more."""
    ratio = al.matched / th.audio_min_matches if al.method == "audio" else al.bits / strong_bits
    return round(float(np.clip(ratio / 2, 0.0, 1.0)), 3)


def _summary(al: _Alignment | None) -> dict | None:
    if al is None:
        return None
    return {
        "aligned_s": round(al.aligned_s, 2),
        "events": al.events,
        "bits": round(al.bits, 1),
        "matched": al.matched,
        "compared": al.compared,
        "speed": round(al.line.speed, 4),
        "offset_s": round(al.line.offset, 2),
    }
