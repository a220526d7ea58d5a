"""The audit log: who did what to which object, when and from where. Append-only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlmodel import Column, Field, SQLModel

from models.base import JSONType, UTCDateTime, utcnow


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime(), index=True)
    actor_id: str | None = Field(default=None, index=True, max_length=64)  # users.id (kept if deleted)
    action: str = Field(index=True, max_length=64)  # e.g. teacher.create, evidence.read
    object_type: str = Field(max_length=32)
    object_id: str = Field(index=True, max_length=128)
    region: str | None = Field(default=None, index=True, max_length=128)
    ip: str | None = Field(default=None, max_length=64)
    request_id: str | None = Field(default=None, max_length=64)
    detail: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONType))


class AuditPublic(BaseModel):
    id: int
    at: datetime
    actor_id: str | None
    action: str
    object_type: str
    object_id: str
    region: str | None
    ip: str | None
    request_id: str | None
    detail: dict[str, Any] | None


class AuditPage(BaseModel):
    data: list[AuditPublic]
    next_cursor: str | None
