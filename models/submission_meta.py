"""What the API adds to a submission: declared capabilities, lineage, uploader, and the verdict
columns derived from the report (kept in step by ``api.outbox``) that administrators filter on."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Column, Field, SQLModel

from models.tables import JSONType, UTCDateTime, status_type, utcnow


class Overall(StrEnum):
    clear = "clear"
    needs_review = "needs_review"
    invalid = "invalid"
    duplicate = "duplicate"


class SubmissionMeta(SQLModel, table=True):
    __tablename__ = "submission_meta"

    submission_id: str = Field(foreign_key="submissions.id", primary_key=True, max_length=64)
    micro_capabilities: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    resubmission_of: str | None = Field(default=None, foreign_key="submissions.id", max_length=64)
    uploaded_by: str | None = Field(default=None, foreign_key="users.id", max_length=64)
    overall: Overall | None = Field(default=None, index=True, sa_type=status_type(Overall))
    duplicate: bool = Field(default=False, index=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
