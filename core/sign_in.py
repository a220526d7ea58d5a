"""Signing in with a name and password, throttled per account and per client address.

Every failure (unknown name, wrong password, disabled user, no password set) is one and the same
refusal, ``sign_in_failed``; a name or address with too many recent failures is refused without
checking the password (``sign_in_throttled``) until the oldest failure leaves the window. Names are
throttled whether or not they exist, so throttling reveals nothing about accounts.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, delete, func, select

from core.accounts import InvalidCredentials, Principal, load_principal
from core.audit import Origin, record
from core.db import session_scope
from core.errors import DomainError
from core.passwords import MAX_LENGTH, normalize_login, verify
from core.settings import Settings
from core.web_sessions import open_session
from models.base import utcnow
from models.web_auth import SignInFailure, UserPassword


def _keys(login: str, address: str | None) -> tuple[str, str | None]:
    return f"account:{login}"[:200], f"address:{address}"[:200] if address else None


def _failures(session: Session, key: str, since: object) -> int:
    stmt = select(func.count()).where(SignInFailure.key == key, col(SignInFailure.at) >= since)
    return session.exec(stmt).one()


def _lock_account(session: Session, key: str) -> None:
    """On PostgreSQL, one sign-in per name at a time, so a burst cannot outrun the count."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(func.pg_advisory_xact_lock(func.hashtext(key))))


def sign_in(
    engine: sa.Engine, settings: Settings, login: str, password: str, address: str | None
) -> tuple[Principal, str]:
    """Check the name and password; returns the user and the cookie value of a new session.
    Raises ``DomainError`` ``sign_in_failed`` or ``sign_in_throttled``."""
    name = normalize_login(login)[:64]
    account, place = _keys(name, address)
    now = utcnow()
    since = now - timedelta(seconds=settings.sign_in_window_s)
    with session_scope(engine) as session:
        _lock_account(session, account)
        if _failures(session, account, since) >= settings.sign_in_max_failures_account or (
            place is not None and _failures(session, place, since) >= settings.sign_in_max_failures_address
        ):
            raise DomainError("sign_in_throttled")
        row = session.exec(select(UserPassword).where(UserPassword.login == name)).first()
        ok = verify(row.password_hash if row else None, password[: MAX_LENGTH + 1])
        principal = None
        if ok:
            try:
                principal = load_principal(session, row.user_id)
            except InvalidCredentials:
                ok = False
        if not ok:
            session.add_all([SignInFailure(key=k, at=now) for k in (account, place) if k])
            session.exec(delete(SignInFailure).where(col(SignInFailure.at) < since))
        else:
            session.exec(delete(SignInFailure).where(SignInFailure.key == account))
            token, _ = open_session(session, settings, row.user_id, address)
            record(session, Origin(row.user_id, address), "session.open", "user", row.user_id)
            return principal, token
    raise DomainError("sign_in_failed")
