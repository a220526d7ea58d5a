"""Authentication: HS256-pinned JWTs (``exp``, ``aud``, ``iss``, ``sub`` required) and hashed API keys.

A token names a user; roles and region are read from the database on every request, so a change
takes effect at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import jwt
from sqlmodel import Session, select

from core import regions
from core.secrets import jwt_secret
from core.settings import Settings
from models.accounts import ApiKey, Role, User, UserRole
from models.base import utcnow
from models.teachers import Teacher

ALGORITHM = "HS256"
API_KEY_PREFIX = "evk_"
ADMIN_DEPTH = {Role.province_admin: 1, Role.city_admin: 2, Role.county_admin: 3, Role.school_admin: 4}


class InvalidCredentials(Exception):
    """The token or key is malformed, expired, revoked, or names no active user."""


@dataclass(frozen=True)
class Principal:
    """The caller: a user with its roles, region and (for teachers) teacher id."""

    user_id: str
    roles: frozenset[Role]
    region: str | None = None
    teacher_id: str | None = None
    name: str | None = None

    def has(self, *roles: Role) -> bool:
        return any(r in self.roles for r in roles)

    @property
    def admin_scope(self) -> str | None:
        """The region an administrator oversees (None for non-administrators)."""
        if self.region and any(r in ADMIN_DEPTH for r in self.roles):
            return self.region
        return None

    @property
    def is_service(self) -> bool:
        return Role.service in self.roles

    def sees(self, teacher_id: str | None, school_code: str | None) -> bool:
        """Whether the caller may see a submission or teacher (of ``teacher_id`` at ``school_code``)."""
        if self.is_service:
            return True
        if self.teacher_id is not None and Role.teacher in self.roles and teacher_id == self.teacher_id:
            return True
        scope = self.admin_scope
        return scope is not None and regions.contains(scope, school_code)

    def administers(self, school_code: str | None) -> bool:
        """Whether the caller is an administrator of ``school_code``'s region."""
        scope = self.admin_scope
        return scope is not None and regions.contains(scope, school_code)


def check_roles(roles: set[Role], region: str | None, teacher_id: str | None) -> None:
    """Raise ``ValueError`` unless the roles fit the region and teacher: an administrator's region is
    at the role's level; a teacher has a teacher id; a service account has no region."""
    if not roles:
        raise ValueError("a user needs at least one role")
    for role in roles & ADMIN_DEPTH.keys():
        if region is None or regions.depth(region) != ADMIN_DEPTH[role]:
            want = regions.LEVELS[ADMIN_DEPTH[role] - 1]
            raise ValueError(f"{role.value} needs a {want} region code, got {region!r}")
    if Role.teacher in roles and teacher_id is None:
        raise ValueError("the teacher role needs --teacher ID")


def issue_token(settings: Settings, user_id: str, ttl_s: float = 30 * 86400) -> str:
    """A signed bearer token for ``user_id`` valid for ``ttl_s`` seconds."""
    now = int(time.time())
    claims = {
        "sub": user_id,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + int(ttl_s),
    }
    return jwt.encode(claims, jwt_secret(settings), algorithm=ALGORITHM)


def decode_token(settings: Settings, token: str) -> str:
    """The user id of a valid token; raises ``InvalidCredentials``."""
    try:
        claims = jwt.decode(
            token,
            jwt_secret(settings),
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "aud", "iss", "sub"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidCredentials(str(exc)) from exc
    return str(claims["sub"])


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(session: Session, user_id: str) -> str:
    """Store a new key for ``user_id`` (hashed) and return it in clear, once."""
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    session.add(ApiKey(id=key_id, user_id=user_id, secret_sha256=_sha256(secret)))
    session.flush()
    return f"{API_KEY_PREFIX}{key_id}_{secret}"


def api_key_user(session: Session, token: str) -> str:
    """The user id of a valid, unrevoked API key; raises ``InvalidCredentials``."""
    key_id, _, secret = token.removeprefix(API_KEY_PREFIX).partition("_")
    row = session.get(ApiKey, key_id) if key_id and secret else None
    if row is None or row.revoked_at is not None:
        raise InvalidCredentials("unknown or revoked API key")
    if not hmac.compare_digest(row.secret_sha256, _sha256(secret)):
        raise InvalidCredentials("unknown or revoked API key")
    return row.user_id


def load_principal(session: Session, user_id: str) -> Principal:
    """The active user ``user_id`` with its roles; raises ``InvalidCredentials``."""
    user = session.get(User, user_id)
    if user is None or user.disabled:
        raise InvalidCredentials("unknown or disabled user")
    roles = frozenset(session.exec(select(UserRole.role).where(UserRole.user_id == user_id)))
    return Principal(user.id, roles, user.region, user.teacher_id, user.name)


def authenticate(session: Session, settings: Settings, token: str) -> Principal:
    """The principal a bearer token or API key names; raises ``InvalidCredentials``."""
    if token.startswith(API_KEY_PREFIX):
        user_id = api_key_user(session, token)
    else:
        user_id = decode_token(settings, token)
    return load_principal(session, user_id)


def create_user(
    session: Session,
    roles: set[Role],
    *,
    name: str | None = None,
    region: str | None = None,
    teacher_id: str | None = None,
) -> User:
    """A new user with ``roles`` (validated by ``check_roles``). A teacher must exist; their region
    defaults to the teacher's school."""
    if teacher_id is not None:
        teacher = session.get(Teacher, teacher_id)
        if teacher is None:
            raise ValueError(f"no teacher {teacher_id!r}")
        region = region or teacher.school_code
    region = regions.normalize(region) if region else None
    check_roles(roles, region, teacher_id)
    user = User(name=name, region=region, teacher_id=teacher_id, created_at=utcnow())
    session.add(user)
    session.flush()
    for role in sorted(roles):
        session.add(UserRole(user_id=user.id, role=role))
    session.flush()
    return user
