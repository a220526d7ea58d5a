"""The API's request and response schemas (requests reject unknown fields)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from models.outbox import DeliveryStatus
from models.submission_meta import Overall
from models.tables import SubmissionStatus
from models.uploads import UploadStatus

MICRO_CAPABILITIES: tuple[str, ...] = (
    *(f"A{i}" for i in range(1, 14)),
    *(f"B{i}" for i in range(1, 11)),
    *(f"C{i}" for i in range(1, 8)),
)
MAX_MICRO_CAPABILITIES = 30
_CODE = r" *(?:[Aa](?:1[0-3]|[1-9])|[Bb](?:10|[1-9])|[Cc][1-7]) *"
CODE_PATTERN = rf"^{_CODE}$"
CODES_PATTERN = rf"^{_CODE}(?:,{_CODE}){{0,29}}$"  # 1 to 30, comma-separated
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
REGION_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}(\.[a-z0-9][a-z0-9_-]{0,31}){0,3}$"
SCHOOL_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}(\.[a-z0-9][a-z0-9_-]{0,31}){3}$"


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
        list[Annotated[str, StringConstraints(pattern=CODE_PATTERN)]], Field(min_length=1, max_length=30)
    ]
    | Annotated[str, StringConstraints(pattern=CODES_PATTERN)],
    Field(description="Codes from A1–A13, B1–B10, C1–C7 (1 to 30): a list, or one comma-separated string"),
]


def _iso_text(value: object) -> object:
    """Date-times in queries are ISO 8601 text with an offset (no bare numbers read as timestamps)."""
    if isinstance(value, str) and not re.match(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}", value):
        raise ValueError("use an ISO 8601 date-time with an offset, e.g. 2026-09-01T00:00:00+08:00")
    return value


IsoDatetime = Annotated[AwareDatetime, BeforeValidator(_iso_text)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- teachers --------------------------------------------------------------------------------------------
class TeacherCreate(Request):
    id: str = Field(pattern=ID_PATTERN)
    name: str | None = Field(default=None, max_length=200)
    school_code: str = Field(pattern=SCHOOL_PATTERN, description="province.city.county.school")
    subject: str = Field(min_length=1, max_length=64)


class TeacherPublic(BaseModel):
    id: str
    name: str | None
    school_code: str | None
    subject: str | None
    enrolled_photos: int
    created_at: datetime


class EnrolmentPublic(BaseModel):
    teacher_id: str
    enrolled_photos: int


class ForgetPublic(BaseModel):
    teacher_id: str
    deleted_photos: int


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
    overall: Overall | None = Field(
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
    report: dict[str, Any] | None = Field(description="The screening report; storage URIs are API paths")
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


class ReprocessPublic(BaseModel):
    submission_id: str
    status: SubmissionStatus
    job_id: str


# -- uploads ---------------------------------------------------------------------------------------------
class UploadCreate(Request):
    teacher_id: str = Field(pattern=ID_PATTERN)
    micro_capabilities: Codes
    resubmission_of: str | None = Field(default=None, max_length=64)
    filename: str | None = Field(default=None, max_length=500)
    size_bytes: int = Field(gt=0)

    @field_validator("micro_capabilities")
    @classmethod
    def _codes(cls, v: list[str] | str) -> list[str]:
        return parse_micro_capabilities(v)


class UploadPart(BaseModel):
    number: int
    size: int
    url: str = Field(description="PUT the part's bytes here (a presigned S3 URL, or an API path)")


class ReceivedPart(BaseModel):
    number: int
    size: int
    etag: str


class CompletedPart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: int = Field(ge=1)
    etag: str = Field(max_length=200, description="The ETag the part's PUT answered")


class UploadComplete(BaseModel):
    """Optional body of ``POST /v1/uploads/{id}/complete``: the ETag each successful part PUT answered,
    as in S3's CompleteMultipartUpload. With it, a part sent more than once is joined from the copy
    the client confirmed; without it, from the newest copy."""

    model_config = ConfigDict(extra="forbid")

    parts: list[CompletedPart] = Field(default_factory=list, max_length=10_000)


class UploadPublic(BaseModel):
    id: str
    status: UploadStatus
    teacher_id: str
    size_bytes: int
    part_bytes: int
    part_count: int
    parts: list[UploadPart] = Field(description="Where to send each part not yet received")
    received: list[ReceivedPart]
    expires_at: datetime
    submission_id: str | None


# -- events and webhooks ---------------------------------------------------------------------------------
class EventPublic(BaseModel):
    id: str
    type: str
    created_at: datetime
    data: dict[str, Any]


class EventPage(BaseModel):
    data: list[EventPublic]
    next_cursor: str


class DeliveryPublic(BaseModel):
    id: str
    event_id: str
    event_type: str
    submission_id: str | None
    url: str
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None


class DeliveryPage(BaseModel):
    data: list[DeliveryPublic]
    next_cursor: str | None


# -- statistics ------------------------------------------------------------------------------------------
class StatsGroup(BaseModel):
    key: str = Field(description="The region one level down (or, for a school, the teacher id)")
    submissions: int
    by_status: dict[str, int]
    by_overall: dict[str, int]
    rates: dict[str, float] = Field(description="Share of the screened-or-rejected submissions per overall")


class StatsPublic(BaseModel):
    region: str
    group_by: str
    since: datetime | None
    until: datetime | None
    total: StatsGroup
    groups: list[StatsGroup]
