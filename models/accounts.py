"""API users, their roles and API keys (keys are stored as SHA-256 hashes, never in clear)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, new_id, status_type, utcnow


class Role(StrEnum):
    teacher = "teacher"
    reviewer = "reviewer"
    school_admin = "school_admin"
    county_admin = "county_admin"
    city_admin = "city_admin"
    province_admin = "province_admin"
    service = "service"


class UserBase(SQLModel):
    name: str | None = Field(default=None, max_length=200)
    # The unit the user belongs to (dotted region code); an administrator's scope.
    region: str | None = Field(default=None, index=True, max_length=128)
    teacher_id: str | None = Field(default=None, foreign_key="teachers.id", index=True, max_length=64)


class User(UserBase, table=True):
    __tablename__ = "users"

    id: str = Field(default_factory=lambda: new_id("usr"), primary_key=True, max_length=64)
    disabled: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    # Set when the user is disabled: bearer tokens and browser sessions issued before it are refused
    # for good, even once the user is enabled again (``core.accounts.set_disabled``).
    tokens_valid_after: datetime | None = Field(default=None, sa_type=UTCDateTime())


class UserRole(SQLModel, table=True):
    """One role of one user (a user may hold several, e.g. teacher and peer reviewer)."""

    __tablename__ = "user_roles"

    user_id: str = Field(foreign_key="users.id", primary_key=True, max_length=64)
    role: Role = Field(primary_key=True, sa_type=status_type(Role))


class ApiKey(SQLModel, table=True):
    """An API key: ``evk_<id>_<secret>``; only the SHA-256 of the secret is kept."""

    __tablename__ = "api_keys"

    id: str = Field(primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", index=True, max_length=64)
    secret_sha256: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime())


class UserPublic(SQLModel):
    id: str
    name: str | None
    region: str | None
    teacher_id: str | None
    roles: list[Role]
    disabled: bool


class ApiKeyPublic(SQLModel):
    id: str
    user_id: str
    created_at: datetime
    revoked_at: datetime | None
