"""Submissions: the uploaded recording, its status and report, the metadata the API adds (declared
micro-capabilities, lineage, uploader, derived verdict columns), and the API schemas that show them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BaseModel, StringConstraints
from pydantic import Field as PydanticField
from sqlmodel import Column, Field, SQLModel

from models.base import JSONType, UTCDateTime, new_id, status_type, utcnow

MICRO_CAPABILITIES: tuple[str, ...] = (
    *(f"A{i}" for i in range(1, 14)),
    *(f"B{i}" for i in range(1, 11)),
    *(f"C{i}" for i in range(1, 8)),
)


MAX_MICRO_CAPABILITIES = 30


_CODE = r" *(?:[Aa](?:1[0-3]|[1-9])|[Bb](?:10|[1-9])|[Cc][1-7]) *"


CODE_PATTERN = rf"^{_CODE}$"


CODES_PATTERN = rf"^{_CODE}(?:,{_CODE}){{0,29}}$"  # 1 to 30, comma-separated


class SubmissionStatus(StrEnum):
    queued = "queued"
    processing = "processing"
    screened = "screened"
    rejected = "rejected"
    failed = "failed"


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


def parse_micro_capabilities(values: list[str] | str) -> list[str]:
    """1-30 codes from A1–A13, B1–B10, C1–C7, given as repeated values and/or comma-separated;
    raises ``ValueError``. Order is kept, repeats dropped."""
    items = [values] if isinstance(values, str) else list(values)
    if len(items) > 1 and any("," in str(item) for item in items):
        raise ValueError("repeat the field with one code each, or send one comma-separated value")
    given = [raw.strip(" ") for item in items for raw in str(item).split(",")]
    if not 1 <= len(given) <= MAX_MICRO_CAPABILITIES:
        raise ValueError("give 1 to 30 micro-capability codes")
    codes: list[str] = []
    for raw in given:
        if raw.upper() not in MICRO_CAPABILITIES:
            raise ValueError(f"unknown micro-capability {raw!r}")
        if raw.upper() not in codes:
            codes.append(raw.upper())
    return codes


Codes = Annotated[
    Annotated[
        list[Annotated[str, StringConstraints(pattern=CODE_PATTERN)]],
        PydanticField(min_length=1, max_length=30),
    ]
    | Annotated[str, StringConstraints(pattern=CODES_PATTERN)],
    PydanticField(
        description="Codes from A1–A13, B1–B10, C1–C7 (1 to 30): a list, or one comma-separated string"
    ),
]


# -- submissions -----------------------------------------------------------------------------------------
class SubmissionLinks(BaseModel):
    self: str
    rendition: str
    keyframes: str
    contact_sheet: str
    duplicates: str


class SubmissionPublic(BaseModel):
    id: str
    teacher_id: str | None
    status: SubmissionStatus
    overall: Overall | None = PydanticField(
        description="invalid > duplicate > needs_review > clear; null until screened"
    )
    duplicate: bool
    micro_capabilities: list[str]
    resubmission_of: str | None
    filename: str | None
    size_bytes: int
    sha256: str
    created_at: datetime
    updated_at: datetime
    report: dict[str, Any] | None = PydanticField(
        description="The screening report; storage URIs are API paths"
    )
    duplicates_hidden: int = PydanticField(
        default=0, description="Duplicate matches with submissions you may not open: counted, not listed"
    )
    links: SubmissionLinks


class SubmissionSummary(BaseModel):
    id: str
    teacher_id: str | None
    school_code: str | None
    subject: str | None
    status: SubmissionStatus
    overall: Overall | None
    duplicate: bool
    micro_capabilities: list[str]
    created_at: datetime
    updated_at: datetime


class SubmissionPage(BaseModel):
    data: list[SubmissionSummary]
    next_cursor: str | None


class KeyframesPublic(BaseModel):
    submission_id: str
    keyframes: list[dict[str, Any]]
    contact_sheet: dict[str, Any] | None


class DuplicatesPublic(BaseModel):
    submission_id: str
    duplicate: bool
    duplicates: list[dict[str, Any]]
    duplicates_hidden: int = PydanticField(
        default=0, description="Duplicate matches with submissions you may not open: counted, not listed"
    )


class ReprocessPublic(BaseModel):
    submission_id: str
    status: SubmissionStatus
    job_id: str


# -- statistics ------------------------------------------------------------------------------------------
class StatsGroup(BaseModel):
    key: str = PydanticField(description="The region one level down (or, for a school, the teacher id)")
    submissions: int
    by_status: dict[str, int]
    by_overall: dict[str, int]
    rates: dict[str, float] = PydanticField(
        description="Share of the screened-or-rejected submissions per overall"
    )


class StatsPublic(BaseModel):
    region: str
    group_by: str
    since: datetime | None
    until: datetime | None
    total: StatsGroup
    groups: list[StatsGroup]
