"""Teachers as administrators manage them: registration at a school of their region, face enrolment
from authoritative photos, and deletion of face data; every act audited."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session, func, select

from core.access import administered_teacher
from core.accounts import Principal
from core.audit import Origin, record
from core.enrolment import enroll, forget
from core.errors import DomainError
from core.storage import BlobStore
from models.base import utcnow
from models.teachers import EnrolmentPublic, ForgetPublic, Teacher, TeacherCreate, TeacherFace, TeacherPublic
from pipeline.enrolment_photo import EnrolmentPhotoError


def teacher_public(session: Session, teacher: Teacher) -> TeacherPublic:
    """A teacher with the number of enrolled photos."""
    photos = session.exec(select(func.count()).where(TeacherFace.teacher_id == teacher.id)).one()
    return TeacherPublic(
        id=teacher.id,
        name=teacher.name,
        school_code=teacher.school_code,
        subject=teacher.subject,
        enrolled_photos=photos,
        created_at=teacher.created_at,
    )


def create_teacher(session: Session, actor: Principal, body: TeacherCreate, origin: Origin) -> TeacherPublic:
    """Register a teacher at a school the actor administers (``out_of_scope``; ``teacher_exists``)."""
    if not actor.administers(body.school_code):
        raise DomainError("out_of_scope")
    if session.get(Teacher, body.id) is not None:
        raise DomainError("teacher_exists")
    teacher = Teacher(**body.model_dump(), created_at=utcnow())
    session.add(teacher)
    record(session, origin, "teacher.create", "teacher", teacher.id, region=teacher.school_code)
    session.flush()
    return teacher_public(session, teacher)


def enroll_photos(
    session: Session,
    store: BlobStore,
    actor: Principal,
    origin: Origin,
    teacher_id: str,
    photos: dict[Path, str],
) -> EnrolmentPublic:
    """Enrol a teacher of the actor's region from photos (path → name the uploader gave it); a photo
    that is not exactly one clear face refuses them all (``invalid_photo``, naming it)."""
    teacher = administered_teacher(session, actor, teacher_id)
    try:
        enroll(session, store, teacher_id, list(photos), enrolled_by=actor.user_id)
    except EnrolmentPhotoError as exc:
        detail = {
            "photo": photos.get(Path(exc.photo), Path(exc.photo).name),
            "problem": exc.problem,
            "message": exc.message,
            "message_zh": exc.message_zh,
        }
        raise DomainError("invalid_photo", detail) from None
    detail = {"photos": len(photos)}
    record(
        session, origin, "teacher.enroll", "teacher", teacher_id, region=teacher.school_code, detail=detail
    )
    session.flush()
    return EnrolmentPublic(
        teacher_id=teacher_id, enrolled_photos=teacher_public(session, teacher).enrolled_photos
    )


def forget_face_data(
    session: Session, store: BlobStore, actor: Principal, origin: Origin, teacher_id: str
) -> ForgetPublic:
    """Delete a teacher's face photos and encodings for good (the teacher and submissions stay)."""
    teacher = administered_teacher(session, actor, teacher_id)
    count = forget(session, store, teacher_id)
    detail = {"deleted_photos": count}
    record(
        session, origin, "teacher.forget", "teacher", teacher_id, region=teacher.school_code, detail=detail
    )
    return ForgetPublic(teacher_id=teacher_id, deleted_photos=count)
