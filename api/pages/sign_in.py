"""Signing in and out, the language switch and the start page.

The sign-in form is guarded against login CSRF by a double-submit token: a random value in a
short-lived cookie of its own that the form must echo."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from api.deps import EngineDep, SettingsDep
from api.pages.guard import home_of, safe_next
from api.pages.i18n import COOKIE as LANG_COOKIE
from api.pages.i18n import LANGS, lang_of
from api.pages.render import render
from api.session_cookie import (
    CSRF_FIELD,
    SESSION_COOKIE,
    clear_cookie,
    cookie_name,
    cookie_user,
    csrf_ok,
    session_token,
    set_cookie,
)
from core.db import session_scope
from core.errors import DomainError, message
from core.settings import Settings
from core.sign_in import sign_in
from core.web_sessions import end

router = APIRouter(include_in_schema=False)
SIGN_IN_COOKIE = "evidence_signin"  # the login form's double-submit token
SIGN_IN_FORM_S = 3600


def _form(
    request: Request, settings: Settings, next_path: str | None, status: int = 200, error: str = ""
) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    page = render(request, "login.html", status, form_token=token, next_path=next_path or "", error=error)
    set_cookie(page, settings, token, base=SIGN_IN_COOKIE, max_age=SIGN_IN_FORM_S)
    return page


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, settings: SettingsDep, engine: EngineDep, next: str | None = None):
    """The sign-in form (straight on to the page asked for when already signed in)."""
    found = cookie_user(request, settings, engine)
    if found is not None:
        return RedirectResponse(safe_next(next) or home_of(found.principal), status_code=303)
    return _form(request, settings, safe_next(next))


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    settings: SettingsDep,
    engine: EngineDep,
    login: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
):
    """Check the name and password; on success a session cookie and on to the page asked for."""
    chinese = lang_of(request) == "zh"
    expected = request.cookies.get(cookie_name(settings, SIGN_IN_COOKIE), "")
    if not expected or not secrets.compare_digest(expected.encode(), csrf_token.encode()):
        return _form(request, settings, safe_next(next), 403, message("csrf_failed", chinese))
    address = request.client.host if request.client else None
    try:
        principal, token = sign_in(engine, settings, login, password, address)
    except DomainError as exc:
        status = 429 if exc.code == "sign_in_throttled" else 401
        return _form(request, settings, safe_next(next), status, message(exc.code, chinese))
    response = RedirectResponse(safe_next(next) or home_of(principal), status_code=303)
    set_cookie(response, settings, token, base=SESSION_COOKIE, max_age=settings.web_session_max_s)
    clear_cookie(response, settings, base=SIGN_IN_COOKIE)
    request.state.user_id = principal.user_id
    return response


@router.post("/logout")
def logout(
    request: Request,
    settings: SettingsDep,
    engine: EngineDep,
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=200)] = "",
):
    """End this browser's session."""
    found = cookie_user(request, settings, engine)
    if found is not None and csrf_ok(request, found, csrf_token):
        with session_scope(engine) as session:
            end(session, session_token(request, settings) or "")
    elif found is not None:
        return render(request, "error.html", 403, message=message("csrf_failed", lang_of(request) == "zh"))
    response = RedirectResponse("/login", status_code=303)
    clear_cookie(response, settings, base=SESSION_COOKIE)
    return response


@router.get("/lang/{code}")
def switch_language(code: str, next: str | None = None) -> RedirectResponse:
    """Switch the pages' language and go back."""
    response = RedirectResponse(safe_next(next) or "/", status_code=303)
    if code in LANGS:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, path="/", samesite="lax")
    return response


@router.get("/")
def start(request: Request, settings: SettingsDep, engine: EngineDep) -> RedirectResponse:
    """The start page: one's own home page, or the sign-in form."""
    found = cookie_user(request, settings, engine)
    return RedirectResponse(home_of(found.principal) if found else "/login", status_code=303)
