"""Stage results: one stage's output for one submission at one version, reused on re-runs while its
version is current."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlmodel import Session, col, delete, select

from core.db import insert_for
from models.base import utcnow
from models.jobs import StageResult


def put(
    session: Session, submission_id: str, stage: str, version: str, data: dict[str, Any], seconds: float
) -> None:
    """Store a stage's result for (submission, stage, version), replacing the one stored: a stage
    computed again at the same version (forced, or because a stage it reads was) supersedes it."""
    insert = insert_for(session, StageResult).values(
        submission_id=submission_id, stage=stage, version=version, data=data, seconds=seconds
    )
    session.execute(
        insert.on_conflict_do_update(
            index_elements=["submission_id", "stage", "version"],
            set_={"data": insert.excluded.data, "seconds": insert.excluded.seconds, "created_at": utcnow()},
        )
    )


def drop(session: Session, submission_ids: Collection[str], stages: Collection[str]) -> None:
    """Forget these stages' results (every version) of these submissions: the next run computes them."""
    if submission_ids and stages:
        session.exec(
            delete(StageResult).where(
                col(StageResult.submission_id).in_(list(submission_ids)),
                col(StageResult.stage).in_(list(stages)),
            )
        )


def current(session: Session, submission_id: str, versions: dict[str, str]) -> dict[str, StageResult]:
    """The stored results whose stage version matches ``versions`` ({stage: version}), by stage."""
    if not versions:
        return {}
    rows = session.exec(
        select(StageResult).where(
            StageResult.submission_id == submission_id, col(StageResult.stage).in_(list(versions))
        )
    )
    return {r.stage: r for r in rows if versions[r.stage] == r.version}
