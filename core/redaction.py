"""What each caller may see of a report: storage URIs turned into API paths, and what a teacher may not
see taken out. Pure functions of the stored report."""

from __future__ import annotations

import re
from typing import Any

from core.overall import duplicate_entries

_STORAGE_URI = re.compile(r"^(?:file|s3)://.*?([0-9a-f]{64})$")
# What a teacher sees of a duplicate match: how and where it matched, never whose or which it is.
_TEACHER_DUPLICATE_KEYS = {
    "kind",
    "verdict",
    "same_teacher",
    "score",
    "query_coverage",
    "match_coverage",
    "segments",
    "reasons",
}


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


def _teacher_match(match: dict[str, Any], own_id: Any) -> dict[str, Any]:
    """One match as its teacher sees it: how and where it matched, and whether theirs came first."""
    seen = {k: v for k, v in match.items() if k in _TEACHER_DUPLICATE_KEYS}
    if "earlier" in match:
        seen["this_is_earlier"] = match["earlier"] == own_id
    return seen


def redact_for_teacher(report: dict[str, Any]) -> dict[str, Any]:
    """A teacher's view: duplicate matches lose the other submission and teacher (and their media);
    ``earlier`` becomes ``this_is_earlier``, as in the reviewer's packet."""
    section = report.get("duplicates")
    if section is None:
        return report
    own_id = report.get("submission_id")
    redacted = [_teacher_match(m, own_id) for m in duplicate_entries(report)]
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
