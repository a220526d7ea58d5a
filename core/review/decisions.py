"""Decisions and disputes: each is audited and announced to the scoring workflow as an event.

Events (``api.outbox.record``, in the same transaction): ``review.decided`` for every decision,
``review.disputed`` when a teacher disputes one, ``review.dispute_resolved`` when the re-check is
decided. They carry the reviewer's user id for the scoring system (events are read by the service and
administrators only; teachers never see them).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from core.audit import Origin, record
from core.outbox import record as record_event
from core.review import queries
from core.review.assign import choose_reviewer
from core.review.errors import AlreadyDecided, AlreadyDisputed, NoEligibleReviewer, NotDisputable
from core.review.units import next_level_up, recused_unit
from models.base import utcnow
from models.review import (
    AssignmentStatus,
    Band,
    DisputeOutcome,
    DisputeStatus,
    ReviewAssignment,
    ReviewDecision,
    ReviewDispute,
    ReviewKind,
)
from models.submissions import Overall, Submission, SubmissionMeta
from models.teachers import Teacher


def band_of(score: int) -> Band:
    """excellent >= 90, pass 60-89, fail < 60."""
    if not 0 <= score <= 100:
        raise ValueError(f"score must be 0-100, got {score}")
    return Band.excellent if score >= 90 else Band.pass_ if score >= 60 else Band.fail


def _event_base(session: Session, submission_id: str) -> tuple[dict[str, Any], Teacher | None]:
    sub = session.get(Submission, submission_id)
    teacher = session.get(Teacher, sub.teacher_id) if sub and sub.teacher_id else None
    return {
        "submission_id": submission_id,
        "teacher_id": sub.teacher_id if sub else None,
        "school_code": teacher.school_code if teacher else None,
        "subject": teacher.subject if teacher else None,
    }, teacher


def _announce(session: Session, type_: str, submission_id: str, data: dict[str, Any]) -> None:
    base, teacher = _event_base(session, submission_id)
    record_event(
        session,
        type_,
        {**base, **data},
        submission_id=submission_id,
        region=base["school_code"],
        teacher_id=base["teacher_id"],
    )


def decision_data(decision: ReviewDecision, assignment: ReviewAssignment) -> dict[str, Any]:
    """A decision as the scoring workflow receives it."""
    override = None
    if decision.override_overall is not None:
        override = {"overall": decision.override_overall.value, "reason": decision.override_reason}
    return {
        "decision_id": decision.id,
        "assignment_id": assignment.id,
        "kind": assignment.kind.value,
        "level": assignment.level.value,
        "reviewer_id": assignment.reviewer_id,
        "score": decision.score,
        "band": decision.band.value,
        "screening_overall": decision.screening_overall.value if decision.screening_overall else None,
        "override": override,
        "comment": decision.comment,
        "created_at": decision.created_at.isoformat(),
    }


def decide(
    session: Session,
    assignment: ReviewAssignment,
    *,
    score: int,
    comment: str,
    origin: Origin,
    override_overall: Overall | None = None,
    override_reason: str | None = None,
) -> ReviewDecision:
    """Record the decision on an open assignment (and resolve the dispute it re-checks)."""
    queries.serialize(session)
    session.refresh(assignment)
    if assignment.status != AssignmentStatus.open:
        raise AlreadyDecided("this assignment is already decided or cancelled")
    if (override_overall is None) != (override_reason is None):
        raise ValueError("an override needs both a verdict and a reason")
    meta = session.get(SubmissionMeta, assignment.submission_id)
    now = utcnow()
    decision = ReviewDecision(
        assignment_id=assignment.id,
        submission_id=assignment.submission_id,
        score=score,
        band=band_of(score),
        screening_overall=meta.overall if meta else None,
        override_overall=override_overall,
        override_reason=override_reason,
        comment=comment,
        created_at=now,
    )
    assignment.status, assignment.decided_at = AssignmentStatus.decided, now
    session.add_all([decision, assignment])
    session.flush()
    region = _event_base(session, assignment.submission_id)[0]["school_code"]
    detail = {"assignment_id": assignment.id, "score": score, "band": decision.band.value}
    record(session, origin, "review.decide", "decision", decision.id, region=region, detail=detail)
    if override_overall is not None:
        detail = {
            "assignment_id": assignment.id,
            "from": decision.screening_overall.value if decision.screening_overall else None,
            "to": override_overall.value,
            "reason": override_reason,
        }
        record(session, origin, "review.override", "decision", decision.id, region=region, detail=detail)
    data = decision_data(decision, assignment)
    dispute = session.exec(
        select(ReviewDispute).where(ReviewDispute.recheck_assignment_id == assignment.id)
    ).first()
    if dispute is not None:
        data["dispute_id"] = dispute.id
    _announce(session, "review.decided", assignment.submission_id, data)
    if dispute is not None:
        _resolve(session, dispute, decision, origin, region)
    return decision


def _resolve(
    session: Session, dispute: ReviewDispute, recheck: ReviewDecision, origin: Origin, region: str | None
) -> None:
    original = session.get(ReviewDecision, dispute.decision_id)
    dispute.outcome = DisputeOutcome.upheld if original.band == recheck.band else DisputeOutcome.changed
    dispute.status, dispute.resolved_at = DisputeStatus.resolved, recheck.created_at
    session.add(dispute)
    session.flush()
    record(
        session,
        origin,
        "review.dispute_resolve",
        "dispute",
        dispute.id,
        region=region,
        detail={"outcome": dispute.outcome.value, "recheck_decision_id": recheck.id},
    )
    _announce(
        session,
        "review.dispute_resolved",
        dispute.submission_id,
        {
            "dispute_id": dispute.id,
            "decision_id": original.id,
            "recheck_decision_id": recheck.id,
            "outcome": dispute.outcome.value,
            "original": {"score": original.score, "band": original.band.value},
            "recheck": {"score": recheck.score, "band": recheck.band.value},
        },
    )


def dispute(
    session: Session,
    decision: ReviewDecision,
    *,
    raised_by: str,
    reason: str,
    origin: Origin,
    seed: int,
) -> ReviewDispute:
    """Dispute a decision (once): a re-check assignment goes to a reviewer from outside the
    submission's unit at the next level up, who has not reviewed the submission before."""
    queries.serialize(session)
    assignment = session.get(ReviewAssignment, decision.assignment_id)
    if assignment.kind == ReviewKind.dispute:
        raise NotDisputable("a dispute re-check is final")
    if session.exec(select(ReviewDispute).where(ReviewDispute.decision_id == decision.id)).first():
        raise AlreadyDisputed("this decision was already disputed")
    sub = queries.evidence_of(session, decision.submission_id)
    level = next_level_up(assignment.level)
    earlier = set(
        session.exec(
            select(ReviewAssignment.reviewer_id).where(ReviewAssignment.submission_id == sub.id)
        ).all()
    )
    reviewer = choose_reviewer(
        queries.expert_reviewers(session),
        sub,
        ReviewKind.dispute,
        level,
        exclude=earlier,
        load=queries.open_load(session),
        seed=seed,
    )
    if reviewer is None:
        raise NoEligibleReviewer(
            f"no {level.value} reviewer outside the submission's {level.value} can re-check it",
            [
                {
                    "submission_id": sub.id,
                    "level": level.value,
                    "recused_unit": recused_unit(sub.school, level),
                }
            ],
        )
    now = utcnow()
    recheck = ReviewAssignment(
        kind=ReviewKind.dispute,
        level=level,
        submission_id=sub.id,
        reviewer_id=reviewer.user_id,
        seed=seed,
        reason="dispute",
        recused_unit=recused_unit(sub.school, level),
        created_by=origin.actor_id,
        created_at=now,
    )
    session.add(recheck)
    session.flush()
    row = ReviewDispute(
        decision_id=decision.id,
        submission_id=sub.id,
        raised_by=raised_by,
        reason=reason,
        recheck_assignment_id=recheck.id,
        created_at=now,
    )
    session.add(row)
    session.flush()
    record(
        session,
        origin,
        "review.dispute",
        "dispute",
        row.id,
        region=sub.school,
        detail={"decision_id": decision.id},
    )
    record(
        session,
        origin,
        "assignment.create",
        "assignment",
        recheck.id,
        region=sub.school,
        detail={"dispute_id": row.id, "submission_id": sub.id, "reviewer_id": reviewer.user_id},
    )
    _announce(
        session,
        "review.disputed",
        sub.id,
        {"dispute_id": row.id, "decision_id": decision.id, "recheck_level": level.value, "reason": reason},
    )
    return row
