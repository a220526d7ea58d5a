"""Submissions: streamed creation (with ``Idempotency-Key``), reports, media and reprocessing."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlmodel import Session

from api.audit import audit, audit_read, origin_of
from api.deps import (
    Admin,
    BodyLimitsDep,
    CurrentUser,
    EngineDep,
    SessionDep,
    SettingsDep,
    StoreDep,
    Uploader,
    UploadSlotsDep,
)
from api.errors import ApiError, responses
from api.form_stream import BodyLimits, receive_form
from api.media import blob_response
from core import idempotency, jobs, overall, quotas, redaction, submissions
from core.access import Visible, administered_submission, visible_submission, visible_teacher
from core.accounts import Principal
from core.db import session_scope
from core.storage import key_for_digest
from models.base import utcnow
from models.common import ID_PATTERN
from models.submissions import (
    CODE_PATTERN,
    CODES_PATTERN,
    DuplicatesPublic,
    KeyframesPublic,
    ReprocessPublic,
    SubmissionLinks,
    SubmissionPublic,
    parse_micro_capabilities,
)

router = APIRouter(prefix="/v1/submissions", tags=["submissions"])

SubmissionId = Annotated[str, Path(pattern=ID_PATTERN)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", pattern=idempotency.KEY_PATTERN)]
FORM_FIELDS = {"teacher_id", "micro_capabilities", "resubmission_of"}
CREATE_ENDPOINT = "POST /v1/submissions"
FORM_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["file", "teacher_id", "micro_capabilities"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "minLength": 1},
                        "teacher_id": {"type": "string", "pattern": ID_PATTERN},
                        "micro_capabilities": {
                            "description": "Codes from A1–A13, B1–B10, C1–C7 (1 to 30): repeat the field "
                            "with one code each, or send one comma-separated value",
                            "anyOf": [
                                {
                                    "type": "array",
                                    "items": {"type": "string", "pattern": CODE_PATTERN},
                                    "minItems": 1,
                                    "maxItems": 30,
                                },
                                {"type": "string", "pattern": CODES_PATTERN},
                            ],
                        },
                        "resubmission_of": {"type": "string", "maxLength": 64},
                    },
                }
            }
        },
    }
}


def public(found: Visible) -> SubmissionPublic:
    """The submission as the caller sees it."""
    sub, meta = found.submission, found.meta
    base = f"/v1/submissions/{sub.id}"
    return SubmissionPublic(
        id=sub.id,
        teacher_id=sub.teacher_id,
        status=sub.status,
        overall=overall.overall_of(sub.status.value, sub.report),
        duplicate=overall.is_duplicate(sub.report),
        micro_capabilities=list(meta.micro_capabilities) if meta else [],
        resubmission_of=meta.resubmission_of if meta else None,
        filename=sub.filename,
        size_bytes=sub.size_bytes,
        sha256=sub.sha256,
        created_at=sub.created_at,
        updated_at=sub.updated_at,
        report=_report(found),
        duplicates_hidden=len(found.hidden_matches),
        links=SubmissionLinks(
            self=base,
            rendition=f"{base}/rendition",
            keyframes=f"{base}/keyframes",
            contact_sheet=f"{base}/contact-sheet",
            duplicates=f"{base}/duplicates",
        ),
    )


def _report(found: Visible) -> dict[str, Any] | None:
    """The caller's view of the report (``core.redaction``)."""
    sub = found.submission
    return redaction.visible_report(
        sub.report, sub.id, teacher_view=found.teacher_view, hidden=found.hidden_matches
    )


def _single(fields: dict[str, list[str]], name: str, required: bool) -> str | None:
    values = fields.get(name, [])
    if len(values) > 1:
        raise ApiError(422, "invalid_request", f"send {name} once")
    if not values and required:
        raise ApiError(422, "invalid_request", [{"loc": ["body", name], "msg": "Field required"}])
    return values[0] if values else None


@router.post(
    "",
    status_code=201,
    response_model=SubmissionPublic,
    openapi_extra=FORM_SCHEMA,
    responses=responses(401, 403, 404, 408, 409, 413, 422, 429, 503),
    summary="Upload a lesson recording (multipart, streamed to storage)",
)
async def create_submission(
    request: Request,
    user: Uploader,
    settings: SettingsDep,
    engine: EngineDep,
    store: StoreDep,
    slots: UploadSlotsDep,
    limits: BodyLimitsDep,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    length = request.headers.get("content-length")
    declared = int(length) if length and length.isdigit() else 0
    if declared > settings.max_upload_bytes + 1024**2:
        raise ApiError(413, "file_too_large")
    with slots.hold(user.user_id):
        claim = None
        if idempotency_key is not None:
            claim = await run_in_threadpool(
                idempotency.claim,
                engine,
                user.user_id,
                idempotency_key,
                CREATE_ENDPOINT,
                settings.idempotency_inflight_s,
            )
        try:
            return await _create(request, user, settings, engine, store, limits, claim, declared)
        except BaseException:
            if claim is not None and claim.replay is None:
                await run_in_threadpool(idempotency.release, engine, claim)
            raise


def _before_file(engine: Any, settings: Any, user: Principal, declared: int) -> Any:
    """Refuse before storing the file when the fields sent first already name a teacher out of scope
    or over quota (with the body's declared length)."""

    def check(fields: dict[str, list[str]]) -> None:
        for teacher_id in fields.get("teacher_id", [])[:1]:
            with Session(engine) as session:
                visible_teacher(session, user, teacher_id)
                quotas.check_teacher_day(session, settings, teacher_id, declared, utcnow())

    return check


async def _create(
    request: Request,
    user: Principal,
    settings: Any,
    engine: Any,
    store: Any,
    limits: BodyLimits,
    claim: Any,
    declared: int,
) -> Any:
    form = await receive_form(
        request,
        store,
        limits,
        max_bytes=settings.max_upload_bytes,
        text_fields=FORM_FIELDS,
        before_file=_before_file(engine, settings, user, declared),
    )
    teacher_id = _single(form.fields, "teacher_id", required=True)
    resubmission_of = _single(form.fields, "resubmission_of", required=False)
    if not re.fullmatch(ID_PATTERN, teacher_id or "") or len(resubmission_of or "") > 64:
        raise ApiError(422, "invalid_request", "teacher_id or resubmission_of is malformed")
    if form.key is None:
        raise ApiError(422, "invalid_request", [{"loc": ["body", "file"], "msg": "Field required"}])
    try:
        codes = parse_micro_capabilities(form.fields.get("micro_capabilities", []))
    except ValueError as exc:
        raise ApiError(422, "invalid_micro_capability", str(exc)) from None
    if form.size == 0:
        raise ApiError(422, "empty_file")
    request_fp = idempotency.fingerprint(
        CREATE_ENDPOINT,
        {
            "teacher_id": teacher_id,
            "micro_capabilities": codes,
            "resubmission_of": resubmission_of,
            "sha256": form.key,
            "filename": form.filename,
        },
    )
    if claim is not None and (replay := idempotency.check_replay(claim, request_fp)) is not None:
        status, body = replay
        return JSONResponse(body, status_code=status, headers={"Idempotent-Replayed": "true"})

    def write() -> SubmissionPublic:
        with session_scope(engine) as session:
            quotas.lock(session, teacher_id)  # the check and the insert as one step
            quotas.check_teacher_day(session, settings, teacher_id, form.size, utcnow())
            sub = submissions.create_submission(
                session,
                key=form.key,
                size=form.size,
                filename=form.filename,
                teacher_id=teacher_id,
                micro_capabilities=codes,
                resubmission_of=resubmission_of,
                actor=user,
                origin=origin_of(request, user),
            )
            created = public(visible_submission(session, user, sub.id))
            if claim is not None:
                idempotency.complete(session, claim, request_fp, 201, created.model_dump(mode="json"))
            return created

    return await run_in_threadpool(write)


@router.get("/{submission_id}", response_model=SubmissionPublic, responses=responses(401, 404, 422))
def get_submission(
    submission_id: SubmissionId, request: Request, user: CurrentUser, session: SessionDep, engine: EngineDep
) -> SubmissionPublic:
    """Status, the screening report and the ``overall`` verdict."""
    found = visible_submission(session, user, submission_id)
    _audit_report_read(request, engine, user, found, "report")
    return public(found)


def _audit_report_read(request: Request, engine: Any, user: Principal, found: Visible, what: str) -> None:
    audit_read(
        engine,
        request,
        user,
        "submission",
        found.submission.id,
        region=found.school_code,
        detail={"part": what},
        action="report.read",
    )


@router.get("/{submission_id}/keyframes", response_model=KeyframesPublic, responses=responses(401, 404, 422))
def get_keyframes(
    submission_id: SubmissionId, request: Request, user: CurrentUser, session: SessionDep, engine: EngineDep
) -> KeyframesPublic:
    found = visible_submission(session, user, submission_id)
    _audit_report_read(request, engine, user, found, "keyframes")
    report = _report(found) or {}
    return KeyframesPublic(
        submission_id=submission_id,
        keyframes=report.get("keyframes") or [],
        contact_sheet=report.get("contact_sheet"),
    )


@router.get(
    "/{submission_id}/duplicates", response_model=DuplicatesPublic, responses=responses(401, 404, 422)
)
def get_duplicates(
    submission_id: SubmissionId, request: Request, user: CurrentUser, session: SessionDep, engine: EngineDep
) -> DuplicatesPublic:
    """Duplicate matches; a teacher sees neither the other teacher nor the other submission, an
    administrator only the submissions they may open (and how many others there are)."""
    found = visible_submission(session, user, submission_id)
    _audit_report_read(request, engine, user, found, "duplicates")
    return DuplicatesPublic(
        submission_id=submission_id,
        duplicate=overall.is_duplicate(found.submission.report),
        duplicates=overall.duplicate_entries(_report(found)),
        duplicates_hidden=len(found.hidden_matches),
    )


_MEDIA_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The bytes (local storage)", "content": {"application/octet-stream": {}}},
    206: {"description": "A byte range (local storage)", "content": {"application/octet-stream": {}}},
    307: {"description": "Redirect to a presigned GET (S3)"},
    **responses(401, 404, 416, 422),
}


def _serve(
    request: Request, engine: Any, store: Any, user: Principal, found: Visible, digest: str, name: str
) -> Response:
    with session_scope(engine) as session:
        audit(
            session,
            request,
            user,
            "evidence.read",
            "submission",
            found.submission.id,
            region=found.school_code,
            detail={"media": name},
        )
    return blob_response(request, store, key_for_digest(digest), name)


def _digest_of(found: Visible, section: str) -> str:
    report = found.submission.report or {}
    value: Any = report.get(section) or {}
    digests = redaction.media_digests({"uri": value.get("uri")}) if isinstance(value, dict) else set()
    if not digests:
        raise ApiError(404, "no_media")
    return digests.pop()


@router.get("/{submission_id}/rendition", response_class=Response, responses=_MEDIA_RESPONSES)
def get_rendition(
    submission_id: SubmissionId,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    engine: EngineDep,
    store: StoreDep,
) -> Response:
    """The review rendition (MP4): HTTP Range from the API, or a redirect to a presigned GET."""
    found = visible_submission(session, user, submission_id)
    return _serve(request, engine, store, user, found, _digest_of(found, "rendition"), f"{submission_id}.mp4")


@router.get("/{submission_id}/contact-sheet", response_class=Response, responses=_MEDIA_RESPONSES)
def get_contact_sheet(
    submission_id: SubmissionId,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    engine: EngineDep,
    store: StoreDep,
) -> Response:
    found = visible_submission(session, user, submission_id)
    digest = _digest_of(found, "contact_sheet")
    return _serve(request, engine, store, user, found, digest, f"{submission_id}-contact-sheet.jpg")


@router.get("/{submission_id}/media/{digest}", response_class=Response, responses=_MEDIA_RESPONSES)
def get_media(
    submission_id: SubmissionId,
    digest: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")],
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    engine: EngineDep,
    store: StoreDep,
) -> Response:
    """Any artifact the (caller's view of the) report refers to: keyframes, poster, rendition…"""
    found = visible_submission(session, user, submission_id)
    seen = redaction.seen_by(
        found.submission.report, teacher_view=found.teacher_view, hidden=found.hidden_matches
    )
    if digest not in redaction.media_digests(seen):
        raise ApiError(404, "no_media")
    return _serve(request, engine, store, user, found, digest, digest[:16])


@router.post(
    "/{submission_id}/reprocess",
    status_code=202,
    response_model=ReprocessPublic,
    responses=responses(401, 403, 404, 422),
)
def reprocess(
    submission_id: SubmissionId, request: Request, user: Admin, engine: EngineDep
) -> ReprocessPublic:
    """Queue the screening again, ahead of archive runs: stages whose version did not change are
    reused, and so are the duplicate matches while the fingerprints stand."""
    with session_scope(engine) as session:
        found = administered_submission(session, user, submission_id)
        sub = found.submission
        job = jobs.queue_again(session, sub)
        audit(session, request, user, "submission.reprocess", "submission", sub.id, region=found.school_code)
        return ReprocessPublic(submission_id=sub.id, status=sub.status, job_id=job.id)
