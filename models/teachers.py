"""Teachers and their enrolment photos (face encodings), with the API schemas that show them."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel
from pydantic import Field as PydanticField
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, utcnow
from models.common import ID_PATTERN, SCHOOL_PATTERN, Request


class Teacher(SQLModel, table=True):
    __tablename__ = "teachers"

    id: str = Field(primary_key=True, max_length=64)
    name: str | None = Field(default=None, max_length=200)
    school_code: str | None = Field(default=None, index=True, max_length=128)
    subject: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class TeacherFace(SQLModel, table=True):
    """One enrolment photo of a teacher and its face encoding. Sensitive: deleted for good on request."""

    __tablename__ = "teacher_faces"

    id: int | None = Field(default=None, primary_key=True)
    teacher_id: str = Field(foreign_key="teachers.id", index=True, max_length=64)
    photo_key: str = Field(max_length=200)
    encoding: bytes = Field(sa_type=sa.LargeBinary)  # float64 little-endian vector
    model: str = Field(max_length=100)
    enrolled_by: str = Field(max_length=200)
    enrolled_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


# -- teachers --------------------------------------------------------------------------------------------
class TeacherCreate(Request):
    id: str = PydanticField(pattern=ID_PATTERN)
    name: str | None = PydanticField(default=None, max_length=200)
    school_code: str = PydanticField(pattern=SCHOOL_PATTERN, description="province.city.county.school")
    subject: str = PydanticField(min_length=1, max_length=64)


class TeacherPublic(BaseModel):
    id: str
    name: str | None
    school_code: str | None
    subject: str | None
    enrolled_photos: int
    created_at: datetime


class EnrolmentPublic(BaseModel):
    teacher_id: str
    enrolled_photos: int


class ForgetPublic(BaseModel):
    teacher_id: str
    deleted_photos: int
