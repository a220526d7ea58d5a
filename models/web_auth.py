"""Sign-in for people in a browser: a password per user (only its argon2 hash is kept), the sessions a
sign-in opens (only the SHA-256 of the cookie is kept), and failed attempts for throttling."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Column, Field, SQLModel

from models.accounts import User
from models.base import UTCDateTime, utcnow


class UserPassword(SQLModel, table=True):
    """A user's sign-in name and password hash (users without a row cannot sign in to the pages)."""

    __tablename__ = "user_passwords"

    user_id: str = Field(foreign_key="users.id", primary_key=True, max_length=64)
    login: str = Field(unique=True, max_length=64)  # what the person types; lower case
    password_hash: str = Field(max_length=255)  # argon2id, PHC string
    changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class WebSession(SQLModel, table=True):
    """A signed-in browser: the cookie's SHA-256 names it; its CSRF token guards state changes."""

    __tablename__ = "web_sessions"

    id: str = Field(primary_key=True, max_length=64)  # sha256(cookie value), hex
    user_id: str = Field(foreign_key="users.id", index=True, max_length=64)
    csrf_token: str = Field(max_length=64)
    address: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    expires_at: datetime = Field(sa_type=UTCDateTime())  # absolute end, whatever the activity


class SignInFailure(SQLModel, table=True):
    """One failed sign-in, counted against its account name and its client address."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (sa.Index("ix_sign_in_failures_key_at", "key", "at"),)

    id: int | None = Field(
        default=None,
        sa_column=Column(
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    key: str = Field(max_length=200)  # "account:<login>" or "address:<ip>"
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


@sa.event.listens_for(User, "after_update")
def _disabling_ends_sessions(_mapper: Any, connection: sa.Connection, user: User) -> None:
    """A user disabled through the ORM loses every browser session in the same transaction (sessions
    of a user disabled otherwise are refused and removed at their next request)."""
    if user.disabled and sa.inspect(user).attrs.disabled.history.has_changes():
        table = WebSession.__table__
        connection.execute(sa.delete(table).where(table.c.user_id == user.id))
