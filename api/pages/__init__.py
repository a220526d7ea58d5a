"""The web pages for people: sign-in, the teacher's ``/me``, the reviewer's ``/review`` and the
administrator's ``/admin``, server-rendered from the same services and access rules as the API, with
every asset bundled in ``static/``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from api.pages import admin, reviewer, sign_in, teacher
from api.pages.guard import PageError, SignInRequired, login_url
from api.pages.i18n import lang_of, translate
from api.pages.render import STATIC_DIR, render


def install(app: FastAPI) -> None:
    """Add the pages, their static assets and their error handling to the app."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in (sign_in, teacher, reviewer, admin):
        app.include_router(module.router)

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> RedirectResponse:
        return RedirectResponse(login_url(exc.next_path), status_code=303)

    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError) -> HTMLResponse:
        return render(request, "error.html", exc.status, message=translate(lang_of(request), exc.key))
