"""Resumable uploads of large files, as a state machine: ``open`` (parts arriving, straight to S3 by
presigned URL or through the API) → ``completing`` → ``completed`` (a submission), or ``aborted``."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from typing import BinaryIO

import sqlalchemy as sa
from sqlmodel import Session

from core.access import visible_teacher
from core.accounts import Principal
from core.audit import Origin, record
from core.db import session_scope
from core.errors import DomainError, NotFound
from core.multipart import Part, PartTooLarge, Staging, part_uploads
from core.settings import Settings
from core.storage import BlobStore
from core.submissions import check_resubmission, create_submission
from models.base import utcnow
from models.submissions import Submission
from models.uploads import ReceivedPart, Upload, UploadCreate, UploadPart, UploadPublic, UploadStatus


def part_bytes_for(settings: Settings, store: BlobStore, size: int) -> int:
    """The part size: the configured one, raised to the backend's minimum and to fit its part count."""
    backend = part_uploads(store)
    return max(settings.upload_part_bytes, backend.min_part_bytes, math.ceil(size / backend.max_parts))


def part_count(upload: Upload) -> int:
    return math.ceil(upload.size_bytes / upload.part_bytes)


def expected_size(upload: Upload, number: int) -> int:
    """The size part ``number`` must have."""
    count = part_count(upload)
    return upload.part_bytes if number < count else upload.size_bytes - (count - 1) * upload.part_bytes


def staging(upload: Upload) -> Staging:
    return Staging(upload.staging_key, upload.backend_upload_id)


def describe(upload: Upload, store: BlobStore, settings: Settings, received: list[Part]) -> UploadPublic:
    """The upload as its owner sees it, with where to send each part still missing."""
    have = {p.number for p in received}
    parts = []
    if upload.status == UploadStatus.open:
        backend = part_uploads(store)
        for n in range(1, part_count(upload) + 1):
            if n not in have:
                url = backend.part_url(staging(upload), n, settings.upload_url_expires_s)
                parts.append(
                    UploadPart(
                        number=n,
                        size=expected_size(upload, n),
                        url=url or f"/v1/uploads/{upload.id}/parts/{n}",
                    )
                )
    return UploadPublic(
        id=upload.id,
        status=upload.status,
        teacher_id=upload.teacher_id,
        size_bytes=upload.size_bytes,
        part_bytes=upload.part_bytes,
        part_count=part_count(upload),
        parts=parts,
        received=[ReceivedPart(number=p.number, size=p.size, etag=p.etag) for p in received],
        expires_at=upload.expires_at,
        submission_id=upload.submission_id,
    )


def own_upload(session: Session, user_id: str, upload_id: str) -> Upload:
    """The caller's own upload; ``NotFound`` for anyone else's."""
    upload = session.get(Upload, upload_id)
    if upload is None or upload.user_id != user_id:
        raise NotFound()
    return upload


def start(
    engine: sa.Engine,
    store: BlobStore,
    settings: Settings,
    actor: Principal,
    origin: Origin,
    body: UploadCreate,
    on_created: Callable[[Session, UploadPublic], None] = lambda *_: None,
) -> UploadPublic:
    """Open an upload for a teacher the caller may see; ``on_created`` runs in its transaction."""
    with Session(engine) as session:
        visible_teacher(session, actor, body.teacher_id)
        check_resubmission(session, body.teacher_id, body.resubmission_of)
    started = part_uploads(store).start()
    with session_scope(engine) as session:
        upload = Upload(
            user_id=actor.user_id,
            teacher_id=body.teacher_id,
            micro_capabilities=list(body.micro_capabilities),
            resubmission_of=body.resubmission_of,
            filename=body.filename,
            size_bytes=body.size_bytes,
            part_bytes=part_bytes_for(settings, store, body.size_bytes),
            staging_key=started.key,
            backend_upload_id=started.backend_id,
            created_at=utcnow(),
            expires_at=utcnow() + timedelta(seconds=settings.upload_url_expires_s),
        )
        session.add(upload)
        teacher = visible_teacher(session, actor, body.teacher_id)
        record(session, origin, "upload.start", "upload", upload.id, region=teacher.school_code)
        result = describe(upload, store, settings, [])
        on_created(session, result)
        return result


def status(
    session: Session, store: BlobStore, settings: Settings, user_id: str, upload_id: str
) -> UploadPublic:
    """What arrived so far, and fresh URLs for the parts still missing (to resume)."""
    upload = own_upload(session, user_id, upload_id)
    received = part_uploads(store).list_parts(staging(upload)) if upload.status == UploadStatus.open else []
    return describe(upload, store, settings, received)


def part_slot(engine: sa.Engine, user_id: str, upload_id: str, number: int) -> tuple[Upload, int]:
    """The open upload part ``number`` belongs to, and the size that part must have."""
    with Session(engine) as session:
        upload = own_upload(session, user_id, upload_id)
    if upload.status != UploadStatus.open:
        raise DomainError("upload_not_open")
    if number > part_count(upload):
        raise DomainError("invalid_request", f"this upload has {part_count(upload)} parts")
    return upload, expected_size(upload, number)


def store_part(store: BlobStore, upload: Upload, number: int, body: BinaryIO, size: int) -> ReceivedPart:
    """Store one part sent through the API; it must have exactly ``size`` bytes (``upload_incomplete``)."""
    try:
        part = part_uploads(store).put_part(staging(upload), number, body, size)
    except PartTooLarge:
        raise DomainError("upload_incomplete", {"part": number, "expected_size": size}) from None
    if part.size != size:
        raise DomainError("upload_incomplete", {"part": number, "expected_size": size, "size": part.size})
    return ReceivedPart(number=part.number, size=part.size, etag=part.etag)


def _check_parts(upload: Upload, received: list[Part]) -> None:
    count = part_count(upload)
    sizes = {p.number: p.size for p in received}
    missing = [n for n in range(1, count + 1) if n not in sizes]
    wrong = [n for n in range(1, count + 1) if n in sizes and sizes[n] != expected_size(upload, n)]
    extra = [n for n in sizes if n > count]
    if missing or wrong or extra:
        raise DomainError("upload_incomplete", {"missing": missing, "wrong_size": wrong, "unexpected": extra})


def _move(engine: sa.Engine, upload_id: str, old: UploadStatus, new: UploadStatus) -> bool:
    with session_scope(engine) as session:
        done = session.connection().execute(
            sa.update(Upload).where(Upload.id == upload_id, Upload.status == old).values(status=new)
        )
        return done.rowcount == 1


def complete(
    engine: sa.Engine,
    store: BlobStore,
    settings: Settings,
    actor: Principal,
    origin: Origin,
    upload_id: str,
    confirmed: dict[int, str] | None = None,
) -> str:
    """Join the parts into the stored file and create the submission; returns its id (again the same
    one when the upload was completed before). ``confirmed`` maps part numbers to the ETags the
    client got back."""
    with Session(engine) as session:
        upload = own_upload(session, actor.user_id, upload_id)
    if upload.status == UploadStatus.completed and upload.submission_id:
        return upload.submission_id
    if upload.status == UploadStatus.completing:
        raise DomainError("idempotency_conflict")
    if upload.status != UploadStatus.open:
        raise DomainError("upload_not_open")
    backend = part_uploads(store)
    received = backend.list_parts(staging(upload), confirmed)
    _check_parts(upload, received)
    if not _move(engine, upload.id, UploadStatus.open, UploadStatus.completing):
        raise DomainError("idempotency_conflict")
    try:
        key, size = backend.complete(staging(upload), received, settings.max_upload_bytes)
        with session_scope(engine) as session:
            sub: Submission = create_submission(
                session,
                key=key,
                size=size,
                filename=upload.filename,
                teacher_id=upload.teacher_id,
                micro_capabilities=upload.micro_capabilities,
                resubmission_of=upload.resubmission_of,
                actor=actor,
                origin=origin,
            )
            row = session.get(Upload, upload.id)
            row.status, row.submission_id = UploadStatus.completed, sub.id
            session.add(row)
            return sub.id
    except BaseException:
        _move(engine, upload.id, UploadStatus.completing, UploadStatus.aborted)
        raise


def abort(
    engine: sa.Engine, store: BlobStore, settings: Settings, user_id: str, upload_id: str
) -> UploadPublic:
    """Abandon an open upload and drop the parts received."""
    with Session(engine) as session:
        upload = own_upload(session, user_id, upload_id)
    if not _move(engine, upload.id, UploadStatus.open, UploadStatus.aborted):
        raise DomainError("upload_not_open")
    part_uploads(store).abort(staging(upload))
    upload.status = UploadStatus.aborted
    return describe(upload, store, settings, [])
