"""The pages' session cookie (Secure, HttpOnly, SameSite=Lax; ``__Host-`` when Secure) and the CSRF
check on every state-changing request the cookie authenticates: the request must echo the session's
token in ``X-CSRF-Token`` (the pages' own fetch calls) or, for the pages' HTML forms, a ``csrf_token``
field. A bearer header or API key needs neither: a browser never sends one across sites."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import Request, Response

from core.accounts import InvalidCredentials
from core.settings import Settings
from core.web_sessions import SignedIn, csrf_matches, signed_in

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SESSION_COOKIE = "evidence_session"


def cookie_name(settings: Settings, base: str = SESSION_COOKIE) -> str:
    """``__Host-`` binds a Secure cookie to this host and path ``/`` (no Domain can widen it)."""
    return f"__Host-{base}" if settings.session_cookie_secure else base


def set_cookie(response: Response, settings: Settings, value: str, *, base: str, max_age: float) -> None:
    response.set_cookie(
        cookie_name(settings, base),
        value,
        max_age=int(max_age),
        path="/",
        secure=settings.session_cookie_secure,
        httponly=True,
        samesite="lax",
    )


def clear_cookie(response: Response, settings: Settings, *, base: str) -> None:
    response.delete_cookie(
        cookie_name(settings, base), path="/", secure=settings.session_cookie_secure, httponly=True
    )


def session_token(request: Request, settings: Settings) -> str | None:
    return request.cookies.get(cookie_name(settings))


def cookie_user(request: Request, settings: Settings, engine: sa.Engine) -> SignedIn | None:
    """The signed-in caller of a request carrying a live session cookie (kept on ``request.state``)."""
    token = session_token(request, settings)
    if not token:
        return None
    try:
        found = signed_in(engine, settings, token)
    except InvalidCredentials:
        return None
    request.state.web_session = found
    return found


def csrf_ok(request: Request, found: SignedIn, form_token: str | None = None) -> bool:
    """Whether a request may go on: safe methods always; others only echoing the session's token."""
    if request.method in SAFE_METHODS:
        return True
    return csrf_matches(found.csrf_token, request.headers.get(CSRF_HEADER) or form_token)
