"""Rendering a page: Jinja2 templates shipped in the package, the reader's language, the CSRF token of
their session, and the security headers every page carries."""

from __future__ import annotations

import hashlib
from functools import cache, partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.pages.i18n import STRINGS, lang_of, translate
from core.settings import Settings

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
CHINA = ZoneInfo("Asia/Shanghai")  # the programme's readers read Beijing time


def _num(x: Any) -> str:
    """12, 12.5 — never 12.000."""
    return f"{float(x):.1f}".removesuffix(".0")


def _clock(seconds: Any) -> str:
    """m:ss of a position in a video."""
    s = int(round(float(seconds)))
    return f"{s // 60}:{s % 60:02d}"


def _localtime(value: Any) -> str:
    return value.astimezone(CHINA).strftime("%Y-%m-%d %H:%M") if value else ""


templates.env.filters.update(num=_num, clock=_clock, localtime=_localtime)


@cache
def static_url(name: str) -> str:
    """The URL of a bundled asset, with its content hash so browsers never keep a stale copy."""
    digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]
    return f"/static/{name}?v={digest}"


def _storage_origin(settings: Settings) -> str:
    """Where presigned S3 URLs point (media plays from there, upload parts go there), or nothing."""
    if not (settings.storage or "").startswith("s3://"):
        return ""
    if settings.aws_endpoint_url:
        parts = urlsplit(settings.aws_endpoint_url)
        return f" {parts.scheme}://{parts.netloc}"
    return " https:"


def security_headers(settings: Settings) -> dict[str, str]:
    s3 = _storage_origin(settings)
    policy = (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data:{s3}; media-src 'self'{s3}; connect-src 'self'{s3}; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "private, no-store",
    }


def pick(lang: str, line: Any) -> str:
    """The reader's half of an object with ``zh`` and ``en`` (a ``core.teacher_view.Line``)."""
    return line.zh if lang == "zh" else line.en


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render ``name`` for this request's reader."""
    lang = lang_of(request)
    signed = getattr(request.state, "web_session", None)
    base = {
        "lang": lang,
        "t": partial(translate, lang),
        "pick": partial(pick, lang),
        "static": static_url,
        "csrf": signed.csrf_token if signed else "",
        "user": signed.principal if signed else None,
        "js_strings": {k: translate(lang, k) for k in STRINGS},
    }
    response = templates.TemplateResponse(request, name, base | context, status_code=status)
    response.headers.update(security_headers(request.app.state.settings))
    return response
