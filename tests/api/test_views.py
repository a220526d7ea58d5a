"""Regions, the ``overall`` precedence and what a report looks like from outside."""

from __future__ import annotations

import pytest

from core import regions
from core.overall import overall_of
from core.redaction import redact_for_teacher, rewrite_uris

HEX = "ab" * 32


def test_region_codes():
    assert regions.normalize(" SC.CD.WH.S017 ") == "sc.cd.wh.s017"
    assert regions.level("sc.cd") == "city" and regions.depth("sc.cd.wh.s017") == 4
    assert regions.contains("sc.cd", "sc.cd.wh.s017") and regions.contains("sc.cd", "sc.cd")
    assert not regions.contains("sc.cd", "sc.cdx.wh.s1") and not regions.contains("sc.cd", None)
    assert regions.child_of("sc.cd", "sc.cd.wh.s017") == "sc.cd.wh"
    assert regions.child_of("sc.cd", "sc.my.x.y") is None
    for bad in ("", "sc..cd", "a.b.c.d.e", "sc.c d", "../etc", "sc.%"):
        assert not regions.is_valid(bad)


def _report(presence: str = "valid", dups: tuple[str, ...] = (), keyframes: str | None = None) -> dict:
    report = {
        "status": "screened",
        "presence": {"verdict": presence},
        "duplicates": [{"verdict": v, "submission_id": f"sub_{i}"} for i, v in enumerate(dups)],
    }
    if keyframes:
        report["keyframes"] = {"verdict": keyframes, "keyframes": []}
    return report


@pytest.mark.parametrize(
    ("status", "report", "expected"),
    [
        ("rejected", {"status": "rejected"}, "invalid"),
        ("screened", _report(), "clear"),
        ("screened", _report("not_checked"), "clear"),
        ("screened", _report("needs_review"), "needs_review"),
        ("screened", _report("valid", ("needs_review",)), "needs_review"),
        ("screened", _report("needs_review", ("duplicate",)), "duplicate"),
        ("screened", _report("valid", ("needs_review", "duplicate")), "duplicate"),
        ("screened", _report("invalid_no_face", ("duplicate",)), "invalid"),
        ("screened", _report("invalid_other_person"), "invalid"),
        ("screened", _report("valid", (), "needs_review"), "needs_review"),
        ("queued", None, None),
        ("failed", {"status": "failed"}, None),
    ],
)
def test_overall_precedence(status, report, expected):
    result = overall_of(status, report)
    assert (result.value if result else None) == expected


def test_duplicates_under_a_list_key_count_too():
    report = {"status": "screened", "duplicates": {"matches": [{"verdict": "duplicate"}], "index": "v1"}}
    assert overall_of("screened", report).value == "duplicate"


def test_storage_uris_become_api_paths():
    report = {
        "rendition": {"uri": f"s3://bucket/prefix/sha256/{HEX}"},
        "keyframes": [{"uri": f"file:///var/blobs/sha256/ab/ab/{HEX}"}],
        "note": "s3://not-a-blob",
    }
    out = rewrite_uris(report, "sub_1")
    assert out["rendition"]["uri"] == f"/v1/submissions/sub_1/media/{HEX}"
    assert out["keyframes"][0]["uri"] == f"/v1/submissions/sub_1/media/{HEX}"
    assert out["note"] == "s3://not-a-blob"


def _strings(value: object) -> set[str]:
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(set(map(str, value)), *map(_strings, value.values()))
    if isinstance(value, list):
        return set().union(*map(_strings, value))
    return set()


def test_teacher_view_drops_the_other_side(screened_lessons):
    """On reports the pipeline made: the later copy and the earlier lesson it copies."""
    for own, other, own_first in (("c", "a", False), ("a", "c", True)):
        report = screened_lessons.reports[own]
        assert report["duplicates"] and report["duplicates"][0]["earlier"]  # what the pipeline writes
        out = redact_for_teacher(report)
        seen = _strings(out)
        assert screened_lessons.reports[other]["submission_id"] not in seen
        assert report["duplicates"][0]["teacher_id"] not in seen
        (match,) = out["duplicates"]
        assert "earlier" not in match and match["this_is_earlier"] is own_first
        assert match["segments"] == report["duplicates"][0]["segments"]
    assert redact_for_teacher(screened_lessons.reports["d"])["duplicates"] == []
