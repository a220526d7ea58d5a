"""What a report looks like from outside: the ``overall`` verdict, storage URIs turned into API paths,
and what a teacher may not see taken out. Pure functions of the stored report."""

from __future__ import annotations

import re
from typing import Any

from models.submission_meta import Overall

_STORAGE_URI = re.compile(r"^(?:file|s3)://.*?([0-9a-f]{64})$")
# The report sections that are not analyser verdicts.
_CORE_KEYS = {"submission_id", "status", "error", "media", "rendition", "poster", "versions", "timings"}
# What a teacher sees of a duplicate match: how and where it matched, never whose or which it is.
_TEACHER_DUPLICATE_KEYS = {
    "kind",
    "verdict",
    "same_teacher",
    "earlier",
    "score",
    "query_coverage",
    "match_coverage",
    "segments",
    "reasons",
}


def duplicate_entries(report: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The duplicate matches of a report (the ``duplicates`` stage, as a list or under a list key)."""
    section = (report or {}).get("duplicates")
    if isinstance(section, dict):
        section = next(
            (v for k, v in section.items() if k in ("duplicates", "matches") and isinstance(v, list)), []
        )
    return [m for m in section or [] if isinstance(m, dict)]


def _verdicts(report: dict[str, Any]) -> list[str]:
    found = []
    for key, section in report.items():
        if key in _CORE_KEYS or key == "duplicates":
            continue
        if isinstance(section, dict) and isinstance(section.get("verdict"), str):
            found.append(section["verdict"])
    found += [m["verdict"] for m in duplicate_entries(report) if isinstance(m.get("verdict"), str)]
    return found


def overall_of(status: str, report: dict[str, Any] | None) -> Overall | None:
    """``invalid`` > ``duplicate`` > ``needs_review`` > ``clear``; None until screened (or when failed).

    A rejected file is invalid; so is any analyser verdict ``invalid_*`` (e.g. presence).
    """
    if status == "rejected":
        return Overall.invalid
    if status != "screened" or not report:
        return None
    verdicts = _verdicts(report)
    if any(v.startswith("invalid") for v in verdicts):
        return Overall.invalid
    if any(m.get("verdict") == "duplicate" for m in duplicate_entries(report)):
        return Overall.duplicate
    if any(v == "needs_review" for v in verdicts):
        return Overall.needs_review
    return Overall.clear


def is_duplicate(report: dict[str, Any] | None) -> bool:
    """Whether any match of the report is a ``duplicate`` verdict."""
    return any(m.get("verdict") == "duplicate" for m in duplicate_entries(report))


def media_path(submission_id: str, digest: str) -> str:
    """The API path that serves one stored artifact of a submission."""
    return f"/v1/submissions/{submission_id}/media/{digest}"


def rewrite_uris(value: Any, submission_id: str) -> Any:
    """Replace every storage URI (``file://``, ``s3://``) with its API path."""
    if isinstance(value, str):
        m = _STORAGE_URI.match(value)
        return media_path(submission_id, m.group(1)) if m else value
    if isinstance(value, dict):
        return {k: rewrite_uris(v, submission_id) for k, v in value.items()}
    if isinstance(value, list):
        return [rewrite_uris(v, submission_id) for v in value]
    return value


def media_digests(report: dict[str, Any] | None) -> set[str]:
    """The digests of every stored artifact a report refers to."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str):
            m = _STORAGE_URI.match(value)
            if m:
                found.add(m.group(1))
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(report)
    return found


def redact_for_teacher(report: dict[str, Any]) -> dict[str, Any]:
    """A teacher's view: duplicate matches lose the other submission and teacher (and their media)."""
    section = report.get("duplicates")
    if section is None:
        return report
    redacted = [
        {k: v for k, v in m.items() if k in _TEACHER_DUPLICATE_KEYS} for m in duplicate_entries(report)
    ]
    if isinstance(section, dict):
        section = {
            k: (redacted if k in ("duplicates", "matches") and isinstance(v, list) else v)
            for k, v in section.items()
        }
    else:
        section = redacted
    return {**report, "duplicates": section}


def visible_report(report: dict[str, Any] | None, submission_id: str, *, teacher_view: bool) -> dict | None:
    """The report as a caller sees it: redacted for teachers, storage URIs replaced by API paths."""
    if report is None:
        return None
    if teacher_view:
        report = redact_for_teacher(report)
    return rewrite_uris(report, submission_id)
