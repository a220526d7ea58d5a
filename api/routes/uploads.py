"""Resumable uploads of large files: parts straight to S3 by presigned URL (or through the API on
local storage), a listing of what arrived, and completion into a submission (``core.uploads``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlmodel import Session

from api.audit import origin_of
from api.deps import BodyLimitsDep, EngineDep, SettingsDep, StoreDep, Uploader, UploadSlotsDep
from api.errors import ApiError, responses
from api.form_stream import receive_into
from api.routes.submissions import IdempotencyKey, public
from core import idempotency, uploads
from core.access import visible_submission
from core.multipart import MAX_PARTS
from models.common import ID_PATTERN
from models.submissions import SubmissionPublic
from models.uploads import ReceivedPart, UploadComplete, UploadCreate, UploadPublic

router = APIRouter(prefix="/v1/uploads", tags=["uploads"])

UploadId = Annotated[str, Path(pattern=ID_PATTERN)]
PartNumber = Annotated[int, Path(ge=1, le=MAX_PARTS)]
CREATE_ENDPOINT = "POST /v1/uploads"


@router.post(
    "",
    status_code=201,
    response_model=UploadPublic,
    responses=responses(401, 403, 404, 409, 413, 422, 429),
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

    def remember(session: Session, result: UploadPublic) -> None:
        if claim is not None:
            idempotency.complete(session, claim, request_fp, 201, result.model_dump(mode="json"))

    try:
        return uploads.start(engine, store, settings, user, origin_of(request, user), body, remember)
    except BaseException:
        if claim is not None:
            idempotency.release(engine, claim)
        raise


@router.get("/{upload_id}", response_model=UploadPublic, responses=responses(401, 404, 410, 422))
def get_upload(
    upload_id: UploadId, user: Uploader, engine: EngineDep, settings: SettingsDep, store: StoreDep
) -> UploadPublic:
    """What arrived so far, and fresh URLs for the parts still missing (to resume)."""
    return uploads.status(engine, store, settings, user.user_id, upload_id)


@router.put(
    "/{upload_id}/parts/{number}",
    response_model=ReceivedPart,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
    responses=responses(401, 403, 404, 408, 409, 410, 422, 429, 503),
)
async def put_part(
    upload_id: UploadId,
    number: PartNumber,
    request: Request,
    user: Uploader,
    settings: SettingsDep,
    engine: EngineDep,
    store: StoreDep,
    slots: UploadSlotsDep,
    limits: BodyLimitsDep,
) -> ReceivedPart:
    """Send one part through the API (local storage; also accepted on S3)."""
    with slots.hold(user.user_id):
        sink = await run_in_threadpool(
            uploads.part_sink, engine, store, settings, user.user_id, upload_id, number
        )
        part = await receive_into(request, sink, limits)
    return await run_in_threadpool(uploads.part_received, engine, settings, upload_id, part)


@router.post(
    "/{upload_id}/complete",
    status_code=201,
    response_model=SubmissionPublic,
    responses=responses(401, 403, 404, 409, 410, 413, 422),
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
    confirmed = {p.number: p.etag for p in body.parts} if body else None
    origin = origin_of(request, user)
    submission_id = uploads.complete(engine, store, settings, user, origin, upload_id, confirmed)
    with Session(engine) as session:
        return public(visible_submission(session, user, submission_id))


@router.delete("/{upload_id}", response_model=UploadPublic, responses=responses(401, 403, 404, 409, 410, 422))
def abort_upload(
    upload_id: UploadId, user: Uploader, settings: SettingsDep, engine: EngineDep, store: StoreDep
) -> UploadPublic:
    """Abandon an open upload and drop the parts received."""
    return uploads.abort(engine, store, settings, user.user_id, upload_id)
