"""Passwords for signing in to the pages: argon2id hashes (argon2-cffi's defaults, RFC 9106's
low-memory choice), a sign-in name per user, and setting a password (which ends the user's sessions)."""

from __future__ import annotations

import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, select

from core.audit import Origin, record
from core.web_sessions import end_all
from models.accounts import User
from models.base import utcnow
from models.web_auth import UserPassword

MIN_LENGTH = 8
MAX_LENGTH = 256
_hasher = PasswordHasher()
# Verified when the name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("evidence: no such account")


class WeakPassword(ValueError):
    """The password is too short or too long."""


def normalize_login(login: str) -> str:
    """The canonical sign-in name: NFKC, trimmed, lower case."""
    return unicodedata.normalize("NFKC", login).strip().lower()


def check_login(login: str) -> str:
    """The canonical name, or ``ValueError`` when it is empty, too long or holds spaces."""
    norm = normalize_login(login)
    if not 1 <= len(norm) <= 64 or any(c.isspace() or not c.isprintable() for c in norm):
        raise ValueError("a sign-in name has 1 to 64 characters and no spaces")
    return norm


def hash_password(password: str) -> str:
    """The argon2id hash (PHC string) of ``password``; raises ``WeakPassword``."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise WeakPassword(f"a password has {MIN_LENGTH} to {MAX_LENGTH} characters")
    return _hasher.hash(password)


def verify(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash`` (None: an unknown account, checked at equal cost)."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than the current ones."""
    return _hasher.check_needs_rehash(stored_hash)


def set_password(
    session: Session, user_id: str, password: str, origin: Origin, *, login: str | None = None
) -> UserPassword:
    """Set the user's password (and sign-in name: ``login``, else the one they have, else their user
    id); every session the user had is ended. Raises ``ValueError`` (``WeakPassword`` among them)."""
    user = session.get(User, user_id)
    if user is None:
        raise ValueError(f"no user {user_id!r}")
    row = session.get(UserPassword, user_id)
    name = check_login(login or (row.login if row else user_id))
    taken = session.exec(select(UserPassword).where(UserPassword.login == name)).first()
    if taken is not None and taken.user_id != user_id:
        raise ValueError(f"the sign-in name {name!r} is taken")
    digest = hash_password(password)
    row = row or UserPassword(user_id=user_id, login=name, password_hash=digest)
    row.login, row.password_hash, row.changed_at = name, digest, utcnow()
    session.add(row)
    end_all(session, user_id)
    record(session, origin, "user.set_password", "user", user_id, region=user.region, detail={"login": name})
    session.flush()
    return row
