"""Resumable (multipart) uploads: parts go straight to S3 (presigned URLs) or to the API (local)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from models.tables import JSONType, UTCDateTime, new_id, status_type, utcnow


class UploadStatus(StrEnum):
    open = "open"
    completing = "completing"
    completed = "completed"
    aborted = "aborted"


class Upload(SQLModel, table=True):
    __tablename__ = "uploads"

    id: str = Field(default_factory=lambda: new_id("upl"), primary_key=True, max_length=64)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=64)
    teacher_id: str = Field(foreign_key="teachers.id", max_length=64)
    micro_capabilities: list[str] = Field(sa_column=Column(JSONType, nullable=False))
    resubmission_of: str | None = Field(default=None, foreign_key="submissions.id", max_length=64)
    filename: str | None = Field(default=None, max_length=500)
    size_bytes: int = Field(sa_type=sa.BigInteger)
    part_bytes: int = Field(sa_type=sa.BigInteger)
    staging_key: str = Field(max_length=300)  # S3 staging object key, or the local parts directory
    backend_upload_id: str | None = Field(default=None, max_length=1024)  # S3 UploadId
    status: UploadStatus = Field(default=UploadStatus.open, sa_type=status_type(UploadStatus))
    submission_id: str | None = Field(default=None, foreign_key="submissions.id", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    expires_at: datetime = Field(sa_type=UTCDateTime())
