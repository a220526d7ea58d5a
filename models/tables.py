"""Tables: teachers, submissions, jobs and stage results. The database is the source of truth."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Column, Field, SQLModel

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")

# Named constraints, so later (batch) migrations can drop and alter them on SQLite too.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """An aware datetime stored as UTC on every dialect and read back aware in UTC.

    SQLite keeps datetimes as text without an offset; converting to UTC before storing keeps
    comparisons in SQL correct. Naive datetimes are refused rather than guessed.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware (UTC) datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def status_type(enum: type[StrEnum]) -> sa.Enum:
    """A status column: plain VARCHAR on every dialect (no PostgreSQL ENUM type to migrate)."""
    return sa.Enum(enum, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


class SubmissionStatus(StrEnum):
    queued = "queued"
    processing = "processing"
    screened = "screened"
    rejected = "rejected"
    failed = "failed"


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


class Teacher(SQLModel, table=True):
    __tablename__ = "teachers"

    id: str = Field(primary_key=True, max_length=64)
    name: str | None = Field(default=None, max_length=200)
    school_code: str | None = Field(default=None, index=True, max_length=128)
    subject: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class Submission(SQLModel, table=True):
    __tablename__ = "submissions"

    id: str = Field(default_factory=lambda: new_id("sub"), primary_key=True, max_length=64)
    teacher_id: str | None = Field(default=None, foreign_key="teachers.id", index=True, max_length=64)
    blob_key: str = Field(max_length=200)
    sha256: str = Field(index=True, max_length=64)
    size_bytes: int = Field(sa_type=sa.BigInteger)
    filename: str | None = Field(default=None, max_length=500)
    status: SubmissionStatus = Field(
        default=SubmissionStatus.queued, index=True, sa_type=status_type(SubmissionStatus)
    )
    error_code: str | None = Field(default=None, max_length=64)
    report: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime(), index=True)
    updated_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime(), sa_column_kwargs={"onupdate": utcnow}
    )


class Job(SQLModel, table=True):
    __tablename__ = "jobs"
    __table_args__ = (
        sa.Index("ix_jobs_queued", "status", "created_at"),
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


class TeacherFace(SQLModel, table=True):
    """One enrolment photo of a teacher and its face encoding. Sensitive: deleted for good on request."""

    __tablename__ = "teacher_faces"

    id: int | None = Field(default=None, primary_key=True)
    teacher_id: str = Field(foreign_key="teachers.id", index=True, max_length=64)
    photo_key: str = Field(max_length=200)
    encoding: bytes = Field(sa_type=sa.LargeBinary)  # float64 little-endian vector
    model: str = Field(max_length=100)
    enrolled_by: str = Field(max_length=200)
    enrolled_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
