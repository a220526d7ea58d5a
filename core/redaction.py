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
    "reasons_zh",
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


def _with_matches(report: dict[str, Any], matches: list[dict[str, Any]]) -> dict[str, Any]:
    """The report with its duplicate matches replaced (where the stage keeps them: a list, or a list
    under a key)."""
    section = report.get("duplicates")
    if isinstance(section, dict):
        section = {
            k: (matches if k in ("duplicates", "matches") and isinstance(v, list) else v)
            for k, v in section.items()
        }
    else:
        section = matches
    return {**report, "duplicates": section}


def redact_for_teacher(report: dict[str, Any]) -> dict[str, Any]:
    """A teacher's view: duplicate matches lose the other submission and teacher (and their media);
    ``earlier`` becomes ``this_is_earlier``, as in the reviewer's packet."""
    if report.get("duplicates") is None:
        return report
    own_id = report.get("submission_id")
    return _with_matches(report, [_teacher_match(m, own_id) for m in duplicate_entries(report)])


def drop_matches(report: dict[str, Any], hidden: frozenset[str]) -> dict[str, Any]:
    """The report without the duplicate matches with a submission in ``hidden`` (ones the caller may
    not open)."""
    if not hidden or report.get("duplicates") is None:
        return report
    kept = [m for m in duplicate_entries(report) if m.get("submission_id") not in hidden]
    return _with_matches(report, kept)


def seen_by(
    report: dict[str, Any] | None, *, teacher_view: bool, hidden: frozenset[str] = frozenset()
) -> dict | None:
    """What of the stored report a caller may see: redacted for teachers, without the matches with
    submissions in ``hidden`` for others (storage URIs still in place)."""
    if report is None:
        return None
    return redact_for_teacher(report) if teacher_view else drop_matches(report, hidden)


def visible_report(
    report: dict[str, Any] | None,
    submission_id: str,
    *,
    teacher_view: bool,
    hidden: frozenset[str] = frozenset(),
) -> dict | None:
    """The report as a caller sees it (``seen_by``), storage URIs replaced by API paths."""
    seen = seen_by(report, teacher_view=teacher_view, hidden=hidden)
    return None if seen is None else rewrite_uris(seen, submission_id)
