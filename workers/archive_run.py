"""Archive runs: enqueue a manifest or a selection of stored submissions in batches, drain the queue here
or let runners elsewhere drain it, and count the outcome in the database.

Every batch of rows is recorded with the run's cursor in one transaction, and every row keeps the job
it queued, so a run stopped anywhere (Ctrl-C, a killed driver) is resumed by the same command: rows
already read are not read again, a job already finished is not queued again, and a job whose runner
died is claimed again once its lease runs out.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core import archive_runs, jobs, stage_results
from core.archive_manifest import ManifestRow, read_rows, row_problems
from core.archive_runs import RunCounts
from core.audit import Origin
from core.db import session_scope
from core.duplicates import MATCHING
from core.settings import Settings
from core.storage import BlobStore, digest_of_key
from core.submissions import create_submission
from models.archive_runs import ArchiveRun, ArchiveRunItem
from models.jobs import Lane
from models.submissions import Submission, SubmissionStatus
from pipeline.analysis.registry import ANALYSERS
from pipeline.errors import MediaError
from pipeline.media_pass import STAGE_VERSIONS
from workers.archive_sources import ArchiveSource, Unreadable, open_manifest
from workers.batch import TERMINAL, archive_submission_id, finished_page, stale_stages
from workers.runner import JobRunner

BATCH_ROWS = 200
STAGES = (*STAGE_VERSIONS, *(a.stage for a in ANALYSERS), MATCHING)  # what --stages may name


@dataclass(frozen=True)
class BadRow:
    """A row that was not queued, and why (``problem`` is an error code of ``core.errors``)."""

    row: int
    source: str
    problem: str
    detail: str


OnBad = Callable[[BadRow], None]
OnProgress = Callable[[RunCounts], None]


def _batched(rows: Iterable[Any], n: int) -> Iterator[list[Any]]:
    it = iter(rows)
    while chunk := list(itertools.islice(it, n)):
        yield chunk


class _Throttle:
    """Call ``fn`` with fresh counts at most every ``every_s`` seconds (counting is a query)."""

    def __init__(self, engine: Engine, run_id: str, fn: OnProgress, every_s: float = 1.0):
        self.engine, self.run_id, self.fn, self.every_s, self.last = engine, run_id, fn, every_s, 0.0

    def __call__(self, force: bool = False) -> RunCounts | None:
        if not force and time.monotonic() - self.last < self.every_s:
            return None
        self.last = time.monotonic()
        with Session(self.engine) as session:
            c = archive_runs.counts(session, self.run_id)
        self.fn(c)
        return c


# -- a manifest ------------------------------------------------------------------------------------------
def enqueue_manifest(
    settings: Settings,
    engine: Engine,
    store: BlobStore,
    run: ArchiveRun,
    manifest: str,
    source: ArchiveSource,
    *,
    dry_run: bool = False,
    on_bad: OnBad = lambda _: None,
    tick: Callable[[], object] = lambda: None,
    batch_rows: int = BATCH_ROWS,
    origin: Origin | None = None,
) -> None:
    """Read the manifest from the run's cursor and record its rows batch by batch: files stored and
    queued (or, in a dry run, only checked), bad rows listed with their reason."""
    origin = origin or Origin.cli()
    if run.input_done:
        return
    with open_manifest(manifest, settings) as fh:
        for chunk in _batched(read_rows(fh, manifest, after=int(run.cursor or 0)), batch_rows):
            items = _manifest_batch(settings, engine, store, run.id, chunk, source, dry_run, origin)
            for item in items:
                if item.outcome == "bad":
                    on_bad(BadRow(item.row, item.source, item.problem or "", item.detail or ""))
            tick()
    with session_scope(engine) as session:
        archive_runs.advance(session, run.id, run.cursor, input_done=True)
        if not dry_run:
            return
        archive_runs.finish(session, run.id)  # a dry run is never resumed into a real one


def _manifest_batch(
    settings: Settings,
    engine: Engine,
    store: BlobStore,
    run_id: str,
    chunk: list[ManifestRow],
    source: ArchiveSource,
    dry_run: bool,
    origin: Origin,
) -> list[ArchiveRunItem]:
    with Session(engine) as session:
        problems = row_problems(session, chunk)
        earlier = archive_runs.known(session, run_id, row_keys=[r.row_key for r in chunk])
    items: list[ArchiveRunItem] = []
    stored: dict[int, tuple[str, int]] = {}
    for r in chunk:  # files are copied outside any transaction
        item = ArchiveRunItem(
            run_id=run_id,
            row=r.row,
            row_key=r.row_key,
            source=source.describe(r.path)[:1000],
            outcome="valid",
        )
        items.append(item)
        if r.row in problems:
            item.outcome, (item.problem, item.detail) = "bad", problems[r.row]
        elif r.row_key in earlier:
            item.outcome, item.problem, item.detail = (
                "bad",
                "duplicate_row",
                "same file and teacher as an earlier row",
            )
        else:
            earlier.add(r.row_key)
            try:
                if dry_run:
                    source.check(r.path, store)
                else:
                    stored[r.row] = source.store(r.path, store, settings.max_upload_bytes)
            except Unreadable as exc:
                item.outcome, item.problem, item.detail = "bad", "unreadable", str(exc)[:1000]
            except MediaError as exc:  # file_too_large
                item.outcome, item.problem, item.detail = "bad", exc.code, exc.message[:1000]
    rows = {r.row: r for r in chunk}
    with session_scope(engine) as session:
        if not dry_run:
            _queue_rows(session, run_id, items, rows, stored, origin)
        session.add_all(items)
        archive_runs.advance(session, run_id, str(chunk[-1].row))
    return items


def _queue_rows(
    session: Session,
    run_id: str,
    items: list[ArchiveRunItem],
    rows: dict[int, ManifestRow],
    stored: dict[int, tuple[str, int]],
    origin: Origin,
) -> None:
    """Turn each good row into its submission and job (a submission met before keeps its results)."""
    ids = {
        item.row: rows[item.row].submission_id
        or archive_submission_id(item.source, stored[item.row][0], rows[item.row].teacher_id)
        for item in items
        if item.row in stored
    }
    taken = archive_runs.known(session, run_id, submission_ids=ids.values())
    for item in items:
        if item.row not in stored:
            continue
        r, (key, size), sub_id = rows[item.row], stored[item.row], ids[item.row]
        if sub_id in taken:
            item.outcome, item.problem, item.detail = (
                "bad",
                "duplicate_row",
                f"submission {sub_id} is on an earlier row",
            )
            continue
        taken.add(sub_id)
        item.submission_id = sub_id
        sub = session.get(Submission, sub_id)
        if sub is None:
            sub = create_submission(
                session,
                key=key,
                size=size,
                filename=Path(r.path).name[:500],
                teacher_id=r.teacher_id,
                submission_id=sub_id,
                origin=origin,
                lane=None,  # queued below, once
            )
        elif sub.sha256 != digest_of_key(key) or sub.teacher_id != r.teacher_id:
            item.submission_id = None
            item.outcome, item.problem, item.detail = "bad", "submission_conflict", f"submission {sub_id}"
            continue
        elif sub.status in TERMINAL and sub.status != SubmissionStatus.failed:
            item.outcome = "skipped"  # screened before this run: nothing to do
            continue
        item.outcome, item.job_id = "queued", jobs.queue_again(session, sub, Lane.archive).id


# -- a selection of stored submissions --------------------------------------------------------------------
@dataclass(frozen=True)
class Selection:
    """Which stored submissions to run again: named ones, the stale ones, or all finished ones; and
    the stages to recompute even when current."""

    ids: tuple[str, ...] = ()
    stale: bool = False
    all: bool = False
    stages: tuple[str, ...] = ()

    def spec(self) -> dict[str, Any]:
        return {
            "ids": sorted(set(self.ids)),
            "stale": self.stale,
            "all": self.all,
            "stages": sorted(self.stages),
        }


def enqueue_selection(
    settings: Settings,
    engine: Engine,
    run: ArchiveRun,
    selection: Selection,
    *,
    dry_run: bool = False,
    tick: Callable[[], object] = lambda: None,
    batch_rows: int = BATCH_ROWS,
) -> None:
    """Walk the stored submissions by id from the run's cursor, a page at a time, and queue the chosen
    ones (forced stages' current results are dropped in the same transaction, so they are recomputed);
    a dry run records what would be queued and why (the stale stages)."""
    if run.input_done:
        return
    named = sorted(set(selection.ids))
    after = run.cursor
    while True:
        with Session(engine) as session:
            if selection.all or selection.stale:
                page = finished_page(session, after, batch_rows)
                last = page[-1].id if page else None
            else:
                chunk = [i for i in named if i > after][:batch_rows]
                page = sorted(
                    session.exec(select(Submission).where(col(Submission.id).in_(chunk))).all(),
                    key=lambda s: s.id,
                )
                last = chunk[-1] if chunk else None
            cache: dict[str | None, dict[str, str]] = {}
            reasons = {
                s.id: stale_stages(session, s, settings, cache) if s.status in TERMINAL else [] for s in page
            }
        if last is None:
            break
        chosen = [s for s in page if selection.all or s.id in named or reasons[s.id]]
        _selection_batch(
            engine,
            run.id,
            chosen,
            last,
            reasons,
            selection.stages,
            dry_run,
            len(page) - len(chosen),
        )
        after = last
        tick()
    with session_scope(engine) as session:
        archive_runs.advance(session, run.id, after, input_done=True)
        if dry_run:
            archive_runs.finish(session, run.id)


def _selection_batch(
    engine: Engine,
    run_id: str,
    chosen: list[Submission],
    last: str,
    reasons: dict[str, list[str]],
    stages: tuple[str, ...],
    dry_run: bool,
    skipped: int,
) -> None:
    with session_scope(engine) as session:
        row = archive_runs.next_row(session, run_id)
        if not dry_run:  # forced stages are recomputed: their current results go, for the batch at once
            stage_results.drop(session, [s.id for s in chosen], stages)
        for offset, stale in enumerate(chosen):
            sub = session.get(Submission, stale.id)
            why = ",".join(reasons[sub.id] or ["named"] if not stages else [*stages])
            item = ArchiveRunItem(
                run_id=run_id,
                row=row + offset,
                row_key=sub.id,
                source=sub.id,
                submission_id=sub.id,
                outcome="valid",
                detail=why[:1000],
            )
            if not dry_run:
                item.outcome, item.job_id = "queued", jobs.queue_again(session, sub, Lane.archive).id
            session.add(item)
        archive_runs.advance(session, run_id, last, skipped=skipped)


# -- draining --------------------------------------------------------------------------------------------
def execute(
    settings: Settings,
    engine: Engine,
    run_id: str,
    enqueue: Callable[[Callable[[], object]], None],
    *,
    drain_here: bool,
    wait: bool = True,
    on_progress: OnProgress = lambda _: None,
    poll_s: float = 1.0,
) -> RunCounts:
    """Enqueue (``enqueue(tick)``) while a local runner drains the queue (``drain_here``) or runners
    elsewhere do; with ``wait``, watch the database until every queued row has ended, then mark the run
    finished. Stopping (Ctrl-C) releases the local runner's leases: the same command resumes."""
    stop = threading.Event()
    errors: list[BaseException] = []
    threads: list[threading.Thread] = []

    def work() -> None:
        try:
            JobRunner(settings, engine).run_forever(stop)
        except BaseException as exc:  # surfaced in the caller's thread
            errors.append(exc)

    def seen(c: RunCounts) -> None:
        if drain_here and not threads and c.remaining > 0:  # started once there is work (Ray costs ~5 s)
            threads.append(threading.Thread(target=work, name="archive-runner", daemon=True))
            threads[0].start()
        on_progress(c)

    progress = _Throttle(engine, run_id, seen)
    try:
        enqueue(progress)
        while True:
            c = progress(force=True)
            if c.complete or not wait:
                break
            if threads and not threads[0].is_alive():
                raise errors[0] if errors else RuntimeError("the local runner stopped")
            time.sleep(poll_s)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]
    if c.complete:
        with session_scope(engine) as session:
            archive_runs.finish(session, run_id)
    return c
