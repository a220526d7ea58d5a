"""API errors: ``{"error": {"code", "message"}}`` in English or Simplified Chinese by ``Accept-Language``.

Domain errors (``core.errors.DomainError``) get their HTTP status here, by code; ``ApiError`` is for
refusals of the HTTP layer itself (authentication, byte ranges, malformed requests)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from core.errors import MESSAGES, DomainError, LimitReached, message
from pipeline.errors import MediaError

# The HTTP status of each domain error code; any other code is a 422.
STATUS_OF_CODE: dict[str, int] = {
    "not_found": 404,
    "no_media": 404,
    "forbidden": 403,
    "out_of_scope": 403,
    "file_too_large": 413,
    "payload_too_large": 413,
    "idempotency_conflict": 409,
    "upload_not_open": 409,
    "teacher_exists": 409,
    "not_screened": 409,
    "not_dead": 409,
    "no_eligible_reviewer": 409,
    "already_decided": 409,
    "already_disputed": 409,
    "not_disputable": 409,
    "upload_expired": 410,
    "quota_open_uploads": 429,
    "quota_submissions_per_day": 429,
    "quota_bytes_per_day": 429,
    "sign_in_failed": 401,
    "sign_in_throttled": 429,
    "csrf_failed": 403,
}

_STATUS_CODES = {
    400: "invalid_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    416: "range_not_satisfiable",
    409: "idempotency_conflict",
    408: "request_timeout",
    410: "upload_expired",
    422: "invalid_request",
    429: "too_many_uploads",
    503: "unavailable",
}


class ErrorBody(BaseModel):
    code: str
    message: str
    detail: Any | None = None


class ErrorResponse(BaseModel):
    """Every error the API returns."""

    error: ErrorBody


class ApiError(Exception):
    """An error with a stable code; its message is looked up in the caller's language."""

    def __init__(self, status: int, code: str, detail: Any | None = None, headers: dict | None = None):
        if code not in MESSAGES:
            raise ValueError(f"unknown error code {code!r}")
        self.status, self.code, self.detail, self.headers = status, code, detail, headers
        super().__init__(f"{status} {code}: {detail}")


def wants_chinese(accept_language: str | None) -> bool:
    """Whether ``Accept-Language`` prefers Chinese over English (by q-value, then order)."""
    best: tuple[float, int, str] | None = None
    for i, item in enumerate((accept_language or "").split(",")):
        tag, _, params = item.strip().partition(";")
        tag = tag.strip().lower()
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        lang = tag.split("-")[0]
        if lang in ("zh", "en") and q > 0 and (best is None or (q, -i) > (best[0], best[1])):
            best = (q, -i, lang)
    return best is not None and best[2] == "zh"


BODY_READ = "evidence.body_read"  # scope flag: the request body was read to its end


def error_response(
    request: Request, status: int, code: str, detail: Any = None, headers: dict | None = None
) -> JSONResponse:
    """The error in the caller's language. A refused request whose body was not read to its end
    closes the connection, so a client still sending (or stalled) holds nothing afterwards."""
    chinese = wants_chinese(request.headers.get("accept-language"))
    body: dict[str, Any] = {"code": code, "message": message(code, chinese)}
    if detail is not None:
        body["detail"] = detail
    headers = dict(headers or {})
    if _has_body(request) and not request.scope.get(BODY_READ):
        headers["Connection"] = "close"
    return JSONResponse({"error": body}, status_code=status, headers=headers or None)


def _has_body(request: Request) -> bool:
    h = request.headers
    return h.get("content-length", "0") not in ("", "0") or "chunked" in h.get("transfer-encoding", "")


def _validation_detail(exc: RequestValidationError) -> tuple[str, list[dict]]:
    details, code = [], "invalid_request"
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        details.append({"loc": loc, "msg": err.get("msg", ""), "type": err.get("type", "")})
        if err.get("type") == "extra_forbidden":
            code = "unknown_field"
    return code, details


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the one shape."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(request, exc.status, exc.code, exc.detail, exc.headers)

    @app.exception_handler(DomainError)
    async def _domain_error(request: Request, exc: DomainError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, LimitReached) else None
        return error_response(request, STATUS_OF_CODE.get(exc.code, 422), exc.code, exc.detail, headers)

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect) -> Response:
        """A client that went away mid-request: no traceback, only the access line (status 499)."""
        return Response(status_code=499)

    @app.exception_handler(MediaError)
    async def _media_error(request: Request, exc: MediaError) -> JSONResponse:
        status = 413 if exc.code == "file_too_large" else 422
        return error_response(request, status, exc.code, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        code, details = _validation_detail(exc)
        return error_response(request, 422, code, details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(
            exc.status_code, "invalid_request" if exc.status_code < 500 else "internal_error"
        )
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return error_response(request, exc.status_code, code, None, headers or None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return error_response(request, 500, "internal_error")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette names only the first route's)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(request.url.path):
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer with (400, 401 and 422 always)."""
    return {
        s: {"model": ErrorResponse, "description": MESSAGES[_STATUS_CODES.get(s, "invalid_request")][0]}
        for s in sorted({400, 401, 422, *statuses})
    }
