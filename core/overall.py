"""The ``overall`` verdict of a report and its duplicate entries: invalid > duplicate > needs_review >
clear. Pure functions of the stored report."""

from __future__ import annotations

from typing import Any

from models.submissions import Overall

# The report sections that are not analyser verdicts.
_CORE_KEYS = {"submission_id", "status", "error", "media", "rendition", "poster", "versions", "timings"}


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
