"""Database reads shared by the review services: submissions of a region, reviewers and their load."""

from __future__ import annotations

from collections import Counter, defaultdict

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core import regions
from core.review.eligibility import Evidence, Reviewer
from models.accounts import Role, User, UserRole
from models.review import AssignmentStatus, ReviewAssignment
from models.submissions import Submission, SubmissionMeta, SubmissionStatus
from models.teachers import Teacher

_LOCK_KEY = 7_411_020_007  # pg_advisory_xact_lock key: one review writer at a time


def serialize(session: Session) -> None:
    """Serialise review writes (assignment draws, decisions, disputes) on PostgreSQL; SQLite's
    ``BEGIN IMMEDIATE`` does it already."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK_KEY)))


def screened_in(session: Session, region: str) -> list[tuple[Evidence, str]]:
    """Every screened submission of the region's schools, with its ``overall`` verdict."""
    rows = session.exec(
        select(
            Submission.id,
            Submission.teacher_id,
            Teacher.school_code,
            Teacher.subject,
            SubmissionMeta.uploaded_by,
            SubmissionMeta.overall,
        )
        .join(Teacher, col(Submission.teacher_id) == col(Teacher.id))
        .outerjoin(SubmissionMeta, col(SubmissionMeta.submission_id) == col(Submission.id))
        .where(regions.in_region(Teacher.school_code, region), Submission.status == SubmissionStatus.screened)
        .order_by(col(Submission.id))
    ).all()
    return [
        (Evidence(r[0], r[1], r[2], r[3], r[4]), r[5].value if r[5] is not None else "unknown") for r in rows
    ]


def evidence_of(session: Session, submission_id: str) -> Evidence | None:
    """Eligibility facts of one submission."""
    sub = session.get(Submission, submission_id)
    if sub is None:
        return None
    teacher = session.get(Teacher, sub.teacher_id) if sub.teacher_id else None
    meta = session.get(SubmissionMeta, submission_id)
    return Evidence(
        sub.id,
        sub.teacher_id,
        teacher.school_code if teacher else None,
        teacher.subject if teacher else None,
        meta.uploaded_by if meta else None,
    )


def assignments_in(session: Session, region: str) -> list[ReviewAssignment]:
    """Every assignment (any kind or status) of the region's submissions."""
    return list(
        session.exec(
            select(ReviewAssignment)
            .join(Submission, col(Submission.id) == col(ReviewAssignment.submission_id))
            .join(Teacher, col(Teacher.id) == col(Submission.teacher_id))
            .where(regions.in_region(Teacher.school_code, region))
        ).all()
    )


def reviewers_by_submission(assignments: list[ReviewAssignment]) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = defaultdict(set)
    for a in assignments:
        seen[a.submission_id].add(a.reviewer_id)
    return seen


def expert_reviewers(session: Session) -> list[Reviewer]:
    """Active users holding the ``reviewer`` role and a region (the unit recusal is checked against)."""
    rows = session.exec(
        select(User.id, User.region, User.teacher_id)
        .join(UserRole, col(UserRole.user_id) == col(User.id))
        .where(UserRole.role == Role.reviewer, col(User.disabled).is_(False), col(User.region).is_not(None))
        .order_by(col(User.id))
    ).all()
    return [Reviewer(*r) for r in rows]


def open_load(session: Session) -> Counter[str]:
    """Open assignments per reviewer."""
    rows = session.exec(
        select(ReviewAssignment.reviewer_id, sa.func.count())
        .where(ReviewAssignment.status == AssignmentStatus.open)
        .group_by(ReviewAssignment.reviewer_id)
    ).all()
    return Counter({reviewer: n for reviewer, n in rows})
