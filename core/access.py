"""Who sees what: objects outside the caller's scope are not found (``NotFound``), as if they
did not exist.

A teacher sees their own submissions; an administrator sees their region and below; the service
account sees everything; a reviewer sees nothing here: only the blind packet and media of their own
open or decided assignments (``assigned_review``), and not even those once recused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, or_, select

from core import regions
from core.accounts import Principal
from core.errors import NotFound
from core.overall import duplicate_entries
from core.review.eligibility import Reviewer, may_review
from core.review.queries import evidence_of
from models.accounts import Role
from models.review import AssignmentStatus, ReviewAssignment
from models.submissions import Submission, SubmissionMeta
from models.teachers import Teacher


@dataclass(frozen=True)
class Visible:
    """A submission the caller may see, with its teacher and API metadata."""

    submission: Submission
    teacher: Teacher | None
    meta: SubmissionMeta | None
    teacher_view: bool  # the caller sees it only as its teacher (duplicates redacted)
    # Submissions its duplicate matches name that the caller may not open (listed to nobody but the
    # service; an administrator sees how many).
    hidden_matches: frozenset[str] = frozenset()

    @property
    def school_code(self) -> str | None:
        return self.teacher.school_code if self.teacher else None


def teacher_view(user: Principal, school_code: str | None) -> bool:
    """Whether the caller sees a submission only as its teacher (not as service or administrator)."""
    return not user.is_service and not user.administers(school_code)


def visible_submission(session: Session, user: Principal, submission_id: str) -> Visible:
    """The submission if the caller may see it; else ``NotFound``."""
    sub = session.get(Submission, submission_id)
    if sub is None:
        raise NotFound()
    teacher = session.get(Teacher, sub.teacher_id) if sub.teacher_id else None
    school = teacher.school_code if teacher else None
    if not user.sees(sub.teacher_id, school):
        raise NotFound()
    as_teacher = teacher_view(user, school)
    hidden = frozenset() if as_teacher else _unopenable(session, user, sub.report)
    return Visible(sub, teacher, session.get(SubmissionMeta, sub.id), as_teacher, hidden)


def _unopenable(session: Session, user: Principal, report: dict[str, Any] | None) -> frozenset[str]:
    """The submissions named by the report's duplicate matches that the caller may not open."""
    named = {m["submission_id"] for m in duplicate_entries(report) if isinstance(m.get("submission_id"), str)}
    if user.is_service or not named:
        return frozenset()
    rows = session.exec(
        select(Submission.id, Submission.teacher_id, Teacher.school_code)
        .outerjoin(Teacher, col(Teacher.id) == col(Submission.teacher_id))
        .where(col(Submission.id).in_(named))
    ).all()
    openable = {sid for sid, teacher_id, school in rows if user.sees(teacher_id, school)}
    return frozenset(named - openable)


def administered_submission(session: Session, user: Principal, submission_id: str) -> Visible:
    """The submission if the caller administers its region; else ``NotFound``."""
    found = visible_submission(session, user, submission_id)
    if not user.administers(found.school_code):
        raise NotFound()
    return found


def visible_teacher(session: Session, user: Principal, teacher_id: str) -> Teacher:
    """The teacher if the caller may see them (themself, their administrators, the service); else
    ``NotFound``."""
    teacher = session.get(Teacher, teacher_id)
    if teacher is None or not user.sees(teacher.id, teacher.school_code):
        raise NotFound()
    return teacher


def administered_teacher(session: Session, user: Principal, teacher_id: str) -> Teacher:
    """The teacher if the caller administers their school; else ``NotFound``."""
    teacher = session.get(Teacher, teacher_id)
    if teacher is None or not user.administers(teacher.school_code):
        raise NotFound()
    return teacher


def submission_scope(user: Principal) -> Any:
    """SQL condition on ``Submission`` joined with ``Teacher``: the submissions the caller may see."""
    if user.is_service:
        return sa.true()
    conditions = []
    if user.admin_scope is not None:
        conditions.append(regions.in_region(Teacher.school_code, user.admin_scope))
    if Role.teacher in user.roles and user.teacher_id is not None:
        conditions.append(Submission.teacher_id == user.teacher_id)
    return or_(*conditions) if conditions else sa.false()


def assigned_review(session: Session, user: Principal, assignment_id: str) -> ReviewAssignment:
    """The caller's own assignment; ``NotFound`` when it is someone else's, cancelled, or the caller is now
    recused from it (became the author's uploader, moved into the recused unit, …)."""
    assignment = session.get(ReviewAssignment, assignment_id)
    if assignment is None or assignment.reviewer_id != user.user_id:
        raise NotFound()
    if assignment.status == AssignmentStatus.cancelled:
        raise NotFound()
    evidence = evidence_of(session, assignment.submission_id)
    me = Reviewer(user.user_id, user.region, user.teacher_id)
    if evidence is None or not may_review(me, evidence, assignment.kind, assignment.level):
        raise NotFound()
    return assignment


def administered_region(user: Principal, region: str | None) -> str:
    """The region an administrator looks at: their own, or a region inside it (else ``NotFound``)."""
    scope = user.admin_scope or ""
    if region is None:
        return scope
    if not regions.contains(scope, region):
        raise NotFound()
    return region
