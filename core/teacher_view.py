"""What a teacher's own page shows: their submissions, newest first, each screening said in plain words
with what to do, in Simplified Chinese and English. Every number comes from the stored report (the
teacher's redacted view of it) or from the policy in force (media limits), never from the page."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from core.access import Visible, visible_submission
from core.accounts import Principal
from core.overall import duplicate_entries, overall_of
from core.redaction import visible_report
from models.submissions import Overall, Submission
from pipeline.limits import MediaLimits

PAGE_SIZE = 50
_RECORD_AGAIN = {"invalid_no_face", "invalid_other_person"}


@dataclass(frozen=True)
class Line:
    """One sentence in both languages; ``tone`` is ok, info, wait, warn or bad."""

    tone: str
    en: str
    zh: str


@dataclass
class Screening:
    """One submission as its teacher's page shows it."""

    id: str
    filename: str | None
    created_at: Any
    status: str
    overall: Overall | None
    micro_capabilities: list[str]
    resubmission_of: str | None
    headline: Line
    lines: list[Line] = field(default_factory=list)
    reasons: list[Line] = field(default_factory=list)  # the report's own reasons, as details
    presence: dict[str, Any] | None = None  # duration, confirmed stretches, seconds confirmed and needed
    poster: str | None = None
    can_resubmit: bool = False


def own_submissions(session: Session, user: Principal, limit: int = PAGE_SIZE) -> list[Visible]:
    """The caller's own submissions as their teacher, newest first."""
    if user.teacher_id is None:
        return []
    ids = session.exec(
        select(Submission.id)
        .where(Submission.teacher_id == user.teacher_id)
        .order_by(col(Submission.created_at).desc(), col(Submission.id).desc())
        .limit(limit)
    ).all()
    return [visible_submission(session, user, sid) for sid in ids]


def _n(x: Any) -> str:
    """A number as people write it: 12, 12.5 (never 12.000)."""
    return f"{float(x):.1f}".removesuffix(".0")


def rejection_lines(error: dict[str, Any], limits: MediaLimits) -> list[Line]:
    """Why the file could not be screened, and what to do about it."""
    code, detail = error.get("code", ""), error.get("detail")
    said_en, said_zh = error.get("message", ""), error.get("message_zh", "")
    extra = f" ({detail})" if isinstance(detail, str) and detail else ""
    lines = [Line("bad", f"The file could not be read: {said_en}{extra}", f"文件无法使用：{said_zh}{extra}")]
    minutes = limits.max_duration_s / 60
    todo = {
        "too_short": (
            f"Record a lesson of at least {_n(limits.min_duration_s)} s and upload it.",
            f"请录制至少 {_n(limits.min_duration_s)} 秒的课堂视频后上传。",
        ),
        "too_long": (
            f"Trim the recording to at most {_n(minutes)} minutes and upload it again.",
            f"请将录像剪辑到 {_n(minutes)} 分钟以内后重新上传。",
        ),
        "file_too_large": (
            f"The limit is {_n(limits.max_upload_bytes / 1024**3)} GiB: export the recording at 1080p or "
            "lower and upload that.",
            f"上传上限为 {_n(limits.max_upload_bytes / 1024**3)} GiB：请以 1080p 或更低的分辨率导出后上传。",
        ),
        "dimensions_too_small": (
            "Record at an ordinary resolution (1280×720 or 1920×1080) and upload again.",
            "请以常见分辨率（1280×720 或 1920×1080）录制后重新上传。",
        ),
        "dimensions_too_large": (
            "Export the recording at 1920×1080 and upload that.",
            "请将录像导出为 1920×1080 后上传。",
        ),
    }
    for codes, advice in (
        (("empty_file", "truncated", "corrupt"), (
            "Upload the whole original file again, straight from the camera or phone.",
            "请从摄像机或手机中重新上传完整的原始文件。",
        )),
        (("not_a_video", "no_video_stream", "unsupported_container", "unsupported_codec"), (
            "Export the recording as an MP4 (H.264) file and upload that.",
            "请将录像导出为 MP4（H.264）格式后上传。",
        )),
        (("processing_timeout", "resource_limit"), (
            "Export the recording again as an ordinary MP4 and upload that; if it happens again, ask "
            "your school administrator.",
            "请重新导出为普通的 MP4 文件后上传；如仍出现此问题，请联系学校管理员。",
        )),
    ):  # fmt: skip
        todo.update(dict.fromkeys(codes, advice))
    en, zh = todo.get(code, ("Upload the recording again.", "请重新上传录像。"))
    lines.append(Line("todo", en, zh))
    return lines


def presence_lines(presence: dict[str, Any]) -> list[Line]:
    """The presence verdict in plain words, with the seconds confirmed and needed."""
    verdict = presence.get("verdict")
    got, need = _n(presence.get("teacher_seconds") or 0), _n(presence.get("required_seconds") or 0)
    if verdict == "valid":
        return [
            Line(
                "ok",
                f"You were confirmed on camera for {got} s; the rule needs {need} s. This part is done.",
                f"已确认您本人出镜 {got} 秒，规则要求至少 {need} 秒，本项合格。",
            )
        ]
    if verdict == "invalid_no_face":
        return [
            Line("bad", "Your face was not found in the video.", "视频中没有找到您的面部。"),
            Line(
                "todo",
                f"Record again with the camera on you, your face visible for at least {need} s.",
                f"请让镜头对准您本人重新录制，露脸时间至少 {need} 秒。",
            ),
        ]
    if verdict == "invalid_other_person":
        return [
            Line(
                "bad",
                f"The faces in the video are not yours: you were confirmed for {got} s, and the rule needs "
                f"{need} s.",
                f"视频中的人脸不是您本人：您本人确认出镜 {got} 秒，规则要求至少 {need} 秒。",
            ),
            Line("todo", "Record yourself teaching and upload again.", "请本人出镜重新录制并上传。"),
        ]
    if verdict == "needs_review":
        return [
            Line(
                "warn",
                f"You were confirmed on camera for {got} s; the rule needs {need} s. A reviewer will check "
                "whether you appear in person; nothing to do unless you are asked.",
                f"已确认您本人出镜 {got} 秒，规则要求至少 {need} 秒。审核人员将人工确认您是否本人出镜，"
                "如无通知无需操作。",
            )
        ]
    return [
        Line(
            "warn",
            "Your presence was not checked: your face photos are not enrolled. Ask your school "
            "administrator to enrol them.",
            "未核验本人出镜：您尚未登记人脸照片，请联系学校管理员登记。",
        )
    ]


def duplicate_lines(report: dict[str, Any]) -> list[Line]:
    """One line per flagged match: a resubmission of one's own, a possible copy of someone's earlier
    work, or someone's later copy of this one."""
    lines = []
    for m in duplicate_entries(report):
        if m.get("verdict") not in ("duplicate", "needs_review"):
            continue
        pct = _n(round(100 * float(m.get("query_coverage") or 0)))
        earlier, own = bool(m.get("this_is_earlier")), bool(m.get("same_teacher"))
        if own and not earlier:
            lines.append(
                Line(
                    "warn",
                    f"This is the same recording as one you submitted before ({pct}% of it matches). If "
                    "you meant to replace it, nothing more to do; otherwise upload a new lesson.",
                    f"这与您之前提交过的录像相同（{pct}% 的内容一致）。"
                    "如为替换旧提交则无需操作，否则请上传新的课堂录像。",
                )
            )
        elif not own and not earlier:
            tone = "bad" if m.get("verdict") == "duplicate" else "warn"
            lines.append(
                Line(
                    tone,
                    f"This looks like a copy of an earlier submission by someone else: {pct}% of your video "
                    "matches it. A reviewer will decide; if the lesson is yours, keep the original "
                    "recording as proof.",
                    f"该视频看起来与他人更早的一份提交雷同：您的视频有 {pct}% 的内容与之相符。"
                    "将由审核人员判定；"
                    "如确为您本人的课堂，请保留原始录像备查。",
                )
            )
        elif not own:
            lines.append(
                Line(
                    "info",
                    f"A later submission by someone else matches {pct}% of yours. Yours came first; "
                    "reviewers see that.",
                    f"他人较晚的一份提交与您的视频有 {pct}% 的内容相符。"
                    "您的提交在先，审核人员可以看到这一点。",
                )
            )
    return lines


def _headline(status: str, overall: Overall | None, report: dict[str, Any]) -> Line:
    if status in ("queued", "processing"):
        return Line("wait", "Being screened; this page updates by itself.", "正在筛查，本页面会自动更新。")
    if status == "failed":
        return Line(
            "wait",
            "Screening failed inside our system, not because of your file; it is retried by itself.",
            "系统内部处理失败，并非您的文件有问题；系统会自动重试，您无需操作。",
        )
    if overall == Overall.clear:
        return Line("ok", "This submission counts: nothing more to do.", "本次提交有效，无需其他操作。")
    if overall == Overall.needs_review:
        return Line("warn", "A reviewer will look at this submission.", "本次提交需要人工审核。")
    flagged = [m for m in duplicate_entries(report) if m.get("verdict") == "duplicate"]
    if overall == Overall.duplicate and flagged and all(m.get("this_is_earlier") for m in flagged):
        return Line(
            "warn",
            "Someone's later submission copies this one; reviewers will see that yours came first.",
            "他人较晚的提交与本视频雷同；审核人员会看到您的提交在先。",
        )
    return Line(
        "bad",
        "This submission does not count yet: see why below, then resubmit.",
        "本次提交暂不合格：请查看下方原因后重新提交。",
    )


def screening(found: Visible, limits: MediaLimits) -> Screening:
    """One submission in plain words, from the teacher's view of its report."""
    sub, meta = found.submission, found.meta
    report = visible_report(sub.report, sub.id, teacher_view=True) or {}
    status = sub.status.value
    overall = overall_of(status, sub.report)
    card = Screening(
        id=sub.id,
        filename=sub.filename,
        created_at=sub.created_at,
        status=status,
        overall=overall,
        micro_capabilities=list(meta.micro_capabilities) if meta else [],
        resubmission_of=meta.resubmission_of if meta else None,
        headline=_headline(status, overall, report),
    )
    if status == "rejected":
        card.lines = rejection_lines(report.get("error") or {}, limits)
    presence = report.get("presence") if status == "screened" else None
    if isinstance(presence, dict):
        card.lines += presence_lines(presence)
        card.reasons = [
            Line("info", en, zh)
            for en, zh in zip(presence.get("reasons") or [], presence.get("reasons_zh") or [], strict=False)
        ]
        duration = float((report.get("media") or {}).get("duration_s") or 0)
        if duration > 0 and presence.get("verdict") != "not_checked":
            card.presence = {
                "duration_s": duration,
                "segments": [
                    {"start": float(s["start"]), "end": float(s["end"])}
                    for s in presence.get("segments") or []
                    if isinstance(s, dict) and "start" in s and "end" in s
                ],
                "teacher_seconds": float(presence.get("teacher_seconds") or 0),
                "required_seconds": float(presence.get("required_seconds") or 0),
                "verdict": presence.get("verdict"),
            }
        if presence.get("verdict") in _RECORD_AGAIN:
            card.can_resubmit = True
    if status == "screened":
        card.lines += duplicate_lines(report)
        card.poster = (report.get("poster") or {}).get("uri")
    card.can_resubmit = card.can_resubmit or card.headline.tone == "bad"  # it does not count yet
    return card
