"""The leased job queue and the idempotent per-stage results of screening."""

from __future__ import annotations

from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from models.base import JSONType, UTCDateTime, new_id, status_type, utcnow


class Lane(IntEnum):
    """Which queued jobs are claimed first (lower first): a teacher's upload or an administrator's
    request waits for no archive run, however many lessons that run has queued."""

    interactive = 0
    archive = 1


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


class Job(SQLModel, table=True):
    __tablename__ = "jobs"
    __table_args__ = (
        sa.Index("ix_jobs_queued", "status", "lane", "created_at"),
        sa.Index("ix_jobs_lease", "status", "lease_expires_at"),
        # At most one active (queued or running) job per submission.
        sa.Index(
            "uq_jobs_active_submission",
            "submission_id",
            unique=True,
            sqlite_where=sa.text("status IN ('queued', 'running')"),
            postgresql_where=sa.text("status IN ('queued', 'running')"),
        ),
    )

    id: str = Field(default_factory=lambda: new_id("job"), primary_key=True, max_length=64)
    submission_id: str = Field(foreign_key="submissions.id", index=True, max_length=64)
    status: JobStatus = Field(default=JobStatus.queued, sa_type=status_type(JobStatus))
    lane: int = Field(default=Lane.interactive, sa_column_kwargs={"server_default": "0"})
    attempts: int = 0
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime())


class StageResult(SQLModel, table=True):
    """One stage's output for one submission at one stage version: written once, reused on re-runs."""

    __tablename__ = "stage_results"

    submission_id: str = Field(foreign_key="submissions.id", primary_key=True, max_length=64)
    stage: str = Field(primary_key=True, max_length=64)
    version: str = Field(primary_key=True, max_length=32)
    data: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    seconds: float = 0.0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
