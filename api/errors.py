"""API errors: ``{"error": {"code", "message"}}`` in English or Simplified Chinese by ``Accept-Language``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipeline.errors import MESSAGES as MEDIA_MESSAGES
from pipeline.errors import MediaError

MESSAGES: dict[str, tuple[str, str]] = {
    "unauthenticated": (
        "Sign in first: send a valid bearer token or API key.",
        "请先登录：请提供有效的令牌或 API 密钥。",
    ),
    "forbidden": ("Your role does not allow this.", "您的角色无权执行此操作。"),
    "out_of_scope": ("This is outside the region you administer.", "该对象不在您管理的区域内。"),
    "not_found": ("Not found.", "未找到。"),
    "method_not_allowed": ("This method is not allowed here.", "不允许使用该请求方法。"),
    "invalid_request": ("The request is invalid.", "请求无效。"),
    "unknown_field": ("The request has a field this endpoint does not accept.", "请求包含不被接受的字段。"),
    "invalid_micro_capability": (
        "Give 1 to 30 micro-capability codes from A1–A13, B1–B10 and C1–C7.",
        "请填写 1 到 30 个微能力点编号（A1–A13、B1–B10、C1–C7）。",
    ),
    "invalid_region": (
        "A region code is a dotted path province.city.county.school, e.g. sc.cd.wh.s017.",
        "区域编码应为“省.市.县.学校”格式，例如 sc.cd.wh.s017。",
    ),
    "invalid_photo": (
        "A photo cannot be enrolled: it needs exactly one large, sharp, whole face.",
        "照片无法用于人脸登记：照片中须有且只有一张清晰、完整、足够大的人脸。",
    ),
    "teacher_exists": ("A teacher with this id already exists.", "该教师编号已存在。"),
    "invalid_resubmission": (
        "resubmission_of must name an earlier submission of the same teacher.",
        "resubmission_of 必须是同一位教师之前的提交。",
    ),
    "idempotency_conflict": (
        "A request with this Idempotency-Key is still being processed; retry later.",
        "使用该幂等键的请求仍在处理中，请稍后重试。",
    ),
    "idempotency_mismatch": (
        "This Idempotency-Key was already used with a different request.",
        "该幂等键已用于另一个不同的请求。",
    ),
    "upload_not_open": ("This upload is already completed or aborted.", "该上传已完成或已取消。"),
    "upload_incomplete": (
        "Some parts of the upload are missing or have the wrong size.",
        "上传的部分分片缺失或大小不正确。",
    ),
    "no_media": ("This submission has no such media (yet).", "该提交（暂时）没有此媒体文件。"),
    "range_not_satisfiable": (
        "The requested byte range is outside the file.",
        "请求的字节范围超出文件大小。",
    ),
    "not_screened": (
        "Only a screened submission can be registered as shared material.",
        "只有已完成筛查的提交才能登记为共享素材。",
    ),
    "not_dead": ("Only a dead-lettered delivery can be re-driven.", "只能重新投递已进入死信的记录。"),
    "no_eligible_reviewer": (
        "No eligible reviewer is left for some submissions once authors and recused units are excluded; "
        "nothing was assigned.",
        "排除作者及回避单位后，部分提交已无符合条件的评审人，本次未作任何分配。",
    ),
    "already_decided": ("This assignment already has a decision.", "该评审任务已有评审结论。"),
    "already_disputed": ("This decision was already disputed.", "该评审结论已提出过异议。"),
    "not_disputable": (
        "A dispute re-check is final and cannot be disputed again.",
        "争议复检结论为最终结论，不能再次提出异议。",
    ),
    "payload_too_large": ("The request body is too large.", "请求内容过大。"),
    "internal_error": ("Something went wrong on our side.", "系统内部错误。"),
    "unavailable": ("The service is temporarily unavailable.", "服务暂时不可用。"),
    **MEDIA_MESSAGES,
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
    422: "invalid_request",
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


def message(code: str, chinese: bool) -> str:
    en, zh = MESSAGES.get(code, MESSAGES["internal_error"])
    return zh if chinese else en


def error_response(
    request: Request, status: int, code: str, detail: Any = None, headers: dict | None = None
) -> JSONResponse:
    chinese = wants_chinese(request.headers.get("accept-language"))
    body: dict[str, Any] = {"code": code, "message": message(code, chinese)}
    if detail is not None:
        body["detail"] = detail
    return JSONResponse({"error": body}, status_code=status, headers=headers)


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
