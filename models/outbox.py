"""The outbox: events written in the same transaction as the change they announce, and their
webhook deliveries (one per event and endpoint URL)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import Column, Field, SQLModel

from models.base import JSONType, UTCDateTime, new_id, status_type, utcnow


class Event(SQLModel, table=True):
    """An event; ``seq`` orders the feed (commits of events are serialised, so it never skips)."""

    __tablename__ = "events"

    seq: int | None = Field(
        default=None, primary_key=True, sa_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    )
    id: str = Field(default_factory=lambda: new_id("evt"), unique=True, max_length=64)
    type: str = Field(index=True, max_length=64)
    submission_id: str | None = Field(default=None, index=True, max_length=64)
    region: str | None = Field(default=None, index=True, max_length=128)  # the submission's school
    teacher_id: str | None = Field(default=None, max_length=64)
    data: dict[str, Any] = Field(sa_column=Column(JSONType, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class WebhookEndpoint(SQLModel, table=True):
    """A configured webhook URL and how far the dispatcher has fanned events out to it."""

    __tablename__ = "webhook_endpoints"

    url: str = Field(primary_key=True, max_length=1000)
    last_seq: int = Field(default=0, sa_type=sa.BigInteger)


class DeliveryStatus(StrEnum):
    pending = "pending"
    delivered = "delivered"
    dead = "dead"


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("event_id", "url", name="uq_webhook_deliveries_event_url"),
        sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    id: str = Field(default_factory=lambda: new_id("dlv"), primary_key=True, max_length=64)
    event_id: str = Field(foreign_key="events.id", max_length=64)
    url: str = Field(max_length=1000)
    status: DeliveryStatus = Field(default=DeliveryStatus.pending, sa_type=status_type(DeliveryStatus))
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    last_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime())
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime())


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
