"""Duplicate matches in the database: both directions of every match, the reports' ``duplicates``
entries, and the allowlist of known shared material. Finding matches is ``workers.dedup``'s job."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlmodel import Session, col, or_, select

from core import dedup_signatures, jobs, outbox, stage_results
from core.db import insert_for
from core.duplicate_reasons import all_in_chinese
from models.base import utcnow
from models.dedup import AllowlistItem, DuplicateMatch
from models.jobs import Lane
from models.submissions import Submission, SubmissionStatus
from pipeline.dedup import VERSION, AudioFingerprinter, VisualFingerprinter

FINGERPRINT_STAGES = frozenset({VisualFingerprinter.stage, AudioFingerprinter.stage})
# Matching's own stage result ({"notes": [...]}). While it is current and the fingerprints were not
# computed again, a re-screening keeps the submission's matches: later submissions search for it
# themselves (whichever commits second finds the first), so only a change on this side calls for a
# new search: a new matching version, new fingerprints, or a re-check (``recheck``).
MATCHING = "duplicates"


def matching_version(versions: dict[str, str]) -> str:
    """The version of matching's stage result: the matching code's and the fingerprints' it read."""
    parts = "|".join([VERSION, *(versions.get(s, "") for s in sorted(FINGERPRINT_STAGES))])
    return f"{VERSION}-{hashlib.sha256(parts.encode()).hexdigest()[:10]}"


def recheck(session: Session, submission_ids: list[str]) -> None:
    """Have the next screening of these submissions search for their duplicates again."""
    stage_results.drop(session, submission_ids, [MATCHING])


def write_matches(session: Session, submission_id: str, matches: list[dict]) -> list[str]:
    """Both directions of each match, upserted (two runners may write the same pair at once);
    returns the other submissions."""
    now = utcnow()
    for m in matches:
        for row in (
            {**m, "submission_id": submission_id},
            {**flip(m), "other_id": submission_id, "submission_id": m["other_id"]},
        ):
            row = {**row, "version": VERSION, "created_at": now}
            stmt = insert_for(session, DuplicateMatch).values(**row)
            update = {k: v for k, v in row.items() if k not in ("submission_id", "other_id")}
            session.execute(
                stmt.on_conflict_do_update(index_elements=["submission_id", "other_id"], set_=update)
            )
    session.expire_all()
    return [m["other_id"] for m in matches]


def drop_matches(session: Session, submission_id: str, *, keep: set[str]) -> list[str]:
    """Delete both directions of the submission's matches except those with ``keep`` (on a re-check:
    matches not found again, e.g. with material allowlisted since); returns the other submissions."""
    stale = session.exec(
        select(DuplicateMatch).where(
            or_(DuplicateMatch.submission_id == submission_id, DuplicateMatch.other_id == submission_id),
            col(DuplicateMatch.submission_id).not_in(keep),
            col(DuplicateMatch.other_id).not_in(keep),
        )
    ).all()
    for row in stale:
        session.delete(row)
    session.flush()
    return sorted(
        {row.other_id if row.submission_id == submission_id else row.submission_id for row in stale}
    )


def match_fields(other_id: str, d: dict[str, Any]) -> dict[str, Any]:
    """The ``DuplicateMatch`` fields of a match found by this side's search."""
    keep = ("kind", "verdict", "score", "query_coverage", "match_coverage", "segments", "reasons")
    return {"other_id": other_id, **{k: d[k] for k in keep}}


def flip(m: dict[str, Any]) -> dict[str, Any]:
    """A match as seen from the other side: coverages and segment ends swapped."""
    return {
        **m,
        "query_coverage": m["match_coverage"],
        "match_coverage": m["query_coverage"],
        "segments": [
            {
                "query_start": s["match_start"],
                "query_end": s["match_end"],
                "match_start": s["query_start"],
                "match_end": s["query_end"],
            }
            for s in m["segments"]
        ],  # fmt: skip
    }


def report_entries(session: Session, submission_id: str) -> list[dict[str, Any]]:
    """The report's ``duplicates``: every match of this submission, strongest first."""
    me = session.get(Submission, submission_id)
    rows = session.exec(select(DuplicateMatch).where(DuplicateMatch.submission_id == submission_id)).all()
    entries = []
    for row in rows:
        other = session.get(Submission, row.other_id)
        earlier = min((me, other), key=lambda s: (s.created_at, s.id))
        entries.append(
            {
                "submission_id": other.id,
                "teacher_id": other.teacher_id,
                "kind": row.kind,
                "verdict": row.verdict,
                "same_teacher": bool(me.teacher_id) and me.teacher_id == other.teacher_id,
                "earlier": earlier.id,
                "score": round(row.score, 3),
                "query_coverage": round(row.query_coverage, 3),
                "match_coverage": round(row.match_coverage, 3),
                "segments": row.segments,
                "reasons": row.reasons,
                "reasons_zh": all_in_chinese(row.reasons),
            }
        )
    entries.sort(key=lambda e: (e["verdict"] != "duplicate", -e["score"], e["submission_id"]))
    return entries


def refresh_reports(session: Session, submission_ids: list[str]) -> None:
    """Rewrite the ``duplicates`` of earlier submissions' reports and announce the change."""
    for other_id in dict.fromkeys(submission_ids):
        other = session.get(Submission, other_id)
        if other is None or not other.report or other.report.get("status") != "screened":
            continue
        other.report = {**other.report, "duplicates": report_entries(session, other_id)}
        session.add(other)
        session.flush()
        outbox.report_updated(session, other)


def allowlist(session: Session, submission_id: str, *, title: str, added_by: str) -> list[str]:
    """Mark a submission as known shared material: matches with it never flag. Register material
    before lessons that contain it are screened; when it was screened already, its existing matches
    are withdrawn and every submission that matched it is queued for a re-check (matches between
    them may have rested on the shared stretch). Returns the submissions queued."""
    item = session.get(AllowlistItem, submission_id) or AllowlistItem(
        submission_id=submission_id, title=title, added_by=added_by
    )
    session.add(item)
    dedup_signatures.set_allowlisted(session, submission_id)  # every shard picks up the flag
    matched = drop_matches(session, submission_id, keep=set())
    refresh_reports(session, [submission_id, *matched])
    again = []
    for other_id in matched:
        other = session.get(Submission, other_id)
        if other is None or other.status != SubmissionStatus.screened:
            continue
        jobs.queue_again(session, other, Lane.archive)  # a background re-check
        again.append(other_id)
    recheck(session, again)
    session.flush()
    return again
