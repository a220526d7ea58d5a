"""Teacher face enrolment (an administrator's act, from authoritative photos) and its erasure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sqlmodel import Session, col, select

from core.storage import BlobStore
from models.base import utcnow
from models.submissions import Submission
from models.teachers import Teacher, TeacherFace
from pipeline.enrolment_photo import encode_enrolment_photo
from pipeline.presence.face_models import encoder_name

ENCODING_DTYPE = "<f8"  # TeacherFace.encoding: float64 little-endian


class TeacherNotFound(KeyError):
    """No teacher with this id."""


def enroll(
    session: Session,
    store: BlobStore,
    teacher_id: str,
    photos: Sequence[str | Path],
    *,
    school_code: str | None = None,
    subject: str | None = None,
    name: str | None = None,
    enrolled_by: str,
) -> Teacher:
    """Add face photos (and their encodings) to a teacher, creating the teacher if needed; given
    school/subject/name replace the stored ones. Every photo is checked first: one bad photo raises
    ``EnrolmentPhotoError`` and nothing is stored. A photo already enrolled for this teacher is skipped."""
    if not photos:
        raise ValueError("at least one photo is needed")
    if not teacher_id or not enrolled_by:
        raise ValueError("teacher_id and enrolled_by are required")
    encodings = [encode_enrolment_photo(p) for p in photos]
    teacher = session.get(Teacher, teacher_id) or Teacher(id=teacher_id)
    for field, value in (("school_code", school_code), ("subject", subject), ("name", name)):
        if value is not None:
            setattr(teacher, field, value)
    session.add(teacher)
    known = set(session.exec(select(TeacherFace.photo_key).where(TeacherFace.teacher_id == teacher_id)).all())
    stored: list[str] = []
    try:
        for photo, encoding in zip(photos, encodings, strict=True):
            key = store.put_file(Path(photo))
            if key in known:
                continue
            stored.append(key)
            known.add(key)
            session.add(
                TeacherFace(
                    teacher_id=teacher_id,
                    photo_key=key,
                    encoding=np.asarray(encoding, dtype=ENCODING_DTYPE).tobytes(),
                    model=encoder_name(),
                    enrolled_by=enrolled_by,
                    enrolled_at=utcnow(),
                )
            )
        session.flush()
    except BaseException:
        session.rollback()
        for key in stored:
            if not _referenced_elsewhere(session, key, teacher_id):
                store.delete(key)
        raise
    return teacher


def forget(session: Session, store: BlobStore, teacher_id: str) -> int:
    """Delete a teacher's face photos from the blob store and their encodings for good; returns
    how many were deleted. The teacher row stays (submissions refer to it). Raises ``TeacherNotFound``."""
    if session.get(Teacher, teacher_id) is None:
        raise TeacherNotFound(teacher_id)
    faces = session.exec(select(TeacherFace).where(TeacherFace.teacher_id == teacher_id)).all()
    keys = {f.photo_key for f in faces}
    for face in faces:
        session.delete(face)
    session.flush()
    for key in keys:
        if not _referenced_elsewhere(session, key, teacher_id):
            store.delete(key)
    return len(faces)


def load_gallery(session: Session, teacher_id: str) -> tuple[list[np.ndarray], dict[str, list[np.ndarray]]]:
    """The teacher's encodings and, for the impostor check, those of the other teachers enrolled at
    the same school. Only encodings made by the current encoder are returned; ([], {}) when the teacher
    is unknown or not enrolled (nothing to check, so no colleague's face data is loaded either)."""
    teacher = session.get(Teacher, teacher_id)
    if teacher is None:
        return [], {}
    model = encoder_name()
    own = session.exec(
        select(TeacherFace.encoding).where(TeacherFace.teacher_id == teacher_id, TeacherFace.model == model)
    ).all()
    colleagues: dict[str, list[np.ndarray]] = defaultdict(list)
    if own and teacher.school_code:
        rows = session.exec(
            select(TeacherFace.teacher_id, TeacherFace.encoding)
            .join(Teacher, col(Teacher.id) == col(TeacherFace.teacher_id))
            .where(
                Teacher.school_code == teacher.school_code,
                TeacherFace.teacher_id != teacher_id,
                TeacherFace.model == model,
            )
        ).all()
        for other_id, blob in rows:
            colleagues[other_id].append(_decode(blob))
    return [_decode(b) for b in own], dict(colleagues)


def _decode(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=ENCODING_DTYPE).astype(np.float64)


def _referenced_elsewhere(session: Session, key: str, teacher_id: str) -> bool:
    """Blobs are content-addressed: the same bytes may be another teacher's photo or a submission."""
    other_face = session.exec(
        select(TeacherFace.id).where(TeacherFace.photo_key == key, TeacherFace.teacher_id != teacher_id)
    ).first()
    submission = session.exec(select(Submission.id).where(Submission.blob_key == key)).first()
    return other_face is not None or submission is not None
