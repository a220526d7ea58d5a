"""The double-blind review packet: what a reviewer sees of a submission's report.

Built from a whitelist, so nothing identifying slips through as the report grows: no teacher name or
id, school, uploader, file name, upload hash, colleague ids of the presence tracks, or the other
submission and teacher of a duplicate match (nor its media). Media are named by digest and served
through the assignment (``media_url``), never by submission.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.duplicate_reasons import all_in_chinese
from core.redaction import duplicate_entries, media_digests

_MEDIA_KEYS = ("duration_s", "width", "height", "fps", "rotation")
_PRESENCE_KEYS = (
    "verdict",
    "teacher_seconds",
    "teacher_ratio",
    "required_seconds",
    "duration_s",
    "reasons",
    "reasons_zh",
)
_TRACK_KEYS = ("start", "end", "seconds", "label", "still_picture", "distance")
_DUPLICATE_KEYS = ("kind", "verdict", "same_teacher", "score", "query_coverage", "match_coverage", "reasons")
_SEGMENT_KEYS = ("query_start", "query_end", "match_start", "match_end")  # aligned times, both sides


def _digest(value: Any) -> str | None:
    found = media_digests({"uri": value}) if isinstance(value, str) else set()
    return next(iter(found), None)


def _pick(section: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: section[k] for k in keys if isinstance(section, dict) and k in section}


def _keyframes(report: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """Keyframes and contact sheet (top-level keys of a screening report)."""
    frames, sheet = report.get("keyframes"), report.get("contact_sheet")
    return (frames if isinstance(frames, list) else []), (sheet if isinstance(sheet, dict) else {})


def packet_media(report: dict[str, Any] | None) -> set[str]:
    """The digests a packet links to: exactly the media its reviewer may fetch."""
    found: set[str] = set()

    def collect(digest: str) -> str:
        found.add(digest)
        return digest

    blind_report(report, collect)
    return found


def blind_report(report: dict[str, Any] | None, media_url: Callable[[str], str]) -> dict[str, Any]:
    """The reviewer's view of ``report``; ``media_url(digest)`` gives the link of an artifact."""
    r = report or {}

    def link(section: Any) -> str | None:
        digest = _digest(section.get("uri")) if isinstance(section, dict) else None
        return media_url(digest) if digest else None

    rendition = r.get("rendition") or {}
    keyframes, sheet = _keyframes(r)
    presence = r.get("presence")
    packet: dict[str, Any] = {
        "status": r.get("status"),
        "error": _pick(r.get("error"), ("code", "message", "message_zh")) or None,
        "media": _pick(r.get("media"), _MEDIA_KEYS),
        "rendition": {"url": link(rendition), **_pick(rendition, ("width", "height"))}
        if link(rendition)
        else None,
        "poster": link(r.get("poster")),
        "keyframes": [
            {"url": link(k), **_pick(k, ("t", "width", "height", "tags"))} for k in keyframes if link(k)
        ],
        "contact_sheet": {"url": link(sheet), **_pick(sheet, ("tiles",))} if link(sheet) else None,
        "presence": None,
        "duplicates": [
            {
                **_pick(m, _DUPLICATE_KEYS),
                "reasons_zh": all_in_chinese(x for x in m.get("reasons") or [] if isinstance(x, str)),
                "this_is_earlier": m.get("earlier") == r.get("submission_id"),
                "segments": [_pick(s, _SEGMENT_KEYS) for s in m.get("segments") or [] if isinstance(s, dict)],
            }
            for m in duplicate_entries(r)
        ],
    }
    if isinstance(presence, dict):
        tracks = (presence.get("tracks") or {}).get("items") or []
        packet["presence"] = {
            **_pick(presence, _PRESENCE_KEYS),
            "segments": [_pick(s, ("start", "end", "distance")) for s in presence.get("segments") or []],
            "timeline": [_pick(t, _TRACK_KEYS) for t in tracks if isinstance(t, dict)],
        }
    return packet
