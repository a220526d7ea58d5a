"""Who may open a page: a signed-in session (else off to the sign-in page) holding one of the roles."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request

from api.deps import EngineDep, SettingsDep
from api.session_cookie import cookie_user
from core.accounts import ADMIN_DEPTH, Principal
from core.web_sessions import SignedIn
from models.accounts import Role


class SignInRequired(Exception):
    """No live session: the reader goes to the sign-in page, and back here afterwards."""

    def __init__(self, next_path: str):
        self.next_path = next_path


class PageError(Exception):
    """A page refused with an HTTP status and a message key of ``api.pages.i18n``."""

    def __init__(self, status: int, key: str):
        self.status, self.key = status, key


def signed_in_reader(request: Request, settings: SettingsDep, engine: EngineDep) -> SignedIn:
    found = cookie_user(request, settings, engine)
    if found is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(path)
    return found


Reader = Annotated[SignedIn, Depends(signed_in_reader)]


def require(found: SignedIn, *roles: Role) -> Principal:
    """The reader's principal if they hold one of ``roles``; else a 403 page."""
    if not found.principal.has(*roles):
        raise PageError(403, "forbidden")
    return found.principal


def home_of(user: Principal) -> str:
    """The page a user lands on after signing in."""
    if user.has(Role.teacher) and user.teacher_id:
        return "/me"
    if user.has(*ADMIN_DEPTH):
        return "/admin"
    if user.has(Role.reviewer):
        return "/review"
    return "/docs"


def safe_next(value: str | None) -> str | None:
    """``value`` if it is a path on this site (never another host), else None."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    return value


def login_url(next_path: str) -> str:
    return f"/login?next={quote(next_path, safe='/')}"
