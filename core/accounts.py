"""Authentication: HS256-pinned JWTs (``exp``, ``aud``, ``iss``, ``sub``, ``iat`` required) and hashed
API keys.

A token names a user; roles and region are read from the database on every request, so a change
takes effect at once. Disabling a user ends their tokens (and browser sessions) for good: those issued
before it stay refused once the user is enabled again. API keys are only refused while the user is
disabled; a key ends when it is revoked.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from sqlmodel import Session, select

from core import regions
from core.audit import Origin, record
from core.errors import NotFound
from core.secrets import jwt_secret
from core.settings import Settings
from models.accounts import ApiKey, Role, User, UserPublic, UserRole
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


def issue_token(settings: Settings, user_id: str, ttl_s: float | None = None) -> str:
    """A signed bearer token for ``user_id`` valid for ``ttl_s`` seconds (default ``jwt_hours``)."""
    ttl_s = settings.jwt_hours * 3600 if ttl_s is None else ttl_s
    now = int(time.time())
    claims = {
        "sub": user_id,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + int(ttl_s),
    }
    return jwt.encode(claims, jwt_secret(settings), algorithm=ALGORITHM)


def _token_claims(settings: Settings, token: str) -> tuple[str, datetime]:
    """The user id and issue time of a valid token; raises ``InvalidCredentials``."""
    try:
        claims = jwt.decode(
            token,
            jwt_secret(settings),
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "aud", "iss", "sub", "iat"]},
        )
        issued_at = datetime.fromtimestamp(int(claims["iat"]), UTC)
    except (jwt.PyJWTError, TypeError, ValueError, OverflowError, OSError) as exc:
        raise InvalidCredentials(str(exc)) from exc
    return str(claims["sub"]), issued_at


def decode_token(settings: Settings, token: str) -> str:
    """The user id of a valid token; raises ``InvalidCredentials``."""
    return _token_claims(settings, token)[0]


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


def load_principal(session: Session, user_id: str, issued_at: datetime | None = None) -> Principal:
    """The active user ``user_id`` with its roles; raises ``InvalidCredentials``. Every way of
    signing in ends here, so a disabled user is refused whatever credential it shows, and a token or
    session issued (``issued_at``) before the user's ``tokens_valid_after`` is refused for good. API
    keys pass no ``issued_at``: they have their own revocation."""
    user = session.get(User, user_id)
    if user is None or user.disabled:
        raise InvalidCredentials("unknown or disabled user")
    if issued_at is not None and user.tokens_valid_after is not None and issued_at < user.tokens_valid_after:
        raise InvalidCredentials("issued before the user was disabled")
    roles = frozenset(session.exec(select(UserRole.role).where(UserRole.user_id == user_id)))
    return Principal(user.id, roles, user.region, user.teacher_id, user.name)


def authenticate(session: Session, settings: Settings, token: str) -> Principal:
    """The principal a bearer token or API key names; raises ``InvalidCredentials``."""
    if token.startswith(API_KEY_PREFIX):
        return load_principal(session, api_key_user(session, token))
    user_id, issued_at = _token_claims(settings, token)
    return load_principal(session, user_id, issued_at)


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


# -- managing accounts (the CLI: everyone; the API: administrators, see ``may_manage``) --------------
def roles_of(session: Session, user_id: str) -> frozenset[Role]:
    return frozenset(session.exec(select(UserRole.role).where(UserRole.user_id == user_id)))


def may_manage(actor: Principal, user: User, roles: frozenset[Role]) -> bool:
    """Whether administrator ``actor`` may disable, enable or revoke the keys of ``user``: someone
    else in the actor's region, neither a service account nor an administrator at or above the
    actor's level."""
    scope = actor.admin_scope
    if scope is None or user.id == actor.user_id or Role.service in roles:
        return False
    if not regions.contains(scope, user.region):
        return False
    depth = min(ADMIN_DEPTH[r] for r in actor.roles if r in ADMIN_DEPTH)
    return all(ADMIN_DEPTH[r] > depth for r in roles if r in ADMIN_DEPTH)


def managed_user(session: Session, user_id: str, actor: Principal | None = None) -> User:
    """The user, when ``actor`` (None: the CLI) may manage them; else ``NotFound``."""
    user = session.get(User, user_id)
    if user is None or (actor is not None and not may_manage(actor, user, roles_of(session, user_id))):
        raise NotFound()
    return user


def _next_whole_second(at: datetime) -> datetime:
    return at.replace(microsecond=0) + timedelta(seconds=1)


def set_disabled(
    session: Session, user_id: str, disabled: bool, origin: Origin, actor: Principal | None = None
) -> User:
    """Disable (or enable again) a user, audited. ``actor``: the administrator doing it through the
    API (None: the CLI).

    Disabling refuses the user's tokens, sessions and API keys at once, and ends every token and
    session issued before it for good (``tokens_valid_after``: the next whole second, as a token's
    ``iat`` is in whole seconds, so one issued in the same second is refused too). Enabling again
    lets the API keys work again; within that second it waits for the second to end (at most 1 s),
    so whatever is issued after enabling is valid."""
    user = managed_user(session, user_id, actor)
    if user.disabled != disabled:
        now = utcnow()
        if disabled:
            user.tokens_valid_after = _next_whole_second(now)
        elif user.tokens_valid_after is not None and now < user.tokens_valid_after:
            time.sleep(min((user.tokens_valid_after - now).total_seconds(), 1.0))
        user.disabled = disabled
        session.add(user)
        action = "user.disable" if disabled else "user.enable"
        record(session, origin, action, "user", user.id, region=user.region)
    session.flush()
    return user


def revoke_api_key(session: Session, key: str, origin: Origin, actor: Principal | None = None) -> ApiKey:
    """Revoke an API key, named by its id or in full (``evk_<id>_<secret>``), audited; revoking it
    again changes nothing."""
    key_id = key.removeprefix(API_KEY_PREFIX).partition("_")[0]
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound()
    user = managed_user(session, row.user_id, actor)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        record(session, origin, "api_key.revoke", "api_key", row.id, region=user.region)
    session.flush()
    return row


def fresh_token(session: Session, settings: Settings, user_id: str, hours: float | None = None) -> str:
    """A new bearer token for an existing, enabled user (``hours``: default ``jwt_hours``)."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound()
    if user.disabled:
        raise ValueError(f"user {user_id} is disabled: enable it first")
    return issue_token(settings, user.id, None if hours is None else hours * 3600)


def user_public(session: Session, user: User) -> UserPublic:
    return UserPublic(
        id=user.id,
        name=user.name,
        region=user.region,
        teacher_id=user.teacher_id,
        roles=sorted(roles_of(session, user.id)),
        disabled=user.disabled,
    )
