"""Domain errors: every refusal carries a stable code, with a plain message in English and Simplified
Chinese. The HTTP layer maps codes to status numbers; nothing here knows HTTP."""

from __future__ import annotations

from typing import Any

from pipeline.errors import MESSAGES as MEDIA_MESSAGES

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
    "repeated_parameter": (
        "A query parameter is given more than once; give each one once.",
        "查询参数重复出现；每个参数只能给出一次。",
    ),
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
    "sign_in_failed": (
        "The name or password is wrong, or this account cannot sign in.",
        "账号或密码错误，或该账号无法登录。",
    ),
    "sign_in_throttled": (
        "Too many failed sign-ins: wait a few minutes and try again.",
        "登录失败次数过多，请等几分钟后再试。",
    ),
    "csrf_failed": (
        "This request did not come from our own page (its security token is missing or wrong): reload "
        "the page and try again.",
        "该请求并非来自本系统页面（安全令牌缺失或错误），请刷新页面后重试。",
    ),
    # archive manifests (a bad row is listed with its reason and the run goes on)
    "invalid_manifest": (
        "The manifest is not a CSV with the columns path, teacher_id, school (and optionally submission_id).",
        "清单不是包含 path、teacher_id、school（及可选 submission_id）列的 CSV 文件。",
    ),
    "unknown_teacher": ("No teacher with this id is registered.", "未登记此编号的教师。"),
    "school_mismatch": (
        "The school does not match the school registered for this teacher.",
        "学校与该教师登记的学校不一致。",
    ),
    "duplicate_row": (
        "The same file for the same teacher (or the same submission id) is already on an earlier row.",
        "同一教师的同一文件（或同一提交编号）已出现在前面的行中。",
    ),
    "unreadable": (
        "The file cannot be read (missing, no permission or not a file).",
        "文件无法读取（不存在、无权限或不是文件）。",
    ),
    "invalid_submission_id": (
        "A submission id is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit.",
        "提交编号须为 1 至 64 个字母、数字、“.”、“_”或“-”，并以字母或数字开头。",
    ),
    "submission_conflict": (
        "This submission id already holds a different file.",
        "该提交编号已对应另一个不同的文件。",
    ),
    "unknown_stage": ("No stage of the screening has this name.", "筛查流程中没有此名称的阶段。"),
    "payload_too_large": ("The request body is too large.", "请求内容过大。"),
    "upload_expired": (
        "This upload expired (no new part for too long, or open too long); start a new one.",
        "该上传已过期（长时间未收到新分片或持续时间过长），请重新开始上传。",
    ),
    "request_timeout": (
        "The request body stopped arriving; send it again.",
        "请求内容长时间未继续传输，请重新发送。",
    ),
    "too_many_uploads": (
        "You already have the most uploads in progress at once; retry when one has finished.",
        "您同时进行的上传已达上限，请等待其中一个完成后重试。",
    ),
    "uploads_busy": (
        "The server is receiving too many uploads right now; retry shortly.",
        "服务器当前正在接收的上传过多，请稍后重试。",
    ),
    "quota_open_uploads": (
        "Limit reached: open resumable uploads per user. Complete or cancel one first.",
        "已达上限：每个用户同时未完成的分片上传数。请先完成或取消其中一个。",
    ),
    "quota_submissions_per_day": (
        "Limit reached: submissions per teacher in 24 hours. Retry after the time given.",
        "已达上限：每位教师 24 小时内的提交数。请在提示的时间之后重试。",
    ),
    "quota_bytes_per_day": (
        "Limit reached: upload volume per teacher in 24 hours. Retry after the time given.",
        "已达上限：每位教师 24 小时内的上传总量。请在提示的时间之后重试。",
    ),
    "internal_error": ("Something went wrong on our side.", "系统内部错误。"),
    "unavailable": ("The service is temporarily unavailable.", "服务暂时不可用。"),
    **MEDIA_MESSAGES,
}


class DomainError(Exception):
    """A refusal the caller can fix or must know about, named by a stable ``code`` from ``MESSAGES``."""

    code = "invalid_request"

    def __init__(self, code: str | None = None, detail: Any | None = None):
        code = code or type(self).code
        if code not in MESSAGES:
            raise ValueError(f"unknown error code {code!r}")
        self.code, self.detail = code, detail
        super().__init__(f"{code}: {detail}" if detail is not None else code)


class LimitReached(DomainError):
    """A limit the caller ran into; ``retry_after_s`` says when trying again may succeed."""

    def __init__(self, code: str, retry_after_s: float, detail: Any | None = None):
        super().__init__(code, detail)
        self.retry_after_s = max(1, int(retry_after_s + 0.999))


class NotFound(DomainError):
    """The object does not exist, or the caller may not know that it does."""

    code = "not_found"


def message(code: str, chinese: bool) -> str:
    """The message of ``code`` in Chinese or English (``internal_error``'s for an unknown code)."""
    en, zh = MESSAGES.get(code, MESSAGES["internal_error"])
    return zh if chinese else en
