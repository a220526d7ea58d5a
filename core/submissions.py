"""Create submissions and (re)queue their screening jobs. Shared by the CLI, the API and batch runs."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session

from core.storage import BlobStore, BlobTooLarge
from models.tables import Submission, SubmissionStatus, Teacher
from workers import queue


class SubmissionConflict(ValueError):
    """A submission id was reused for a different file."""


def ensure_teacher(session: Session, teacher_id: str) -> Teacher:
    """The teacher row, created bare (not enrolled) when unknown."""
    teacher = session.get(Teacher, teacher_id)
    if teacher is None:
        teacher = Teacher(id=teacher_id)
        session.add(teacher)
        session.flush()
    return teacher


def submit_file(
    session: Session,
    store: BlobStore,
    path: Path,
    *,
    teacher_id: str | None = None,
    submission_id: str | None = None,
    max_bytes: int | None = None,
) -> Submission:
    """Store the file and queue its screening. Reusing ``submission_id`` with the same file re-runs it
    (stage results are reused); with another file it is a conflict. Only a regular file: a pipe
    or a device would block or never end (``ValueError``). A file over ``max_bytes`` is refused
    (``BlobTooLarge``, a ``file_too_large`` MediaError) before anything is copied."""
    key, size = store_file(store, path, max_bytes)
    sub = submit_blob(
        session,
        key=key,
        size=size,
        filename=path.name,
        teacher_id=teacher_id,
        submission_id=submission_id,
    )
    session.commit()
    session.refresh(sub)
    return sub


def store_file(store: BlobStore, path: Path, max_bytes: int | None = None) -> tuple[str, int]:
    """Store a regular file (``ValueError`` otherwise: a pipe or a device would block or never end);
    returns ``(key, size)``. Over ``max_bytes`` it is refused (``BlobTooLarge``) before anything is
    copied, and the cap holds even if the file grows meanwhile."""
    if not path.is_file():
        raise ValueError(f"{path} is not a regular file")
    if max_bytes is not None and path.stat().st_size > max_bytes:
        raise BlobTooLarge(max_bytes)
    with open(path, "rb") as f:
        return store.put_stream(f, max_bytes)


def submit_blob(
    session: Session,
    *,
    key: str,
    size: int,
    filename: str | None = None,
    teacher_id: str | None = None,
    submission_id: str | None = None,
) -> Submission:
    """Create (or re-queue) a submission of an already stored blob and queue its screening, in the
    caller's transaction (nothing is committed). Reusing ``submission_id`` with another blob is a
    ``SubmissionConflict``."""
    sha256 = key.removeprefix("sha256/")
    if teacher_id:
        ensure_teacher(session, teacher_id)
    sub = session.get(Submission, submission_id) if submission_id else None
    if sub is not None:
        if sub.sha256 != sha256:
            raise SubmissionConflict(f"submission {submission_id} holds a different file")
        sub.status = SubmissionStatus.queued
    else:
        kwargs = {"id": submission_id} if submission_id else {}
        sub = Submission(
            **kwargs,
            teacher_id=teacher_id,
            blob_key=key,
            sha256=sha256,
            size_bytes=size,
            filename=filename,
        )
    session.add(sub)
    session.flush()
    queue.enqueue(session, sub.id)
    return sub
