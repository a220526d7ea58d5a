"""Turn a task outcome into stage results, and stage results into the screening report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipeline.analysis.analyser import Analyser
from pipeline.analysis.registry import ANALYSERS
from pipeline.media_pass import STAGE_VERSIONS


def outcome_to_stages(outcome: dict) -> dict[str, dict]:
    """Split a task outcome into per-stage data, keyed like the stage results table (a
    re-screening's: only the stages it computed again)."""
    if outcome["status"] == "rejected":
        return {"validate": {"error": outcome["error"]}}
    if outcome["status"] == "rescreened":
        return dict(outcome["stages"])
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
    submission_id: str,
    sha256: str,
    stored: dict[str, dict],
    versions: dict[str, str],
    analysers: Sequence[type[Analyser]] = ANALYSERS,
) -> dict[str, Any]:
    """The screening report of issue 2, each analyser's data placed as its report section says."""
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
    for analyser in analysers:
        report.update(analyser.report.entries(analyser.stage, stored[analyser.stage]))
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
