"""Resumable uploads of large files, as a state machine: ``open`` (parts arriving, straight to S3 by
presigned URL or through the API) → ``completing`` → ``completed`` (a submission), or ``aborted``, or
``expired``: no new part for ``upload_idle_hours``, or open for ``upload_max_days`` (a slow link that
keeps sending never expires mid-way before the total limit). An expired upload's parts are dropped
and every call on it is ``upload_expired``."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core import quotas
from core.access import visible_teacher
from core.accounts import Principal
from core.audit import Origin, record
from core.db import session_scope
from core.errors import DomainError, LimitReached, NotFound
from core.multipart import Part, PartSink, PartTooLarge, Staging, part_uploads
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


def expiry(settings: Settings, created_at: datetime, last_part_at: datetime) -> datetime:
    """When an upload expires: ``upload_idle_hours`` after its last part (or its start), and never
    later than ``upload_max_days`` after its start."""
    return min(
        created_at + timedelta(days=settings.upload_max_days),
        last_part_at + timedelta(hours=settings.upload_idle_hours),
    )


def check_live(
    engine: sa.Engine, store: BlobStore, settings: Settings, upload: Upload, now: datetime | None = None
) -> Upload:
    """The upload, unless it expired: then it is marked ``expired``, its parts are dropped and
    ``upload_expired`` is raised. Parts sent straight to storage (presigned URLs) move the deadline
    on: they are looked up once the recorded one has passed."""
    now = now or utcnow()
    if upload.status == UploadStatus.expired:
        raise DomainError("upload_expired")
    if upload.status != UploadStatus.open or now < upload.expires_at:
        return upload
    received = part_uploads(store).list_parts(staging(upload))
    latest = max((p.at for p in received if p.at is not None), default=upload.created_at)
    deadline = expiry(settings, upload.created_at, max(latest, upload.created_at))
    if now < deadline:
        _set_expiry(engine, upload.id, deadline)
        upload.expires_at = deadline
        return upload
    if _move(engine, upload.id, UploadStatus.open, UploadStatus.expired):
        part_uploads(store).abort(staging(upload))
        raise DomainError("upload_expired")
    with Session(engine) as session:  # completed, aborted or expired meanwhile
        return check_live(engine, store, settings, session.get(Upload, upload.id), now)


def _set_expiry(engine: sa.Engine, upload_id: str, deadline: datetime) -> None:
    with session_scope(engine) as session:
        session.connection().execute(
            sa.update(Upload)
            .where(Upload.id == upload_id, Upload.status == UploadStatus.open)
            .values(expires_at=deadline)
        )


def expire_due(engine: sa.Engine, store: BlobStore, settings: Settings, now: datetime) -> int:
    """Expire every open upload past its deadline (parts sent meanwhile move it on); returns how
    many expired."""
    with Session(engine) as session:
        due = session.exec(
            select(Upload).where(Upload.status == UploadStatus.open, col(Upload.expires_at) <= now)
        ).all()
    expired = 0
    for upload in due:
        try:
            check_live(engine, store, settings, upload, now)
        except DomainError:
            expired += 1
    return expired


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
    """Open an upload for a teacher the caller may see, within the caller's quotas (checked first, and
    again under ``quotas.lock`` with the insert); ``on_created`` runs in its transaction."""
    now = utcnow()

    def check_quotas(session: Session) -> None:
        quotas.check_open_uploads(session, settings, actor.user_id, now)
        quotas.check_teacher_day(session, settings, body.teacher_id, body.size_bytes, now)

    with Session(engine) as session:
        visible_teacher(session, actor, body.teacher_id)
        check_resubmission(session, body.teacher_id, body.resubmission_of)
        check_quotas(session)
    started = part_uploads(store).start()
    try:
        with session_scope(engine) as session:
            quotas.lock(session, body.teacher_id, actor.user_id)
            check_quotas(session)  # again, under the lock: concurrent requests cannot all pass
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
                created_at=now,
                expires_at=expiry(settings, now, now),
            )
            session.add(upload)
            teacher = visible_teacher(session, actor, body.teacher_id)
            record(session, origin, "upload.start", "upload", upload.id, region=teacher.school_code)
            result = describe(upload, store, settings, [])
            on_created(session, result)
            return result
    except LimitReached:  # a concurrent request took the room meanwhile
        part_uploads(store).abort(started)
        raise


def _own_live(
    engine: sa.Engine, store: BlobStore, settings: Settings, user_id: str, upload_id: str
) -> Upload:
    with Session(engine) as session:
        upload = own_upload(session, user_id, upload_id)
    return check_live(engine, store, settings, upload)


def status(
    engine: sa.Engine, store: BlobStore, settings: Settings, user_id: str, upload_id: str
) -> UploadPublic:
    """What arrived so far, and fresh URLs for the parts still missing (to resume)."""
    upload = _own_live(engine, store, settings, user_id, upload_id)
    received = part_uploads(store).list_parts(staging(upload)) if upload.status == UploadStatus.open else []
    return describe(upload, store, settings, received)


def part_sink(
    engine: sa.Engine, store: BlobStore, settings: Settings, user_id: str, upload_id: str, number: int
) -> PartSink:
    """Where part ``number`` of the caller's open upload is written (it must have the part's size)."""
    upload = _own_live(engine, store, settings, user_id, upload_id)
    if upload.status != UploadStatus.open:
        raise DomainError("upload_not_open")
    if number > part_count(upload):
        raise DomainError("invalid_request", f"this upload has {part_count(upload)} parts")
    size = expected_size(upload, number)
    return _SizedPart(part_uploads(store).part_sink(staging(upload), number, size), size)


class _SizedPart:
    """A part sink that refuses a part of the wrong size (``upload_incomplete``)."""

    def __init__(self, sink: PartSink, size: int):
        self.sink, self.size = sink, size

    def write(self, chunk: bytes) -> None:
        try:
            self.sink.write(chunk)
        except PartTooLarge:
            raise DomainError(
                "upload_incomplete", {"part": self.sink.number, "expected_size": self.size}
            ) from None

    def commit(self) -> Part:
        if self.sink.size != self.size:
            detail = {"part": self.sink.number, "expected_size": self.size, "size": self.sink.size}
            raise DomainError("upload_incomplete", detail)
        return self.sink.commit()

    def discard(self) -> None:
        self.sink.discard()


def part_received(engine: sa.Engine, settings: Settings, upload_id: str, part: Part) -> ReceivedPart:
    """Record that a part arrived through the API: the upload's idle deadline moves on."""
    with Session(engine) as session:
        upload = session.get(Upload, upload_id)
    if upload is not None:
        _set_expiry(engine, upload_id, expiry(settings, upload.created_at, utcnow()))
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
    upload = _own_live(engine, store, settings, actor.user_id, upload_id)
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
    upload = _own_live(engine, store, settings, user_id, upload_id)
    if not _move(engine, upload.id, UploadStatus.open, UploadStatus.aborted):
        raise DomainError("upload_not_open")
    part_uploads(store).abort(staging(upload))
    upload.status = UploadStatus.aborted
    return describe(upload, store, settings, [])
