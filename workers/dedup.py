"""Duplicate matching of a screened submission, wired to the database and Ray.

1. Its signature is published (committed, in commit order) before anything is searched, so of two
   copies finishing together, whichever commits second finds the first (``core.dedup_signatures``).
2. Candidates come from every shard of the index: the shard hosted in this process (embedded
   default), or the shard actors on Ray, fanned out and merged (``workers.dedup_shard``).
3. Candidates are verified in a Ray task (``match_task``), so the runner keeps its leases beating.
Exact copies (the same bytes) are found by SHA-256. The matches are written both ways by the runner
(``core.duplicates``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import ray
import sqlalchemy as sa
from sqlmodel import Session, col, select

from core import dedup_signatures, duplicates
from core.db import make_engine
from core.settings import Settings
from core.storage import BlobNotFound, BlobStore, key_for_digest, open_blob_store
from models.dedup import AllowlistItem, DuplicateMatch
from models.submissions import Submission, SubmissionStatus
from pipeline.dedup import (
    AudioFingerprinter,
    Candidate,
    Fingerprint,
    SearchResult,
    Signature,
    VisualFingerprinter,
    decode_fingerprint,
    encode_fingerprint,
    find_duplicates,
    merge,
)
from workers.dedup_shard import ShardHost, shard_actor

VISUAL, AUDIO = VisualFingerprinter.stage, AudioFingerprinter.stage
EXACT_REASON = "the same file (identical SHA-256) was submitted before"


@dataclass
class MatchRequest:
    """What verification needs: small, picklable (fingerprints are read from the database)."""

    submission_id: str
    min_seq: int  # the submission's own signature row: every shard has read at least this far
    exact: list[str]  # submissions holding the same bytes
    earlier: list[str]  # its matches from an earlier screening (re-checked both ways)
    candidates: SearchResult | None = None  # retrieved in process (embedded); None: ask the shard actors


@dataclass
class Found:
    """The matches of one submission (``DuplicateMatch`` fields, this side) and notes for its report."""

    matches: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class _Fixed:
    """A search that answers with candidates retrieved already."""

    def __init__(self, result: SearchResult):
        self.result = result

    def search(self, fp: Fingerprint, *, limit: int = 20, exclude: str | None = None) -> SearchResult:
        return self.result


class FingerprintLoader:
    """Fingerprints for verification: the binary row, plus the keyframe thumbnails from the blob store."""

    def __init__(self, engine: sa.Engine, store: BlobStore):
        self.engine, self.store = engine, store

    def __call__(self, submission_id: str) -> Fingerprint | None:
        with Session(self.engine) as session:
            row = dedup_signatures.fingerprint_row(session, submission_id)
        if row is None:
            return None
        thumbs = None
        if row.thumbs_key:
            try:
                with self.store.open(row.thumbs_key) as fh:
                    thumbs = fh.read()
            except BlobNotFound:
                thumbs = None
        return decode_fingerprint(row.fingerprint, thumbs)


def fan_out(settings: Settings, query: Fingerprint, exclude: str, min_seq: int) -> SearchResult:
    """Ask every shard actor at once and merge their candidates."""
    n = settings.dedup_shards
    query_ref = ray.put(query)
    refs = [
        shard_actor(settings, n, k).search.remote(query_ref, exclude=exclude, min_seq=min_seq)
        for k in range(n)
    ]
    return merge(ray.get(refs))


def exact_match(other_id: str) -> dict[str, Any]:
    return {
        "other_id": other_id,
        "kind": "exact",
        "verdict": "duplicate",
        "score": 1.0,
        "query_coverage": 1.0,
        "match_coverage": 1.0,
        "segments": [],
        "reasons": [EXACT_REASON],
    }


def verify_request(settings: Settings, engine: sa.Engine, store: BlobStore, req: MatchRequest) -> Found:
    """Verify the candidates of ``req`` (retrieving them from the shard actors when not given)."""
    load = FingerprintLoader(engine, store)
    found = Found([exact_match(o) for o in req.exact])
    query = load(req.submission_id)
    if query is None:
        return found
    result = req.candidates
    if result is None:
        result = fan_out(settings, query, req.submission_id, req.min_seq)
    outcome = find_duplicates(query, _Fixed(result), load, query_id=req.submission_id)
    found.notes = outcome.notes
    seen = set(req.exact)
    for m in outcome.matches:
        if m.video_id not in seen:
            found.matches.append(duplicates.match_fields(m.video_id, m.to_dict()))
            seen.add(m.video_id)
    # An earlier match not found again stands while the other side still finds this one (retrieval is
    # not symmetric); shared material found here is verified there too, so its stretches stay out.
    shared = [c for c in result.candidates if c.allowlisted]
    for other_id in sorted(set(req.earlier) - seen):
        other = load(other_id)
        if other is None:
            continue
        me = Candidate(req.submission_id, 1.0, 0, 0, False)
        me = SearchResult([*shared, me], np.ones(len(other.visual)))
        for m in find_duplicates(other, _Fixed(me), load, query_id=other_id).matches:
            found.matches.append(duplicates.flip(duplicates.match_fields(other_id, m.to_dict())))
    return found


@ray.remote(retry_exceptions=False)
def match_task(settings_data: dict, req: MatchRequest) -> Found:
    """Ray entry point of verification (retried by Ray only when its worker process dies)."""
    settings = Settings(**settings_data)
    engine = make_engine(settings.resolved_database_url, pool_size=1, max_overflow=2)
    try:
        return verify_request(settings, engine, open_blob_store(settings), req)
    finally:
        engine.dispose()


class DedupMatcher:
    """One per job runner: publishes signatures, retrieves candidates, prepares verification."""

    def __init__(self, settings: Settings, engine: sa.Engine):
        self.settings, self.engine = settings, engine
        self._hosts: list[ShardHost] | None = None

    @property
    def hosts(self) -> list[ShardHost]:
        """The shards hosted in this process (embedded default), loaded on first use."""
        if self._hosts is None:
            n = self.settings.dedup_shards
            self._hosts = [ShardHost(self.settings, n, k, self.engine) for k in range(n)]
        return self._hosts

    def prepare(
        self, submission_id: str, sha256: str, stages: dict[str, dict], versions: dict[str, str]
    ) -> MatchRequest:
        """Publish the submission's signature, then retrieve its candidates (in process, or leave that
        to the task on the shard actors)."""
        return self.retrieve(self.publish(submission_id, sha256, stages, versions), stages)

    def publish(
        self, submission_id: str, sha256: str, stages: dict[str, dict], versions: dict[str, str]
    ) -> MatchRequest:
        """Commit the submission's signature (before any search) and gather what verification needs."""
        with Session(self.engine) as session:
            exact = list(
                session.exec(
                    select(Submission.id).where(
                        Submission.sha256 == sha256,
                        Submission.id != submission_id,
                        Submission.status != SubmissionStatus.rejected,
                        col(Submission.id).not_in(select(AllowlistItem.submission_id)),
                    )
                ).all()
            )
            earlier = list(
                session.exec(
                    select(DuplicateMatch.other_id).where(
                        DuplicateMatch.submission_id == submission_id, DuplicateMatch.kind != "exact"
                    )
                ).all()
            )
            allowlisted = session.get(AllowlistItem, submission_id) is not None
        req = MatchRequest(submission_id, 0, exact, earlier)
        if VISUAL not in stages:
            return req
        visual, audio = stages[VISUAL], stages.get(AUDIO)
        fp = Fingerprint.from_stage_data(visual, audio)
        published = dedup_signatures.publish(
            self.engine,
            submission_id,
            signature=Signature.of(fp).to_bytes(),
            fingerprint=encode_fingerprint(fp),
            thumbs_key=_thumbs_key(visual),
            versions=(versions[VISUAL], versions.get(AUDIO, "")),
            duration_s=fp.duration_s,
            allowlisted=allowlisted,
        )
        req.min_seq = published.seq
        if allowlisted:  # shared material never flags anything
            req.exact, req.earlier = [], []
            req.candidates = SearchResult([], np.ones(len(fp.visual)))
        return req

    def retrieve(self, req: MatchRequest, stages: dict[str, dict]) -> MatchRequest:
        """Candidates from the shards hosted in this process, read up to the request's own row (with
        shard actors, ``match_task`` asks them)."""
        if req.candidates is not None or req.min_seq == 0 or self.settings.dedup_actors:
            return req
        fp = Fingerprint.from_stage_data(stages[VISUAL], stages.get(AUDIO))
        results = [h.search(fp, exclude=req.submission_id, min_seq=req.min_seq) for h in self.hosts]
        req.candidates = merge(results)
        return req

    def launch(self, req: MatchRequest) -> ray.ObjectRef:
        """Verification as a Ray task."""
        return match_task.options(num_cpus=self.settings.task_cpus).remote(self.settings.model_dump(), req)


def _thumbs_key(visual: dict) -> str | None:
    uri = visual.get("keyframes")
    return key_for_digest(uri.rsplit("/", 1)[-1]) if isinstance(uri, str) else None
