"""Duplicate detection through the job runner: exact and near copies found, both reports updated,
the change announced, shared material on the allowlist never flagged."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session, select

from core import duplicate_reasons, duplicates, jobs
from core.db import init_db, make_engine, session_scope
from core.submissions import submit_file
from models.dedup import DuplicateMatch
from models.outbox import Event
from models.submissions import Submission
from pipeline.analysis.host import AnalyserHost
from pipeline.dedup import AudioFingerprinter, VisualFingerprinter
from pipeline.limits import MediaLimits
from pipeline.media_pass import process_media
from tests.fixtures.media import ffmpeg
from tests.test_dedup import THREATEXCHANGE, _verified_pairs, load_anchor_set
from workers import dedup
from workers.dedup_indexer import build_all
from workers.dedup_shard import ShardHost
from workers.runner import JobRunner

CLIPS = Path(__file__).resolve().parents[2] / "shared" / "data" / "clips"


def _screen(stack, path: Path, teacher: str | None) -> str:
    with Session(stack.engine) as session:
        sub_id = submit_file(session, stack.store, path, teacher_id=teacher).id
    JobRunner(stack.settings, stack.engine).run_once()
    return sub_id


def _report(stack, sub_id: str) -> dict:
    with Session(stack.engine) as session:
        return session.get(Submission, sub_id).report


def _reencoded_copy(out: Path, start: int, seconds: int, scale: str, crf: int) -> Path:
    """A trimmed, resized and re-encoded copy of the shared test clip."""
    ffmpeg("-ss", str(start), "-t", str(seconds), "-i", str(CLIPS / "testvideo.mp4"), "-vf", f"scale={scale}",
           "-c:v", "libx264", "-crf", str(crf), "-preset", "veryfast", "-c:a", "aac", str(out))  # fmt: skip
    return out


@pytest.fixture(scope="module")
def reencoded_trim(tmp_path_factory) -> Path:
    return _reencoded_copy(tmp_path_factory.mktemp("copies") / "copy.mp4", 2, 18, "640:360", 30)


def test_copies_are_flagged_both_ways(stack, ray_local, reencoded_trim):
    original = _screen(stack, CLIPS / "testvideo.mp4", "t-1")
    assert _report(stack, original)["duplicates"] == []
    same_bytes = _screen(stack, CLIPS / "testvideo.mp4", "t-2")
    copy = _screen(stack, reencoded_trim, "t-1")
    unrelated = _screen(stack, CLIPS / "short_hamilton_clip.mp4", "t-3")

    exact = [d for d in _report(stack, same_bytes)["duplicates"] if d["kind"] == "exact"]
    assert [(d["submission_id"], d["verdict"]) for d in exact] == [(original, "duplicate")]
    assert exact[0]["earlier"] == original and exact[0]["same_teacher"] is False  # possible plagiarism

    near = {d["submission_id"]: d for d in _report(stack, copy)["duplicates"]}
    assert original in near and near[original]["verdict"] == "duplicate"
    assert near[original]["kind"] in {"near", "partial"} and near[original]["same_teacher"] is True
    assert near[original]["segments"] and near[original]["query_coverage"] > 0.5
    for entry in [*exact, *near.values()]:  # the reasons, in Chinese too
        assert entry["reasons"] and all(duplicate_reasons.known(r) for r in entry["reasons"])
        assert entry["reasons_zh"] == duplicate_reasons.all_in_chinese(entry["reasons"])

    # The earlier submission's stored report now lists the later copies, and that change is an event.
    later = {d["submission_id"] for d in _report(stack, original)["duplicates"]}
    assert {same_bytes, copy} <= later
    assert _report(stack, unrelated)["duplicates"] == []
    with Session(stack.engine) as session:
        types = session.exec(select(Event.type).where(Event.submission_id == original)).all()
    assert "submission.screened" in types and "submission.duplicate_found" in types


def test_allowlisted_material_is_never_flagged(embedded_stack, ray_local):
    stack = embedded_stack
    with Session(stack.engine) as session:
        material = submit_file(session, stack.store, CLIPS / "testvideo.mp4")
        duplicates.allowlist(session, material.id, title="national courseware clip", added_by="admin")
        session.commit()
    JobRunner(stack.settings, stack.engine).run_once()
    lesson = _screen(stack, CLIPS / "testvideo.mp4", "t-1")  # a lesson that is only the shared clip
    assert _report(stack, lesson)["duplicates"] == []  # not even as an exact copy


@pytest.fixture(scope="module")
def second_copy(tmp_path_factory) -> Path:
    return _reencoded_copy(tmp_path_factory.mktemp("copies") / "copy2.mp4", 4, 16, "480:270", 28)


def _others(stack, sub_id: str) -> set[str]:
    return {d["submission_id"] for d in _report(stack, sub_id)["duplicates"]}


def test_allowlisting_screened_material_withdraws_its_flags(
    embedded_stack, ray_local, reencoded_trim, second_copy
):
    stack = embedded_stack
    material = _screen(stack, CLIPS / "testvideo.mp4", "t-1")
    first = _screen(stack, reencoded_trim, "t-2")
    second = _screen(stack, second_copy, "t-3")
    assert _others(stack, second) == {material, first}
    assert _others(stack, material) == {first, second}

    # Re-running a submission finds the same matches again: nothing is dropped by a plain re-check.
    with Session(stack.engine) as session:
        job_id = jobs.enqueue(session, first).id
        session.commit()
    JobRunner(stack.settings, stack.engine).run_once(job_id=job_id)
    assert _others(stack, first) == {material, second} and _others(stack, second) == {material, first}

    with Session(stack.engine) as session:
        rechecked = duplicates.allowlist(
            session, material, title="the county's demonstration lesson", added_by="a"
        )
        session.commit()
    assert sorted(rechecked) == sorted([first, second])
    assert _others(stack, material) == set()
    assert material not in _others(stack, first) | _others(stack, second)
    runner = JobRunner(stack.settings, stack.engine)
    while runner.run_once():
        pass
    # The two copies shared nothing but the allowlisted material: no longer copies of each other.
    for sub_id in (first, second):
        report = _report(stack, sub_id)
        assert report["status"] == "screened" and report["duplicates"] == [], report["duplicates"]
    with Session(stack.engine) as session:
        assert session.get(Submission, first).status.value == "screened"
        types = session.exec(select(Event.type).where(Event.submission_id == material)).all()
    assert types.count("submission.updated") >= 1


def _fingerprinted(stack, path: Path, teacher: str, workdir: Path) -> tuple[str, str, dict]:
    """A submission with its fingerprint stages computed, as a runner holds them before matching."""
    visual, audio = VisualFingerprinter(), AudioFingerprinter()
    workdir.mkdir(parents=True)
    out = process_media(path, workdir, MediaLimits(analysis_fps=2.0), AnalyserHost([visual, audio]))
    stages = {
        visual.stage: {k: v for k, v in out.outputs[visual.stage].data.items() if k != "keyframes"},
        audio.stage: out.outputs[audio.stage].data,
    }
    with Session(stack.engine) as session:
        sub = submit_file(session, stack.store, path, teacher_id=teacher)
        return sub.id, sub.sha256, stages


VERSIONS = {dedup.VISUAL: "v", dedup.AUDIO: "v"}


def _write(stack, sub_id: str, found: dedup.Found) -> None:
    with session_scope(stack.engine) as session:
        duplicates.write_matches(session, sub_id, found.matches)


def test_copies_finishing_together_on_two_runners_still_find_each_other(
    stack, ray_local, reencoded_trim, tmp_path
):
    """Two runners, each with its own shard in process: whichever publishes second finds the first, in
    every order of publishing and searching."""
    x, x_sha, x_stages = _fingerprinted(stack, CLIPS / "testvideo.mp4", "t-1", tmp_path / "x")
    y, y_sha, y_stages = _fingerprinted(stack, reencoded_trim, "t-2", tmp_path / "y")
    first, second = (
        dedup.DedupMatcher(stack.settings, stack.engine),
        dedup.DedupMatcher(stack.settings, stack.engine),
    )
    # Both publish before either searches: both find the other.
    rx = first.publish(x, x_sha, x_stages, VERSIONS)
    ry = second.publish(y, y_sha, y_stages, VERSIONS)
    rx, ry = first.retrieve(rx, x_stages), second.retrieve(ry, y_stages)
    assert [c.video_id for c in rx.candidates.candidates] == [y]
    assert [c.video_id for c in ry.candidates.candidates] == [x]
    found_x = dedup.verify_request(stack.settings, stack.engine, stack.store, rx)
    found_y = dedup.verify_request(stack.settings, stack.engine, stack.store, ry)
    _write(stack, x, found_x)
    _write(stack, y, found_y)  # the same pair again: upserted, not doubled
    with Session(stack.engine) as session:
        pairs = {(m.submission_id, m.other_id) for m in session.exec(select(DuplicateMatch))}
    assert pairs == {(x, y), (y, x)}


def test_a_restarted_shard_comes_back_from_its_snapshot(embedded_stack, ray_local, tmp_path):
    """The indexer publishes a snapshot; a new host loads it and reads only the rows committed after."""
    stack = embedded_stack
    original = _screen(stack, CLIPS / "testvideo.mp4", "t-1")
    built = build_all(stack.settings, 1, on_ray=False)
    assert [b.entries for b in built] == [1]
    later = _screen(stack, CLIPS / "short_hamilton_clip.mp4", "t-2")
    host = ShardHost(stack.settings, 1, 0, stack.engine)
    assert host.stats()["snapshot_seq"] == built[0].seq and host.seen > built[0].seq
    assert original in host.index and later in host.index
    # another database has no snapshot of its own: an empty index, not this one's
    engine = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    init_db(engine)
    assert len(ShardHost(stack.settings, 1, 0, engine).index) == 0


def test_threatexchange_through_the_product_path(embedded_stack, ray_local):
    """Every file of the public anchor set screened by the runner, one after another: the reports list
    exactly the pairs that verifying every pair directly judges duplicates, and none across families."""
    stack, anchor_set = embedded_stack, load_anchor_set()
    ids = {}
    for k, name in enumerate(anchor_set.files):
        with Session(stack.engine) as session:
            ids[name] = submit_file(session, stack.store, THREATEXCHANGE / name, teacher_id=f"t-{k}").id
    runner = JobRunner(stack.settings, stack.engine)
    while runner.run_once():
        pass
    name_of = {v: k for k, v in ids.items()}
    reported = {
        frozenset((name, name_of[d["submission_id"]]))
        for name, sub_id in ids.items()
        for d in _report(stack, sub_id)["duplicates"]
        if d["verdict"] == "duplicate"
    }
    load = dedup.FingerprintLoader(stack.engine, stack.store)
    prints = {name: load(sub_id) for name, sub_id in ids.items()}
    direct, false = _verified_pairs(anchor_set, prints)
    print(f"\nThreatExchange, product path: {len(reported)} pairs reported, {len(direct)} ordered verified")
    assert false == 0 and all(anchor_set.same(*sorted(p)) for p in reported)
    assert reported == {frozenset(p) for p in direct} and len(reported) >= 27
