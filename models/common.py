"""What every API schema shares: id and region patterns, ISO date-time queries, strict requests."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


REGION_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}(\.[a-z0-9][a-z0-9_-]{0,31}){0,3}$"


SCHOOL_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,31}(\.[a-z0-9][a-z0-9_-]{0,31}){3}$"


def _iso_text(value: object) -> object:
    """Date-times in queries are ISO 8601 text with an offset (no bare numbers read as timestamps)."""
    if isinstance(value, str) and not re.match(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}", value):
        raise ValueError("use an ISO 8601 date-time with an offset, e.g. 2026-09-01T00:00:00+08:00")
    return value


def _in_utc(value: datetime) -> datetime:
    """The instant in UTC; one that UTC cannot hold (year 0 or 10000, e.g.
    ``0001-01-01T00:00:00+14:00``) is out of range."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("date-time out of range once converted to UTC") from None


IsoDatetime = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_in_utc)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")
