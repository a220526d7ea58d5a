"""Teachers and their face enrolment: administrators of the teacher's region only, every act audited."""

from __future__ import annotations

import tempfile
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session, func, select
from starlette.datastructures import UploadFile

from api.access import administered_teacher, visible_teacher
from api.audit import audit
from api.auth import Principal
from api.deps import Admin, CurrentUser, EngineDep, SessionDep, SettingsDep, StoreDep
from api.errors import ApiError, responses
from core.db import session_scope
from core.enrolment import enroll, forget
from models.schemas import ID_PATTERN, EnrolmentPublic, ForgetPublic, TeacherCreate, TeacherPublic
from models.tables import Teacher, TeacherFace, utcnow
from pipeline.enrolment_photo import MAX_PHOTO_BYTES, EnrolmentPhotoError

router = APIRouter(prefix="/v1/teachers", tags=["teachers"])

TeacherId = Annotated[str, Path(pattern=ID_PATTERN)]
MAX_PHOTOS = 20
PHOTOS_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["photo"],
                    "properties": {
                        "photo": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "minItems": 1,
                            "maxItems": MAX_PHOTOS,
                            "description": "Authoritative photos (archive), exactly one clear face each",
                        }
                    },
                }
            }
        },
    }
}


def _public(session: Session, teacher: Teacher) -> TeacherPublic:
    photos = session.exec(select(func.count()).where(TeacherFace.teacher_id == teacher.id)).one()
    return TeacherPublic(
        id=teacher.id,
        name=teacher.name,
        school_code=teacher.school_code,
        subject=teacher.subject,
        enrolled_photos=photos,
        created_at=teacher.created_at,
    )


@router.post("", status_code=201, response_model=TeacherPublic, responses=responses(401, 403, 409, 422))
def create_teacher(body: TeacherCreate, request: Request, user: Admin, engine: EngineDep) -> TeacherPublic:
    """Register a teacher at a school of the caller's region."""
    if not user.administers(body.school_code):
        raise ApiError(403, "out_of_scope")
    with session_scope(engine) as session:
        if session.get(Teacher, body.id) is not None:
            raise ApiError(409, "teacher_exists")
        teacher = Teacher(**body.model_dump(), created_at=utcnow())
        session.add(teacher)
        audit(session, request, user, "teacher.create", "teacher", teacher.id, region=teacher.school_code)
        session.flush()
        return _public(session, teacher)


@router.get("/{teacher_id}", response_model=TeacherPublic, responses=responses(401, 404, 422))
def get_teacher(teacher_id: TeacherId, user: CurrentUser, session: SessionDep) -> TeacherPublic:
    """A teacher: for their administrators, the service, and the teacher themself."""
    return _public(session, visible_teacher(session, user, teacher_id))


async def _photos(request: Request) -> list[UploadFile]:
    form = await request.form(max_files=MAX_PHOTOS, max_fields=MAX_PHOTOS)
    unknown = sorted({k for k in form if k != "photo"})
    if unknown:
        raise ApiError(422, "unknown_field", unknown)
    photos = [p for p in form.getlist("photo") if isinstance(p, UploadFile)]
    if not photos or len(photos) != len(form.getlist("photo")):
        raise ApiError(422, "invalid_request", "send one or more photo files")
    return photos


@router.post(
    "/{teacher_id}/photos",
    status_code=201,
    response_model=EnrolmentPublic,
    openapi_extra=PHOTOS_SCHEMA,
    responses=responses(401, 403, 404, 413, 422),
)
async def add_photos(
    teacher_id: TeacherId,
    request: Request,
    user: Admin,
    settings: SettingsDep,
    engine: EngineDep,
    store: StoreDep,
) -> EnrolmentPublic:
    """Enrol a teacher's face from authoritative photos (each must hold exactly one clear face)."""
    await run_in_threadpool(_administered, engine, user, teacher_id)
    photos = await _photos(request)
    settings.home.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.home, prefix="enrol-") as tmp:
        paths: dict[FilePath, str] = {}
        for i, photo in enumerate(photos):
            if photo.size is not None and photo.size > MAX_PHOTO_BYTES:
                raise ApiError(413, "payload_too_large", photo.filename)
            path = FilePath(tmp) / f"photo-{i:02d}"
            with open(path, "wb") as out:
                while chunk := await photo.read(1024 * 1024):
                    out.write(chunk)
            paths[path] = photo.filename or path.name
        return await run_in_threadpool(_enroll, request, user, engine, store, teacher_id, paths)


def _administered(engine: EngineDep, user: Principal, teacher_id: str) -> Teacher:
    with Session(engine) as session:
        return administered_teacher(session, user, teacher_id)


def _enroll(
    request: Request,
    user: Principal,
    engine: EngineDep,
    store: StoreDep,
    teacher_id: str,
    paths: dict[FilePath, str],
) -> EnrolmentPublic:
    try:
        with session_scope(engine) as session:
            teacher = administered_teacher(session, user, teacher_id)
            enroll(session, store, teacher_id, list(paths), enrolled_by=user.user_id)
            audit(
                session,
                request,
                user,
                "teacher.enroll",
                "teacher",
                teacher_id,
                region=teacher.school_code,
                detail={"photos": len(paths)},
            )
            session.flush()
            return EnrolmentPublic(
                teacher_id=teacher_id, enrolled_photos=_public(session, teacher).enrolled_photos
            )
    except EnrolmentPhotoError as exc:
        detail = {
            "photo": paths.get(FilePath(exc.photo), FilePath(exc.photo).name),
            "problem": exc.problem,
            "message": exc.message,
            "message_zh": exc.message_zh,
        }
        raise ApiError(422, "invalid_photo", detail) from None


@router.delete(
    "/{teacher_id}/face-data", response_model=ForgetPublic, responses=responses(401, 403, 404, 422)
)
def delete_face_data(
    teacher_id: TeacherId, request: Request, user: Admin, engine: EngineDep, store: StoreDep
) -> ForgetPublic:
    """Delete a teacher's face photos and encodings for good (the teacher and submissions stay)."""
    with session_scope(engine) as session:
        teacher = administered_teacher(session, user, teacher_id)
        count = forget(session, store, teacher_id)
        audit(
            session,
            request,
            user,
            "teacher.forget",
            "teacher",
            teacher_id,
            region=teacher.school_code,
            detail={"deleted_photos": count},
        )
        return ForgetPublic(teacher_id=teacher_id, deleted_photos=count)
