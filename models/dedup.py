"""Duplicate detection: which fingerprints the index holds, the matches found, shared material."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlmodel import Column, Field, SQLModel

from models.base import JSONType, UTCDateTime, utcnow
from models.common import ID_PATTERN


class DedupEntry(SQLModel, table=True):
    """A submission whose fingerprints are in the duplicate index. ``seq`` orders additions, so an
    index held in memory catches up by reading the entries past the last one it saw."""

    __tablename__ = "dedup_entries"

    seq: int | None = Field(default=None, primary_key=True)
    submission_id: str = Field(foreign_key="submissions.id", unique=True, max_length=64)
    visual_version: str = Field(max_length=32)
    audio_version: str = Field(max_length=32)
    allowlisted: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class DuplicateMatch(SQLModel, table=True):
    """One direction of a match: ``other_id`` as seen from ``submission_id`` (both are stored)."""

    __tablename__ = "duplicate_matches"

    submission_id: str = Field(foreign_key="submissions.id", primary_key=True, max_length=64)
    other_id: str = Field(foreign_key="submissions.id", primary_key=True, max_length=64, index=True)
    kind: str = Field(max_length=16)  # exact | near | partial | audio_only
    verdict: str = Field(max_length=16)  # duplicate | needs_review
    score: float
    query_coverage: float
    match_coverage: float
    segments: list[dict[str, float]] = Field(sa_column=Column(JSONType, nullable=False))
    reasons: list[str] = Field(sa_column=Column(JSONType, nullable=False))
    version: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class AllowlistItem(SQLModel, table=True):
    """Known shared material (national courseware clips, school intros): matches with it never flag."""

    __tablename__ = "allowlist"

    submission_id: str = Field(foreign_key="submissions.id", primary_key=True, max_length=64)
    title: str = Field(max_length=300)
    added_by: str = Field(max_length=200)
    added_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))


class AllowlistCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    submission_id: str = PydanticField(pattern=ID_PATTERN, description="A screened submission")
    title: str = PydanticField(min_length=1, max_length=300, description="What the material is")


class AllowlistPublic(BaseModel):
    submission_id: str
    title: str
    added_by: str
    added_at: datetime
    rechecked: list[str] = PydanticField(
        default_factory=list, description="Submissions that matched it, queued for a re-check"
    )
