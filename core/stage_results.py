"""Stage results: one stage's output for one submission at one version, written once, reused on re-runs."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from core.db import insert_for
from models.jobs import StageResult


def put(
    session: Session, submission_id: str, stage: str, version: str, data: dict[str, Any], seconds: float
) -> bool:
    """Store a stage's result unless one exists for (submission, stage, version). True when stored."""
    result = session.execute(
        insert_for(session, StageResult)
        .values(submission_id=submission_id, stage=stage, version=version, data=data, seconds=seconds)
        .on_conflict_do_nothing(),
        execution_options={"preserve_rowcount": True},
    )
    return result.rowcount == 1


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
