"""Turn a task outcome into stage results, and stage results into the screening report."""

from __future__ import annotations

from typing import Any

from pipeline.media_pass import STAGE_VERSIONS

CORE_STAGES = ("validate", "rendition")
# How an analyser's stored data shows in the report: nested under the stage name (the default), its
# listed keys merged at the top level, or left out (None: internal data such as fingerprints).
REPORT_LAYOUT: dict[str, tuple[str, ...] | None] = {
    "keyframes": ("keyframes", "contact_sheet"),
    "fingerprint_visual": None,
    "fingerprint_audio": None,
}


def outcome_to_stages(outcome: dict) -> dict[str, dict]:
    """Split a task outcome into per-stage data, keyed like the stage results table."""
    if outcome["status"] == "rejected":
        return {"validate": {"error": outcome["error"]}}
    stages = {
        "validate": {"media": outcome["media"]},
        "rendition": {
            "rendition": outcome["rendition"],
            "poster": outcome["poster"],
            "timings": outcome["timings"],
        },
    }
    stages.update(outcome["stages"])
    return stages


def stages_complete(stored: dict[str, dict], versions: dict[str, str]) -> bool:
    """True when the stored results answer the whole screening at these versions."""
    if "error" in stored.get("validate", {}):
        return True
    return all(stage in stored for stage in versions)


def build_report(
    submission_id: str, sha256: str, stored: dict[str, dict], versions: dict[str, str]
) -> dict[str, Any]:
    """The screening report of issue 2 (extended by analyser stages under their own keys)."""
    validate = stored["validate"]
    if "error" in validate:
        return {
            "submission_id": submission_id,
            "status": "rejected",
            "error": validate["error"],
            "media": {"sha256": sha256},
            "versions": {"validate": versions["validate"]},
            "timings": {},
        }
    rendition = stored["rendition"]
    report: dict[str, Any] = {
        "submission_id": submission_id,
        "status": "screened",
        "error": None,
        "media": {"sha256": sha256, **validate["media"]},
        "rendition": rendition["rendition"],
        "poster": rendition["poster"],
        "versions": dict(versions),
        "timings": rendition["timings"],
    }
    for stage in versions:
        if stage in CORE_STAGES:
            continue
        if stage not in REPORT_LAYOUT:
            report[stage] = stored[stage]
        elif (keys := REPORT_LAYOUT[stage]) is not None:
            report.update({key: stored[stage].get(key) for key in keys})
    return report


def failed_report(submission_id: str, sha256: str, message: str) -> dict[str, Any]:
    """Report for an internal failure (a bug or infrastructure fault, not the teacher's file)."""
    return {
        "submission_id": submission_id,
        "status": "failed",
        "error": {
            "code": "internal_error",
            "message": "Processing failed inside the system; the submission will be retried.",
            "message_zh": "系统内部处理失败；该提交将被重新处理。",
            "detail": message[:2000],
        },
        "media": {"sha256": sha256},
        "versions": dict(STAGE_VERSIONS),
        "timings": {},
    }
