"""Idempotency keys: a retried create returns the first response instead of creating twice."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Column, Field, SQLModel

from models.base import JSONType, UTCDateTime, utcnow


class IdempotencyKey(SQLModel, table=True):
    """One ``Idempotency-Key`` of one user on one endpoint: in flight until ``response`` is stored."""

    __tablename__ = "idempotency_keys"

    user_id: str = Field(foreign_key="users.id", primary_key=True, max_length=64)
    key: str = Field(primary_key=True, max_length=255)
    endpoint: str = Field(max_length=100)
    fingerprint: str | None = Field(default=None, max_length=64)  # SHA-256 of the request
    status_code: int | None = None  # None while in flight
    response: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
