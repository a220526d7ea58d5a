"""Browser sessions: a sign-in opens one, named by a random cookie of which only the SHA-256 is
stored; it ends on sign-out, after an idle spell, at its absolute end, when the password is set again,
and when its user is disabled (one opened before the disable stays refused once the user is enabled
again: ``User.tokens_valid_after``). Each carries a CSRF token that state-changing requests must echo."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session, delete

from core.accounts import InvalidCredentials, Principal, load_principal
from core.db import session_scope
from core.settings import Settings
from models.accounts import User
from models.base import utcnow
from models.web_auth import WebSession

TOUCH_EVERY = timedelta(seconds=60)  # last_seen_at is written at most this often


@dataclass(frozen=True)
class SignedIn:
    """The caller of a request that carried a valid session cookie."""

    principal: Principal
    session_id: str
    csrf_token: str


def _session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(session: Session, settings: Settings, user_id: str, address: str | None) -> tuple[str, str]:
    """Open a session for ``user_id``; returns ``(cookie value, CSRF token)``, the cookie only here."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        WebSession(
            id=_session_id(token),
            user_id=user_id,
            csrf_token=csrf,
            address=(address or "")[:64] or None,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(seconds=settings.web_session_max_s),
        )
    )
    session.flush()
    return token, csrf


def signed_in(engine: sa.Engine, settings: Settings, token: str) -> SignedIn:
    """The live session a cookie names and its user; raises ``InvalidCredentials`` (and removes the
    session, or all the user's sessions when the user is disabled or gone)."""
    sid = _session_id(token)
    now = utcnow()
    with Session(engine) as session:
        row = session.get(WebSession, sid)
        if row is None:
            raise InvalidCredentials("no such session")
        idle_end = row.last_seen_at + timedelta(seconds=settings.web_session_idle_s)
        expired = now >= row.expires_at or now >= idle_end
        principal = None
        if not expired:
            with contextlib.suppress(InvalidCredentials):
                principal = load_principal(session, row.user_id, row.created_at)
    if principal is None:
        with session_scope(engine) as write:
            user = write.get(User, row.user_id)
            if expired or (user is not None and not user.disabled):  # expired, or opened before a disable
                write.exec(delete(WebSession).where(WebSession.id == sid))
            else:  # the user is disabled (or removed): none of their sessions may live on
                end_all(write, row.user_id)
        raise InvalidCredentials("session expired, or its user is disabled")
    if now - row.last_seen_at >= TOUCH_EVERY:
        with session_scope(engine) as write:
            write.exec(sa.update(WebSession).where(WebSession.id == sid).values(last_seen_at=now))
    return SignedIn(principal, sid, row.csrf_token)


def end(session: Session, token: str) -> None:
    """End the session a cookie names (signing out)."""
    session.exec(delete(WebSession).where(WebSession.id == _session_id(token)))


def end_all(session: Session, user_id: str) -> None:
    """End every session of a user (password set again, user disabled)."""
    session.exec(delete(WebSession).where(WebSession.user_id == user_id))


def csrf_matches(expected: str, presented: str | None) -> bool:
    """Whether the token a request echoed is its session's (constant time)."""
    return bool(presented) and hmac.compare_digest(expected.encode(), presented.encode())
