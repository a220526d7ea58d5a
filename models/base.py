"""Column types and helpers every table shares: aware UTC datetimes, JSON (JSONB on PostgreSQL), status
columns, ids, and the constraint naming convention."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import SQLModel

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

    @property
    def python_type(self) -> type:
        return datetime

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
