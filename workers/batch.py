"""Batch runs over archives: ingest many files, re-queue stale submissions, drain the queue."""

from __future__ import annotations

import csv
import hashlib
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core import jobs
from core.audit import Origin
from core.db import session_scope
from core.settings import Settings
from core.storage import BlobStore
from core.submissions import create_submission, store_file
from models.jobs import Lane
from models.submissions import Submission, SubmissionStatus
from pipeline.dedup import VERSION as DEDUP_VERSION
from pipeline.errors import MediaError
from workers.analysers import plan_for
from workers.runner import JobRunner

VIDEO_SUFFIXES = frozenset(
    ".mp4 .m4v .mov .qt .3gp .3g2 .mkv .webm .avi .flv .f4v .ts .mts .m2ts .mpg .mpeg .wmv .asf".split()
)
TERMINAL = (SubmissionStatus.screened, SubmissionStatus.rejected, SubmissionStatus.failed)


def find_videos(roots: Iterable[Path], *, any_extension: bool = False) -> list[Path]:
    """Files under ``roots`` (files or folders), sorted; by video extension unless ``any_extension``
    (validation rejects non-videos with a clear code either way)."""
    found: set[Path] = set()
    for root in roots:
        candidates = [root] if root.is_file() else (p for p in root.rglob("*") if p.is_file())
        for path in candidates:
            if path.name.startswith("."):
                continue
            if any_extension or path.suffix.lower() in VIDEO_SUFFIXES:
                found.add(path.resolve())
    return sorted(found)


def read_teacher_manifest(path: Path) -> dict[Path, str]:
    """A CSV with columns ``file,teacher_id`` (file paths relative to the CSV's folder or absolute)."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        rows = csv.DictReader(fh)
        if not rows.fieldnames or not {"file", "teacher_id"} <= set(rows.fieldnames):
            raise ValueError(f"{path}: expected the columns file,teacher_id")
        return {(path.parent / row["file"]).resolve(): row["teacher_id"].strip() for row in rows}


@dataclass(frozen=True)
class NotIngested:
    """A file of the archive that could not become a submission, and why."""

    path: Path
    code: str  # file_too_large, or unreadable (vanished, no permission, not a regular file)
    message: str


def archive_submission_id(source: Path | str, key: str, teacher_id: str | None) -> str:
    """The submission id of an archive file (a local path, or an ``s3://`` URL): the same file, content
    and teacher always map to the same submission, so running an archive again resumes it."""
    where = source.resolve() if isinstance(source, Path) else source
    digest = hashlib.sha256(f"{where}\0{key}\0{teacher_id or ''}".encode()).hexdigest()
    return f"sub_{digest[:20]}"


def ingest(
    engine: Engine,
    store: BlobStore,
    files: Iterable[Path],
    teacher_for: Callable[[Path], str | None],
    on_each: Callable[[Path], None] = lambda _: None,
    *,
    max_bytes: int | None = None,
    origin: Origin | None = None,
) -> tuple[list[str], list[NotIngested]]:
    """Store and queue each file as a submission; returns the submission ids in order and the files
    that could not be taken in (the rest of the archive goes on). A file already ingested by an
    earlier run of the same archive keeps its submission and results. ``origin`` (default: the
    operating-system user) is audited as the creator."""
    origin = origin or Origin.cli()
    ids: list[str] = []
    refused: list[NotIngested] = []
    for path in files:
        try:
            ids.append(_ingest_one(engine, store, path, teacher_for(path), max_bytes, origin))
        except MediaError as exc:
            refused.append(NotIngested(path, exc.code, exc.message))
        except (OSError, ValueError) as exc:
            refused.append(NotIngested(path, "unreadable", getattr(exc, "strerror", None) or str(exc)))
        on_each(path)
    return ids, refused


def _ingest_one(
    engine: Engine,
    store: BlobStore,
    path: Path,
    teacher_id: str | None,
    max_bytes: int | None,
    origin: Origin,
) -> str:
    key, size = store_file(store, path, max_bytes)
    sub_id = archive_submission_id(path, key, teacher_id)
    with Session(engine) as session:
        if session.get(Submission, sub_id) is None:
            create_submission(
                session,
                key=key,
                size=size,
                filename=path.name,
                teacher_id=teacher_id,
                submission_id=sub_id,
                origin=origin,
                lane=Lane.archive,
            )
            session.commit()
    return sub_id


def stale_stages(
    session: Session, sub: Submission, settings: Settings, cache: dict[str | None, dict[str, str]]
) -> list[str]:
    """The stages of a finished submission whose stored results are not at the current versions
    (``["failed"]`` for a failed one). ``cache`` keeps each teacher's versions (one gallery read)."""
    if sub.status == SubmissionStatus.failed:
        return ["failed"]
    if sub.teacher_id not in cache:
        cache[sub.teacher_id] = plan_for(session, sub, settings).all_versions()
    current = cache[sub.teacher_id]
    if sub.status == SubmissionStatus.rejected:
        current = {"validate": current["validate"]}
    else:  # matched against the duplicate index of this version
        current = {**current, "duplicates": DEDUP_VERSION}
    stored = (sub.report or {}).get("versions", {})
    return [stage for stage, version in current.items() if stored.get(stage) != version]


def stale_submissions(
    engine: Engine, settings: Settings, *, include_failed: bool = True, page: int = 500
) -> Iterator[str]:
    """Finished submissions whose stored results are not at the current stage versions (a new model,
    a changed setting, a new enrolment), plus failed ones when ``include_failed``. Reads the archive
    ``page`` submissions at a time (by id), so memory stays flat however large it is."""
    after = ""
    while True:
        stale: list[str] = []
        with Session(engine) as session:
            subs = finished_page(session, after, page)
            cache: dict[str | None, dict[str, str]] = {}  # a teacher's versions, once per page
            for sub in subs:
                reasons = stale_stages(session, sub, settings, cache)
                if reasons and (include_failed or reasons != ["failed"]):
                    stale.append(sub.id)
        yield from stale
        if len(subs) < page:
            return
        after = subs[-1].id


def finished_page(session: Session, after: str, page: int) -> list[Submission]:
    """Up to ``page`` finished submissions with ids after ``after``, by id."""
    return list(
        session.exec(
            select(Submission)
            .where(col(Submission.status).in_(TERMINAL), col(Submission.id) > after)
            .order_by(col(Submission.id))
            .limit(page)
        ).all()
    )


def requeue(engine: Engine, submission_ids: Iterable[str]) -> int:
    """Queue the submissions again (idempotent: an active job is reused), recording each change in
    the outbox as the API's reprocess does; all or nothing (``KeyError`` for an unknown id)."""
    count = 0
    with session_scope(engine) as session:
        for submission_id in submission_ids:
            sub = session.get(Submission, submission_id)
            if sub is None:
                raise KeyError(submission_id)
            jobs.queue_again(session, sub, Lane.archive)
            count += 1
    return count


def drain(
    settings: Settings,
    engine: Engine,
    watch: list[str],
    on_progress: Callable[[int], None] = lambda _: None,
    poll_s: float = 0.5,
) -> Counter:
    """Process the queue until nothing is left, reporting how many of ``watch`` have finished."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            JobRunner(settings, engine).run_forever(stop, exit_when_idle=True)
        except BaseException as exc:  # surfaced in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=work, name="batch-runner", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(poll_s)
            on_progress(sum(outcomes(engine, watch).values()))
    finally:
        stop.set()
        thread.join()
    if errors:
        raise errors[0]
    return outcomes(engine, watch)


def outcomes(engine: Engine, submission_ids: list[str]) -> Counter:
    """Terminal outcomes of these submissions: ``screened:<presence verdict>``, ``rejected:<code>``,
    ``failed``."""
    counts: Counter = Counter()
    with Session(engine) as session:
        for chunk in (submission_ids[i : i + 500] for i in range(0, len(submission_ids), 500)):
            rows = session.exec(
                select(Submission.status, Submission.error_code, Submission.report).where(
                    col(Submission.id).in_(chunk), col(Submission.status).in_(TERMINAL)
                )
            ).all()
            for status, code, report in rows:
                if status == SubmissionStatus.screened:
                    verdict = ((report or {}).get("presence") or {}).get("verdict", "unknown")
                    counts[f"screened:{verdict}"] += 1
                elif status == SubmissionStatus.rejected:
                    counts[f"rejected:{code}"] += 1
                else:
                    counts["failed"] += 1
    return counts


def missing_submissions(engine: Engine, submission_ids: Iterable[str]) -> list[str]:
    """The ids among these that name no submission."""
    ids = list(submission_ids)
    with Session(engine) as session:
        found = (
            set(session.exec(select(Submission.id).where(col(Submission.id).in_(ids))).all())
            if ids
            else set()
        )
    return [i for i in ids if i not in found]
