"""Resumable (multipart) uploads: parts go straight to S3 (presigned URLs) or to the API (local)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, field_validator
from pydantic import Field as PydanticField
from sqlmodel import Column, Field, SQLModel

from models.base import JSONType, UTCDateTime, new_id, status_type, utcnow
from models.common import ID_PATTERN, Request
from models.submissions import Codes, parse_micro_capabilities


class UploadStatus(StrEnum):
    open = "open"
    completing = "completing"
    completed = "completed"
    aborted = "aborted"
    expired = "expired"  # no new part for too long, or open too long: its parts were dropped


class Upload(SQLModel, table=True):
    __tablename__ = "uploads"
    __table_args__ = (sa.Index("ix_uploads_due", "status", "expires_at"),)

    id: str = Field(default_factory=lambda: new_id("upl"), primary_key=True, max_length=64)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=64)
    teacher_id: str = Field(foreign_key="teachers.id", index=True, max_length=64)
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
    # Open: expires at this time unless a new part arrives first (never later than the total limit).
    expires_at: datetime = Field(sa_type=UTCDateTime())


# -- uploads ---------------------------------------------------------------------------------------------
class UploadCreate(Request):
    teacher_id: str = PydanticField(pattern=ID_PATTERN)
    micro_capabilities: Codes
    resubmission_of: str | None = PydanticField(default=None, max_length=64)
    filename: str | None = PydanticField(default=None, max_length=500)
    size_bytes: int = PydanticField(gt=0)

    @field_validator("micro_capabilities")
    @classmethod
    def _codes(cls, v: list[str] | str) -> list[str]:
        return parse_micro_capabilities(v)


class UploadPart(BaseModel):
    number: int
    size: int
    url: str = PydanticField(description="PUT the part's bytes here (a presigned S3 URL, or an API path)")


class ReceivedPart(BaseModel):
    number: int
    size: int
    etag: str


class CompletedPart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: int = PydanticField(ge=1)
    etag: str = PydanticField(max_length=200, description="The ETag the part's PUT answered")


class UploadComplete(BaseModel):
    """Optional body of ``POST /v1/uploads/{id}/complete``: the ETag each successful part PUT answered,
    as in S3's CompleteMultipartUpload. With it, a part sent more than once is joined from the copy
    the client confirmed; without it, from the newest copy."""

    model_config = ConfigDict(extra="forbid")

    parts: list[CompletedPart] = PydanticField(default_factory=list, max_length=10_000)


class UploadPublic(BaseModel):
    id: str
    status: UploadStatus
    teacher_id: str
    size_bytes: int
    part_bytes: int
    part_count: int
    parts: list[UploadPart] = PydanticField(description="Where to send each part not yet received")
    received: list[ReceivedPart]
    expires_at: datetime = PydanticField(description="Expires then unless a new part arrives first")
    submission_id: str | None
