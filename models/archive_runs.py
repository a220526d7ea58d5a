"""Archive runs: one ``evidence batch --manifest`` or ``evidence reprocess`` over many lessons, recorded
so that the same command run again resumes it, and so that its progress and outcome are counted in the
database rather than by reading reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from models.base import JSONType, UTCDateTime, new_id, utcnow


class ArchiveRun(SQLModel, table=True):
    """A run: what was asked (``spec``, whose digest finds the run again), and how far the input was
    read (``cursor``: the last manifest row, or the last submission id of a selection)."""

    __tablename__ = "archive_runs"
    __table_args__ = (sa.Index("ix_archive_runs_spec", "spec_digest", "finished_at"),)

    id: str = Field(default_factory=lambda: new_id("run"), primary_key=True, max_length=64)
    kind: str = Field(max_length=16)  # batch | reprocess
    spec_digest: str = Field(max_length=64)
    spec: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    cursor: str = Field(default="", max_length=200)
    input_done: bool = False
    skipped: int = 0  # of a selection, submissions looked at and found current (not recorded as items)
    started_by: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime())


class ArchiveRunItem(SQLModel, table=True):
    """One input row of a run: the submission it became and the job this run queued for it (``queued``),
    or why nothing was queued: ``skipped`` (already screened and current), ``valid`` (a dry run) or
    ``bad`` with a ``problem`` code (unknown teacher, school mismatch, duplicate row, unreadable file)."""

    __tablename__ = "archive_run_items"
    __table_args__ = (
        sa.Index("ix_archive_run_items_submission", "run_id", "submission_id"),
        sa.Index("ix_archive_run_items_row_key", "run_id", "row_key"),
    )

    run_id: str = Field(foreign_key="archive_runs.id", primary_key=True, max_length=64)
    row: int = Field(primary_key=True)
    row_key: str = Field(max_length=64)  # digest of (source, teacher): finds duplicate rows
    source: str = Field(max_length=1000)
    submission_id: str | None = Field(default=None, max_length=64)
    job_id: str | None = Field(default=None, max_length=64)
    outcome: str = Field(max_length=16)  # queued | skipped | valid | bad
    problem: str | None = Field(default=None, max_length=64)
    detail: str | None = Field(default=None, max_length=1000)
