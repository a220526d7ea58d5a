"""Resumable uploads of large files: parts straight to S3 by presigned URL (or through the API on
local storage), a listing of what arrived, and completion into a submission."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlmodel import Session

from api import idempotency
from api.access import visible_submission, visible_teacher
from api.audit import audit
from api.auth import Principal
from api.deps import EngineDep, SessionDep, SettingsDep, StoreDep, Uploader
from api.errors import ApiError, responses
from api.form_stream import receive_body
from api.routes.submissions import IdempotencyKey, check_resubmission, create_from_blob, public
from core.db import session_scope
from core.multipart import MAX_PARTS, MIN_PART_BYTES, Part, PartTooLarge, Staging, part_uploads
from core.settings import Settings
from core.storage import BlobStore
from core.storage_s3 import S3BlobStore
from models.schemas import (
    ID_PATTERN,
    ReceivedPart,
    SubmissionPublic,
    UploadComplete,
    UploadCreate,
    UploadPart,
    UploadPublic,
)
from models.tables import utcnow
from models.uploads import Upload, UploadStatus

router = APIRouter(prefix="/v1/uploads", tags=["uploads"])

UploadId = Annotated[str, Path(pattern=ID_PATTERN)]
PartNumber = Annotated[int, Path(ge=1, le=MAX_PARTS)]
CREATE_ENDPOINT = "POST /v1/uploads"


def part_bytes_for(settings: Settings, store: BlobStore, size: int) -> int:
    """The part size: the configured one, raised to fit ``MAX_PARTS`` (and S3's 5 MiB minimum)."""
    floor = MIN_PART_BYTES if isinstance(store, S3BlobStore) else 1
    return max(settings.upload_part_bytes, floor, math.ceil(size / MAX_PARTS))


def expected_size(upload: Upload, number: int) -> int:
    """The size part ``number`` must have."""
    count = math.ceil(upload.size_bytes / upload.part_bytes)
    return upload.part_bytes if number < count else upload.size_bytes - (count - 1) * upload.part_bytes


def _staging(upload: Upload) -> Staging:
    return Staging(upload.staging_key, upload.backend_upload_id)


def _public(upload: Upload, store: BlobStore, settings: Settings, received: list[Part]) -> UploadPublic:
    count = math.ceil(upload.size_bytes / upload.part_bytes)
    have = {p.number for p in received}
    parts = []
    if upload.status == UploadStatus.open:
        uploads = part_uploads(store)
        for n in range(1, count + 1):
            if n not in have:
                url = uploads.part_url(_staging(upload), n, settings.upload_url_expires_s)
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
        part_count=count,
        parts=parts,
        received=[ReceivedPart(number=p.number, size=p.size, etag=p.etag) for p in received],
        expires_at=upload.expires_at,
        submission_id=upload.submission_id,
    )


def _own_upload(session: Session, user: Principal, upload_id: str) -> Upload:
    upload = session.get(Upload, upload_id)
    if upload is None or upload.user_id != user.user_id:
        raise ApiError(404, "not_found")
    return upload


@router.post(
    "", status_code=201, response_model=UploadPublic, responses=responses(401, 403, 404, 409, 413, 422)
)
def start_upload(
    body: UploadCreate,
    request: Request,
    user: Uploader,
    settings: SettingsDep,
    engine: EngineDep,
    store: StoreDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Start a resumable upload: PUT each part to its URL, then ``POST /v1/uploads/{id}/complete``."""
    if body.size_bytes > settings.max_upload_bytes:
        raise ApiError(422, "file_too_large", f"at most {settings.max_upload_bytes} bytes")
    request_fp = idempotency.fingerprint(CREATE_ENDPOINT, body.model_dump(mode="json"))
    claim = None
    if idempotency_key is not None:
        claim = idempotency.claim(
            engine, user.user_id, idempotency_key, CREATE_ENDPOINT, settings.idempotency_inflight_s
        )
        if (replay := idempotency.check_replay(claim, request_fp)) is not None:
            return JSONResponse(replay[1], status_code=replay[0], headers={"Idempotent-Replayed": "true"})
    try:
        with session_scope(engine) as session:
            visible_teacher(session, user, body.teacher_id)
            check_resubmission(session, body.teacher_id, body.resubmission_of)
        staging = part_uploads(store).start()
        with session_scope(engine) as session:
            upload = Upload(
                user_id=user.user_id,
                teacher_id=body.teacher_id,
                micro_capabilities=list(body.micro_capabilities),
                resubmission_of=body.resubmission_of,
                filename=body.filename,
                size_bytes=body.size_bytes,
                part_bytes=part_bytes_for(settings, store, body.size_bytes),
                staging_key=staging.key,
                backend_upload_id=staging.backend_id,
                created_at=utcnow(),
                expires_at=utcnow() + timedelta(seconds=settings.upload_url_expires_s),
            )
            session.add(upload)
            teacher = visible_teacher(session, user, body.teacher_id)
            audit(session, request, user, "upload.start", "upload", upload.id, region=teacher.school_code)
            result = _public(upload, store, settings, [])
            if claim is not None:
                idempotency.complete(session, claim, request_fp, 201, result.model_dump(mode="json"))
            return result
    except BaseException:
        if claim is not None:
            idempotency.release(engine, claim)
        raise


@router.get("/{upload_id}", response_model=UploadPublic, responses=responses(401, 404, 422))
def get_upload(
    upload_id: UploadId, user: Uploader, session: SessionDep, settings: SettingsDep, store: StoreDep
) -> UploadPublic:
    """What arrived so far, and fresh URLs for the parts still missing (to resume)."""
    upload = _own_upload(session, user, upload_id)
    received = part_uploads(store).list_parts(_staging(upload)) if upload.status == UploadStatus.open else []
    return _public(upload, store, settings, received)


@router.put(
    "/{upload_id}/parts/{number}",
    response_model=ReceivedPart,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    responses=responses(401, 403, 404, 409, 422),
)
async def put_part(
    upload_id: UploadId,
    number: PartNumber,
    request: Request,
    user: Uploader,
    engine: EngineDep,
    store: StoreDep,
) -> ReceivedPart:
    """Send one part through the API (local storage; also accepted on S3)."""

    def load() -> Upload:
        with Session(engine) as session:
            return _own_upload(session, user, upload_id)

    upload = await run_in_threadpool(load)
    if upload.status != UploadStatus.open:
        raise ApiError(409, "upload_not_open")
    if number > math.ceil(upload.size_bytes / upload.part_bytes):
        raise ApiError(
            422,
            "invalid_request",
            f"this upload has {math.ceil(upload.size_bytes / upload.part_bytes)} parts",
        )
    want = expected_size(upload, number)
    try:
        part = await receive_body(
            request, lambda body: part_uploads(store).put_part(_staging(upload), number, body, want)
        )
    except PartTooLarge:
        raise ApiError(422, "upload_incomplete", {"part": number, "expected_size": want}) from None
    if part.size != want:
        raise ApiError(422, "upload_incomplete", {"part": number, "expected_size": want, "size": part.size})
    return ReceivedPart(number=part.number, size=part.size, etag=part.etag)


def _check_parts(upload: Upload, received: list[Part]) -> None:
    count = math.ceil(upload.size_bytes / upload.part_bytes)
    sizes = {p.number: p.size for p in received}
    missing = [n for n in range(1, count + 1) if n not in sizes]
    wrong = [n for n in range(1, count + 1) if n in sizes and sizes[n] != expected_size(upload, n)]
    extra = [n for n in sizes if n > count]
    if missing or wrong or extra:
        raise ApiError(
            422, "upload_incomplete", {"missing": missing, "wrong_size": wrong, "unexpected": extra}
        )


def _set_status(engine: sa.Engine, upload_id: str, old: UploadStatus, new: UploadStatus) -> bool:
    with session_scope(engine) as session:
        done = session.connection().execute(
            sa.update(Upload).where(Upload.id == upload_id, Upload.status == old).values(status=new)
        )
        return done.rowcount == 1


@router.post(
    "/{upload_id}/complete",
    status_code=201,
    response_model=SubmissionPublic,
    responses=responses(401, 403, 404, 409, 413, 422),
)
def complete_upload(
    upload_id: UploadId,
    request: Request,
    user: Uploader,
    settings: SettingsDep,
    engine: EngineDep,
    store: StoreDep,
    body: UploadComplete | None = None,
) -> SubmissionPublic:
    """Join the parts into the stored file and create the submission (again: the same submission)."""
    with Session(engine) as session:
        upload = _own_upload(session, user, upload_id)
        if upload.status == UploadStatus.completed and upload.submission_id:
            return public(visible_submission(session, user, upload.submission_id))
    if upload.status == UploadStatus.completing:
        raise ApiError(409, "idempotency_conflict")
    if upload.status != UploadStatus.open:
        raise ApiError(409, "upload_not_open")
    uploads = part_uploads(store)
    confirmed = {p.number: p.etag for p in body.parts} if body else None
    received = uploads.list_parts(_staging(upload), confirmed)
    _check_parts(upload, received)
    if not _set_status(engine, upload.id, UploadStatus.open, UploadStatus.completing):
        raise ApiError(409, "idempotency_conflict")
    try:
        key, size = uploads.complete(_staging(upload), received, settings.max_upload_bytes)
        with session_scope(engine) as session:
            created = create_from_blob(
                session,
                request,
                user,
                key=key,
                size=size,
                filename=upload.filename,
                teacher_id=upload.teacher_id,
                micro_capabilities=list(upload.micro_capabilities),
                resubmission_of=upload.resubmission_of,
            )
            row = session.get(Upload, upload.id)
            row.status, row.submission_id = UploadStatus.completed, created.id
            session.add(row)
            return created
    except BaseException:
        _set_status(engine, upload.id, UploadStatus.completing, UploadStatus.aborted)
        raise


@router.delete("/{upload_id}", response_model=UploadPublic, responses=responses(401, 403, 404, 409, 422))
def abort_upload(
    upload_id: UploadId, user: Uploader, settings: SettingsDep, engine: EngineDep, store: StoreDep
) -> UploadPublic:
    """Abandon an open upload and drop the parts received."""
    with Session(engine) as session:
        upload = _own_upload(session, user, upload_id)
    if not _set_status(engine, upload.id, UploadStatus.open, UploadStatus.aborted):
        raise ApiError(409, "upload_not_open")
    part_uploads(store).abort(_staging(upload))
    upload.status = UploadStatus.aborted
    return _public(upload, store, settings, [])
