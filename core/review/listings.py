"""What people read of reviews: a reviewer's own assignments and blind packets, and the decisions on
submissions as their teachers and administrators see them (never who made them)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from core.accounts import Principal
from core.errors import DomainError, NotFound
from core.pagination import Keyset
from core.regions import in_region
from core.review.eligibility import Reviewer, may_review
from core.review.packet import blind_report
from core.review.queries import evidence_of
from core.review.stable import stable_unit
from models.accounts import Role
from models.review import (
    AssignmentStatus,
    DecisionPage,
    DecisionPublic,
    DisputePublic,
    ReviewAssignment,
    ReviewDecision,
    ReviewDispute,
    ReviewerDecisionPublic,
    ReviewKind,
    ReviewPacket,
    ReviewPage,
    ReviewSummary,
)
from models.submissions import Submission, SubmissionMeta
from models.teachers import Teacher

ASSIGNMENTS_ORDER = Keyset((ReviewAssignment.created_at, ReviewAssignment.id))
DECISIONS_ORDER = Keyset((ReviewDecision.created_at, ReviewDecision.id))


def packet_path(assignment_id: str) -> str:
    """The API path of an assignment's blind packet."""
    return f"/v1/reviews/{assignment_id}"


def reviewer_decision(d: ReviewDecision) -> ReviewerDecisionPublic:
    return ReviewerDecisionPublic.model_validate(d, from_attributes=True)


def _still_eligible(session: Session, me: Reviewer, a: ReviewAssignment) -> bool:
    evidence = evidence_of(session, a.submission_id)
    return evidence is not None and may_review(me, evidence, a.kind, a.level)


def assignments(
    session: Session, user: Principal, status: AssignmentStatus | None, limit: int, cursor: str | None
) -> ReviewPage:
    """The caller's assignments, newest first (recused and cancelled ones left out)."""
    stmt = select(ReviewAssignment).where(
        ReviewAssignment.reviewer_id == user.user_id, ReviewAssignment.status != AssignmentStatus.cancelled
    )
    if status is not None:
        stmt = stmt.where(ReviewAssignment.status == status)
    rows = session.exec(ASSIGNMENTS_ORDER.select(stmt, cursor, limit)).all()
    page, next_cursor = ASSIGNMENTS_ORDER.page(rows, limit, lambda a: (a.created_at, a.id))
    me = Reviewer(user.user_id, user.region, user.teacher_id)
    data = [
        ReviewSummary(
            id=a.id,
            kind=a.kind,
            level=a.level,
            status=a.status,
            created_at=a.created_at,
            packet=packet_path(a.id),
        )
        for a in page
        if _still_eligible(session, me, a)
    ]
    return ReviewPage(data=data, next_cursor=next_cursor)


def school_of(session: Session, sub: Submission) -> str | None:
    teacher = session.get(Teacher, sub.teacher_id) if sub.teacher_id else None
    return teacher.school_code if teacher else None


def packet(session: Session, assignment: ReviewAssignment) -> ReviewPacket:
    """The double-blind packet of an assignment: its evidence as paths of this assignment; nothing
    naming the teacher, school or uploader."""
    sub = session.get(Submission, assignment.submission_id)
    meta = session.get(SubmissionMeta, sub.id)
    decision = session.exec(
        select(ReviewDecision).where(ReviewDecision.assignment_id == assignment.id)
    ).first()
    base = packet_path(assignment.id)
    return ReviewPacket(
        assignment_id=assignment.id,
        kind=assignment.kind,
        level=assignment.level,
        status=assignment.status,
        micro_capabilities=list(meta.micro_capabilities) if meta else [],
        screening_overall=meta.overall if meta else None,
        evidence=blind_report(sub.report, lambda digest: f"{base}/media/{digest}"),
        decision=reviewer_decision(decision) if decision else None,
        decision_url=f"{base}/decision",
    )


def dispute_public(session: Session, d: ReviewDispute) -> DisputePublic:
    recheck = session.get(ReviewAssignment, d.recheck_assignment_id)
    result = session.exec(
        select(ReviewDecision).where(ReviewDecision.assignment_id == d.recheck_assignment_id)
    ).first()
    return DisputePublic(
        id=d.id,
        decision_id=d.decision_id,
        status=d.status,
        recheck_level=recheck.level,
        outcome=d.outcome,
        recheck_score=result.score if result else None,
        recheck_band=result.band if result else None,
        created_at=d.created_at,
        resolved_at=d.resolved_at,
    )


_DECISION_FIELDS = set(DecisionPublic.model_fields) - {"kind", "level", "disputable", "dispute"}


def decision_public(session: Session, d: ReviewDecision) -> DecisionPublic:
    """A decision without anything naming its reviewer."""
    assignment = session.get(ReviewAssignment, d.assignment_id)
    dispute = session.exec(select(ReviewDispute).where(ReviewDispute.decision_id == d.id)).first()
    return DecisionPublic.model_validate(
        {
            **d.model_dump(include=_DECISION_FIELDS),
            "kind": assignment.kind,
            "level": assignment.level,
            "disputable": assignment.kind != ReviewKind.dispute and dispute is None,
            "dispute": dispute_public(session, dispute) if dispute else None,
        }
    )


def _decision_scope(user: Principal) -> Any:
    """SQL on ``ReviewDecision`` joined with ``Submission`` and ``Teacher``: what the caller sees."""
    conditions = []
    if user.is_service:
        return col(ReviewDecision.id).is_not(None)
    if user.admin_scope is not None:
        conditions.append(in_region(Teacher.school_code, user.admin_scope))
    if Role.teacher in user.roles and user.teacher_id is not None:
        conditions.append(Submission.teacher_id == user.teacher_id)
    if not conditions:
        raise DomainError("forbidden")
    return conditions[0] if len(conditions) == 1 else (conditions[0] | conditions[1])


def _with_submission(stmt: Any) -> Any:
    return stmt.join(Submission, col(Submission.id) == col(ReviewDecision.submission_id)).join(
        Teacher, col(Teacher.id) == col(Submission.teacher_id)
    )


def visible_decision(session: Session, user: Principal, decision_id: str) -> ReviewDecision:
    """A decision on a submission the caller may see; ``NotFound`` otherwise."""
    stmt = _with_submission(select(ReviewDecision)).where(
        ReviewDecision.id == decision_id, _decision_scope(user)
    )
    row = session.exec(stmt).first()
    if row is None:
        raise NotFound()
    return row


def decisions(
    session: Session, user: Principal, submission_id: str | None, limit: int, cursor: str | None
) -> DecisionPage:
    """Decisions on the caller's own submissions (a teacher) or their region's (an administrator),
    newest first."""
    stmt = _with_submission(select(ReviewDecision)).where(_decision_scope(user))
    if submission_id is not None:
        stmt = stmt.where(ReviewDecision.submission_id == submission_id)
    rows = session.exec(DECISIONS_ORDER.select(stmt, cursor, limit)).all()
    page, next_cursor = DECISIONS_ORDER.page(rows, limit, lambda d: (d.created_at, d.id))
    return DecisionPage(data=[decision_public(session, d) for d in page], next_cursor=next_cursor)


def own_decision(session: Session, user: Principal, decision_id: str) -> ReviewDecision:
    """A decision on the caller's own submission (to dispute); ``NotFound`` otherwise."""
    decision = session.get(ReviewDecision, decision_id)
    sub = session.get(Submission, decision.submission_id) if decision else None
    if sub is None or user.teacher_id is None or sub.teacher_id != user.teacher_id:
        raise NotFound()
    return decision


def review_seed(decision_id: str) -> int:
    """The seed of a dispute's reviewer draw: fixed by the decision, so the draw can be replayed."""
    return int(stable_unit(0, "dispute", decision_id) * 2**31)
