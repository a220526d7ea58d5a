"""Duplicate detection: the signatures the index is built from, published index snapshots, the matches
found, shared material."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlmodel import Column, Field, SQLModel

from models.base import JSONType, UTCDateTime, utcnow
from models.common import ID_PATTERN


class DedupSignature(SQLModel, table=True):
    """A submission in the duplicate index: its signature (what the index holds) and its fingerprint
    (what verification reads), as compact binary. ``seq`` follows commit order (rows are written under
    a lock), so an index that has read every row up to ``seq`` has seen every earlier commit; a changed
    row (new fingerprint version, allowlisted since) is written again under a new ``seq``."""

    __tablename__ = "dedup_signatures"

    seq: int | None = Field(
        default=None,
        sa_column=Column(
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    submission_id: str = Field(foreign_key="submissions.id", unique=True, max_length=64)
    shard_key: int = Field(index=True)  # a stable hash of the submission id; shard = shard_key % shards
    visual_version: str = Field(max_length=32)
    audio_version: str = Field(max_length=32)
    allowlisted: bool = False
    duration_s: float = 0.0
    signature: bytes = Field(sa_type=sa.LargeBinary)  # pipeline.dedup.Signature
    fingerprint: bytes = Field(sa_type=sa.LargeBinary)  # pipeline.dedup.encode_fingerprint, no thumbnails
    thumbs_key: str | None = Field(default=None, max_length=200)  # keyframe thumbnails, for verification
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class DedupSnapshot(SQLModel, table=True):
    """A published index snapshot of one shard: every row of the shard up to ``seq`` is in it."""

    __tablename__ = "dedup_snapshots"
    __table_args__ = (sa.Index("ix_dedup_snapshots_shard", "shards", "shard", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    shards: int
    shard: int
    seq: int = Field(sa_type=sa.BigInteger)
    blob_key: str = Field(max_length=200)
    entries: int
    size_bytes: int = Field(sa_type=sa.BigInteger)
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
