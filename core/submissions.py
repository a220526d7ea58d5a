"""Creating submissions and queueing their screening: the one path for the API, resumable uploads, the
CLI and batch runs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlmodel import Session

from core import jobs
from core.access import visible_teacher
from core.accounts import Principal
from core.audit import Origin, record
from core.errors import DomainError
from core.storage import BlobStore, BlobTooLarge
from models.jobs import Lane
from models.submissions import Submission, SubmissionMeta, SubmissionStatus
from models.teachers import Teacher


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


def check_resubmission(session: Session, teacher_id: str | None, resubmission_of: str | None) -> None:
    """A resubmission names an earlier submission of the same teacher (``invalid_resubmission``)."""
    if resubmission_of is None:
        return
    earlier = session.get(Submission, resubmission_of)
    if earlier is None or earlier.teacher_id != teacher_id:
        raise DomainError("invalid_resubmission")


def create_submission(
    session: Session,
    *,
    key: str,
    size: int,
    filename: str | None = None,
    teacher_id: str | None = None,
    micro_capabilities: Sequence[str] = (),
    resubmission_of: str | None = None,
    actor: Principal | None = None,
    origin: Origin | None = None,
    submission_id: str | None = None,
    lane: Lane | None = Lane.interactive,
) -> Submission:
    """Create a submission of an already stored blob, with its metadata, and queue its screening in
    ``lane`` (None: the caller queues it), in the caller's transaction (nothing is committed).

    ``actor`` (an API caller) must be able to see the teacher (else ``NotFound``) and is recorded as
    the uploader; ``origin`` is audited. Reusing ``submission_id`` with the same blob queues it again
    (stage results are reused); with another blob it is a ``SubmissionConflict``.
    """
    teacher = None
    if teacher_id is not None and actor is not None:
        teacher = visible_teacher(session, actor, teacher_id)
    elif teacher_id is not None:
        teacher = ensure_teacher(session, teacher_id)
    check_resubmission(session, teacher_id, resubmission_of)
    sha256 = key.removeprefix("sha256/")
    sub = session.get(Submission, submission_id) if submission_id else None
    if sub is not None:
        if sub.sha256 != sha256:
            raise SubmissionConflict(f"submission {submission_id} holds a different file")
        sub.status = SubmissionStatus.queued
    else:
        kwargs = {"id": submission_id} if submission_id else {}
        sub = Submission(
            **kwargs, teacher_id=teacher_id, blob_key=key, sha256=sha256, size_bytes=size, filename=filename
        )
    session.add(sub)
    session.flush()
    if session.get(SubmissionMeta, sub.id) is None:
        session.add(
            SubmissionMeta(
                submission_id=sub.id,
                micro_capabilities=list(micro_capabilities),
                resubmission_of=resubmission_of,
                uploaded_by=actor.user_id if actor else None,
            )
        )
    if origin is not None:
        region = teacher.school_code if teacher else None
        detail = {"sha256": sha256, "size_bytes": size}
        record(session, origin, "submission.create", "submission", sub.id, region=region, detail=detail)
    if lane is not None:
        jobs.enqueue(session, sub.id, lane)
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


def submit_file(
    session: Session,
    store: BlobStore,
    path: Path,
    *,
    teacher_id: str | None = None,
    submission_id: str | None = None,
    max_bytes: int | None = None,
    origin: Origin | None = None,
) -> Submission:
    """Store a local file and queue its screening, committed (``store_file``'s refusals apply)."""
    key, size = store_file(store, path, max_bytes)
    sub = create_submission(
        session,
        key=key,
        size=size,
        filename=path.name,
        teacher_id=teacher_id,
        submission_id=submission_id,
        origin=origin,
    )
    session.commit()
    session.refresh(sub)
    return sub
