"""A teacher's screening in plain words: each verdict says what happened and what to do, with the
report's and the policy's numbers (never the page's)."""

from __future__ import annotations

from core.access import Visible
from core.teacher_view import screening
from models.submissions import Submission, SubmissionStatus
from pipeline.limits import MediaLimits

LIMITS = MediaLimits(min_duration_s=12.0, max_duration_s=5400.0)


def _card(status: str, report: dict | None):
    sub = Submission(
        id="sub_1", teacher_id="t_a", blob_key="sha256/x", sha256="x", size_bytes=1,
        status=SubmissionStatus(status), report=report,
    )  # fmt: skip
    return screening(Visible(sub, None, None, teacher_view=True), LIMITS)


def _screened(presence: dict, duplicates: list | None = None) -> dict:
    return {
        "submission_id": "sub_1",
        "status": "screened",
        "media": {"duration_s": 600.0},
        "presence": {"reasons": ["en"], "reasons_zh": ["中文"], "segments": [], **presence},
        "duplicates": duplicates or [],
    }


def _text(card, lang: str = "zh") -> str:
    return "\n".join(getattr(line, lang) for line in [card.headline, *card.lines])


def test_valid_presence_counts_with_the_reports_seconds():
    card = _card(
        "screened", _screened({"verdict": "valid", "teacher_seconds": 187.5, "required_seconds": 60.0})
    )
    assert card.overall.value == "clear" and card.headline.tone == "ok" and not card.can_resubmit
    assert "已确认您本人出镜 187.5 秒，规则要求至少 60 秒" in _text(card)
    assert "confirmed on camera for 187.5 s; the rule needs 60 s" in _text(card, "en")
    assert card.reasons[0].zh == "中文" and card.presence["duration_s"] == 600.0


def test_no_face_says_to_record_again_with_the_camera_on_you():
    card = _card(
        "screened", _screened({"verdict": "invalid_no_face", "teacher_seconds": 0, "required_seconds": 60})
    )
    assert card.overall.value == "invalid" and card.can_resubmit
    assert "视频中没有找到您的面部" in _text(card) and "露脸时间至少 60 秒" in _text(card)
    assert "Record again with the camera on you" in _text(card, "en")


def test_too_short_names_the_policys_minimum():
    error = {"code": "too_short", "message": "The video is shorter than the minimum duration.",
             "message_zh": "视频时长短于最小限制。", "detail": "3.20 s < 12.0 s"}  # fmt: skip
    card = _card("rejected", {"submission_id": "sub_1", "status": "rejected", "error": error})
    assert card.can_resubmit and card.headline.tone == "bad"
    assert "文件无法使用：视频时长短于最小限制。 (3.20 s < 12.0 s)" in _text(card)
    assert "请录制至少 12 秒的课堂视频后上传" in _text(card)


def test_a_copy_of_someone_elses_earlier_work_and_ones_own_resubmission():
    copy = {"kind": "near", "verdict": "duplicate", "same_teacher": False, "query_coverage": 0.83,
            "match_coverage": 0.9, "earlier": "sub_0", "submission_id": "sub_0"}  # fmt: skip
    card = _card(
        "screened", _screened({"verdict": "valid", "teacher_seconds": 90, "required_seconds": 60}, [copy])
    )
    assert card.overall.value == "duplicate" and card.can_resubmit
    assert "与他人更早的一份提交雷同：您的视频有 83% 的内容与之相符" in _text(card)
    first = {**copy, "earlier": "sub_1"}
    card = _card(
        "screened", _screened({"verdict": "valid", "teacher_seconds": 90, "required_seconds": 60}, [first])
    )
    assert card.headline.tone == "warn" and not card.can_resubmit and "您的提交在先" in _text(card)
    own = {**copy, "same_teacher": True, "query_coverage": 1.0}
    card = _card(
        "screened", _screened({"verdict": "valid", "teacher_seconds": 90, "required_seconds": 60}, [own])
    )
    assert "这与您之前提交过的录像相同（100% 的内容一致）" in _text(card)


def test_waiting_and_failures_that_are_not_the_teachers():
    assert _card("queued", None).headline.tone == "wait"
    failed = _card("failed", {"status": "failed", "error": {"code": "internal_error"}})
    assert "并非您的文件有问题" in failed.headline.zh and not failed.can_resubmit
    unchecked = _card(
        "screened", _screened({"verdict": "not_checked", "teacher_seconds": 0, "required_seconds": 0})
    )
    assert "尚未登记人脸照片" in _text(unchecked) and unchecked.presence is None
