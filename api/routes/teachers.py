"""Teachers and their face enrolment: administrators of the teacher's region only, every act audited."""

from __future__ import annotations

import tempfile
from pathlib import Path as FilePath
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session
from starlette.datastructures import UploadFile

from api.audit import origin_of
from api.deps import Admin, CurrentUser, EngineDep, SessionDep, SettingsDep, StoreDep
from api.errors import ApiError, responses
from core import teachers
from core.access import administered_teacher, visible_teacher
from core.accounts import Principal
from core.db import session_scope
from models.common import ID_PATTERN
from models.teachers import EnrolmentPublic, ForgetPublic, TeacherCreate, TeacherPublic
from pipeline.enrolment_photo import MAX_PHOTO_BYTES

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


@router.post("", status_code=201, response_model=TeacherPublic, responses=responses(401, 403, 409, 422))
def create_teacher(body: TeacherCreate, request: Request, user: Admin, engine: EngineDep) -> TeacherPublic:
    """Register a teacher at a school of the caller's region."""
    with session_scope(engine) as session:
        return teachers.create_teacher(session, user, body, origin_of(request, user))


@router.get("/{teacher_id}", response_model=TeacherPublic, responses=responses(401, 404, 422))
def get_teacher(teacher_id: TeacherId, user: CurrentUser, session: SessionDep) -> TeacherPublic:
    """A teacher: for their administrators, the service, and the teacher themself."""
    return teachers.teacher_public(session, visible_teacher(session, user, teacher_id))


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


def _administered(engine: EngineDep, user: Principal, teacher_id: str) -> None:
    with Session(engine) as session:
        administered_teacher(session, user, teacher_id)


def _enroll(
    request: Request,
    user: Principal,
    engine: EngineDep,
    store: StoreDep,
    teacher_id: str,
    paths: dict[FilePath, str],
) -> EnrolmentPublic:
    with session_scope(engine) as session:
        return teachers.enroll_photos(session, store, user, origin_of(request, user), teacher_id, paths)


@router.delete(
    "/{teacher_id}/face-data", response_model=ForgetPublic, responses=responses(401, 403, 404, 422)
)
def delete_face_data(
    teacher_id: TeacherId, request: Request, user: Admin, engine: EngineDep, store: StoreDep
) -> ForgetPublic:
    """Delete a teacher's face photos and encodings for good (the teacher and submissions stay)."""
    with session_scope(engine) as session:
        return teachers.forget_face_data(session, store, user, origin_of(request, user), teacher_id)
