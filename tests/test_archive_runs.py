"""Archive runs in process: manifests with bad rows, an S3 prefix, reprocessing by staleness and by
forced stages, and how a driver tells working runners from dead ones. Real Ray, SQLite and PostgreSQL,
S3 (SeaweedFS)."""

from __future__ import annotations

import csv
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from core import archive_runs, jobs
from core.archive_manifest import read_manifest
from core.errors import DomainError
from core.settings import Settings
from models.archive_runs import ArchiveRun
from models.base import utcnow
from models.jobs import Job, JobStatus, StageResult
from models.submissions import Submission
from models.teachers import Teacher
from tests.fixtures.media import make_video
from workers import archive_run
from workers.archive_sources import ArchiveSource

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SCHOOL = "sc.cd.wh.s017"


def write_manifest(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, ["path", "teacher_id", "school", "submission_id"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def add_teachers(engine, *ids: str, school: str = SCHOOL) -> None:
    with Session(engine) as session:
        for tid in ids:
            session.add(Teacher(id=tid, school_code=school, subject="math"))
        session.commit()


def lessons(folder: Path, n: int) -> list[Path]:
    """``n`` small distinct lessons (different sizes and lengths)."""
    folder.mkdir(parents=True, exist_ok=True)
    return [
        make_video(folder / f"lesson{i}.mp4", seconds=1.2 + 0.2 * i, width=160 + 16 * i, height=120, fps=10)
        for i in range(n)
    ]


def run_manifest(stack, manifest: Path | str, base, **kw) -> archive_runs.RunCounts:
    source = ArchiveSource(base, stack.settings)
    with Session(stack.engine) as session:
        run, _ = archive_runs.resume_or_start(
            session, "batch", {"manifest": str(manifest), "base": str(base)}
        )
    bad: list[archive_run.BadRow] = []
    counts = archive_run.execute(
        stack.settings,
        stack.engine,
        run.id,
        lambda tick: archive_run.enqueue_manifest(
            stack.settings,
            stack.engine,
            stack.store,
            run,
            str(manifest),
            source,
            on_bad=bad.append,
            tick=tick,
            **kw,
        ),
        drain_here=True,
        poll_s=0.3,
    )
    counts.bad_rows = bad  # type: ignore[attr-defined]
    return counts


def test_manifest_is_streamed_from_a_row_and_needs_its_columns(tmp_path):
    m = write_manifest(
        tmp_path / "m.csv", [{"path": f"f{i}.mp4", "teacher_id": "t", "school": SCHOOL} for i in range(5)]
    )
    assert [r.row for r in read_manifest(m, after=3)] == [4, 5]
    (tmp_path / "bad.csv").write_text("file,teacher_id\nx.mp4,t\n")
    with pytest.raises(DomainError) as exc:
        list(read_manifest(tmp_path / "bad.csv"))
    assert exc.value.code == "invalid_manifest"


def test_bad_rows_are_listed_and_the_run_goes_on(stack, ray_local, tmp_path):
    """Unknown teacher, wrong school, duplicate row, unreadable file: each listed with its code; the good
    rows (a path, a blob-store key, a stable submission id) are screened."""
    a, b = lessons(tmp_path / "archive", 2)
    key = stack.store.put_file(b)
    add_teachers(stack.engine, "t1", "t2")
    add_teachers(stack.engine, "t3", school="sc.cd.wh.s018")
    m = write_manifest(
        tmp_path / "archive" / "m.csv",
        [
            {"path": "lesson0.mp4", "teacher_id": "t1", "school": SCHOOL, "submission_id": "arch-0001"},
            {"path": key, "teacher_id": "t2", "school": SCHOOL},
            {"path": "lesson0.mp4", "teacher_id": "nobody", "school": SCHOOL},
            {"path": "lesson0.mp4", "teacher_id": "t3", "school": SCHOOL},
            {"path": "lesson0.mp4", "teacher_id": "t1", "school": SCHOOL},
            {"path": "missing.mp4", "teacher_id": "t2", "school": SCHOOL},
        ],
    )
    counts = run_manifest(stack, m, m.parent, batch_rows=4)
    assert {(r.row, r.problem) for r in counts.bad_rows} == {
        (3, "unknown_teacher"),
        (4, "school_mismatch"),
        (5, "duplicate_row"),
        (6, "unreadable"),
    }
    assert (counts.rows, counts.bad, counts.queued, counts.finished, counts.screened) == (6, 4, 2, 2, 2)
    assert counts.complete
    with Session(stack.engine) as session:
        assert session.get(Submission, "arch-0001").teacher_id == "t1"
        bad = list(archive_runs.bad_rows(session, session.exec(select(ArchiveRun.id)).one()))
    assert [i.row for i in bad] == [3, 4, 5, 6]


def test_prefix_on_the_real_s3_server(production_stack, ray_local, s3_server, tmp_path):
    stack = production_stack
    client = s3_server.client()
    prefix = f"archive-{tmp_path.name}/2024"
    for i, lesson in enumerate(lessons(tmp_path / "src", 2)):
        client.upload_file(str(lesson), s3_server.bucket, f"{prefix}/school-a/lesson{i}.mp4")
    add_teachers(stack.engine, "t1", "t2")
    m = write_manifest(
        tmp_path / "m.csv",
        [
            {"path": "school-a/lesson0.mp4", "teacher_id": "t1", "school": SCHOOL},
            {"path": "school-a/lesson1.mp4", "teacher_id": "t2", "school": SCHOOL},
            {"path": "school-a/gone.mp4", "teacher_id": "t2", "school": SCHOOL},
        ],
    )
    client.upload_file(str(m), s3_server.bucket, f"{prefix}/manifest.csv")  # read from S3 as well
    counts = run_manifest(
        stack, f"s3://{s3_server.bucket}/{prefix}/manifest.csv", f"s3://{s3_server.bucket}/{prefix}/"
    )
    assert [(r.row, r.problem) for r in counts.bad_rows] == [(3, "unreadable")]
    assert (counts.screened, counts.queued) == (2, 2)
    with Session(stack.engine) as session:
        subs = session.exec(select(Submission)).all()
    assert {s.filename for s in subs} == {"lesson0.mp4", "lesson1.mp4"}
    assert all(stack.store.exists(s.blob_key) for s in subs)


def _reprocess(stack, settings: Settings, selection: archive_run.Selection, dry_run: bool = False):
    with Session(stack.engine) as session:
        run, _ = archive_runs.resume_or_start(session, "reprocess", {**selection.spec(), "dry_run": dry_run})
    return archive_run.execute(
        settings,
        stack.engine,
        run.id,
        lambda tick: archive_run.enqueue_selection(
            settings, stack.engine, run, selection, dry_run=dry_run, tick=tick
        ),
        drain_here=not dry_run,
        wait=not dry_run,
        poll_s=0.3,
    )


def _results(engine) -> dict[tuple[str, str, str], object]:
    with Session(engine) as session:
        rows = session.exec(select(StageResult)).all()
    return {(r.submission_id, r.stage, r.version): r.created_at for r in rows}


def _reports(engine) -> dict[str, dict]:
    with Session(engine) as session:
        return {s.id: s.report for s in session.exec(select(Submission)).all()}


def test_stale_skips_current_a_bumped_version_reruns_that_stage_and_stages_force(
    embedded_stack, ray_local, tmp_path
):
    stack = embedded_stack
    folder = tmp_path / "archive"
    folder.mkdir()
    for i in range(2):  # recorded the way phones do: 30 fps, a keyframe every second
        make_video(
            folder / f"lesson{i}.mp4", seconds=3 + i, width=320, height=240, fps=30, extra=("-g", "30")
        )
    add_teachers(stack.engine, "t1", "t2")
    m = write_manifest(
        folder / "m.csv",
        [{"path": f"lesson{i}.mp4", "teacher_id": f"t{i + 1}", "school": SCHOOL} for i in range(2)],
    )
    assert run_manifest(stack, m, m.parent).screened == 2
    before = _results(stack.engine)
    assert {stage for _, stage, _ in before} >= {"rendition", "presence", "keyframes", "duplicates"}
    assert not any("rescreen" in r for r in _reports(stack.engine).values())  # a whole screening

    current = _reprocess(stack, stack.settings, archive_run.Selection(stale=True))
    assert (current.queued, current.skipped) == (0, 2)  # nothing stale: nothing runs
    assert _results(stack.engine) == before

    bumped = stack.settings.model_copy(update={"keyframe_params": {"cap": 15}})
    dry = _reprocess(stack, bumped, archive_run.Selection(stale=True), dry_run=True)
    assert (dry.valid, dry.queued) == (2, 0)
    again = _reprocess(stack, bumped, archive_run.Selection(stale=True))
    assert (again.queued, again.screened, again.skipped) == (2, 2, 0)
    after = _results(stack.engine)
    new = {k for k in after if k not in before}
    assert {stage for _, stage, _ in new} == {"keyframes"} and len(new) == 2  # only that stage is new
    # the others were reused, not rewritten: the rendition stands and matching was not run again
    assert all(after[k] == v for k, v in before.items())
    for report in _reports(stack.engine).values():  # re-screened on the keyframes alone
        assert report["rescreen"]["stages"] == ["keyframes"]
        assert report["rescreen"]["path"].startswith("keyframes"), report["rescreen"]
        assert report["versions"]["duplicates"] and report["duplicates"] == []

    forced = _reprocess(stack, bumped, archive_run.Selection(all=True, stages=("presence",)))
    assert (forced.queued, forced.screened) == (2, 2)
    final = _results(stack.engine)
    rewritten = {k for k in final if final[k] != after.get(k)}
    # keyframes read presence (a frame of each stretch with the teacher), so they follow it
    assert {stage for _, stage, _ in rewritten} == {"presence", "keyframes"} and len(rewritten) == 4

    matching = _reprocess(stack, bumped, archive_run.Selection(all=True, stages=("duplicates",)))
    assert (matching.queued, matching.screened) == (2, 2)
    rematched = _results(stack.engine)
    assert {stage for k, v in rematched.items() if v != final.get(k) for _, stage, _ in [k]} == {"duplicates"}
    assert not any("rescreen" in r for r in _reports(stack.engine).values())  # nothing decoded


def test_working_runners_are_told_from_dead_ones(engine):
    with Session(engine) as session:
        session.add(Submission(id="s1", blob_key="sha256/" + "0" * 64, sha256="0" * 64, size_bytes=1))
        session.add(Submission(id="s2", blob_key="sha256/" + "1" * 64, sha256="1" * 64, size_bytes=1))
        session.commit()
        for sid in ("s1", "s2"):
            jobs.enqueue(session, sid)
        session.commit()
    assert jobs.runners_at_work(engine, 0.1, lambda _: None) == set()  # no live lease: nothing to watch
    live = jobs.claim(engine, "host-a:1", 30)
    jobs.claim(engine, "dead-b:2", 30)  # its runner never beats again
    assert jobs.runners_at_work(engine, 0.1, lambda _: None) == set()
    renew = lambda _: jobs.heartbeat(engine, live.id, "host-a:1", 60)  # noqa: E731
    assert jobs.runners_at_work(engine, 0.1, renew) == {"host-a:1"}
    with Session(engine) as session:  # an expired lease is not live either
        for job in session.exec(select(Job).where(col(Job.status) == JobStatus.running)).all():
            job.lease_expires_at = utcnow() - timedelta(seconds=1)
            session.add(job)
        session.commit()
    assert jobs.runners_at_work(engine, 0.1, renew) == set()


def test_summary_counts_duplicates_found(embedded_stack, ray_local, tmp_path):
    """Two teachers submitting the same lesson: both screened, the later one a duplicate."""
    stack = embedded_stack
    folder = tmp_path / "archive"
    folder.mkdir()
    shutil.copy(SHARED / "clips/short_hamilton_clip.mp4", folder / "a.mp4")
    add_teachers(stack.engine, "t1", "t2")
    m = write_manifest(
        folder / "m.csv",
        [{"path": "a.mp4", "teacher_id": t, "school": SCHOOL} for t in ("t1", "t2")],
    )
    counts = run_manifest(stack, m, folder)
    assert (counts.screened, counts.duplicates) == (2, 2)
