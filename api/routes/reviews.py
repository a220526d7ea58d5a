"""Reviewing: a reviewer's assignments, the double-blind packet and its media, decisions; teachers'
view of the decisions on their submissions (never who made them) and their disputes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlmodel import Session, col, select

from api.access import assigned_review, in_region
from api.audit import Origin, audit_read
from api.auth import Principal
from api.deps import CurrentUser, EngineDep, SessionDep, StoreDep, require_roles
from api.errors import ApiError, responses
from api.media import blob_response
from api.routes.admin import CURSOR_QUERY, _before, _encode_cursor
from core.db import session_scope
from core.review import decisions as review
from core.review.eligibility import Reviewer, may_review
from core.review.errors import ReviewError
from core.review.packet import blind_report, packet_media
from core.review.queries import evidence_of
from core.review.stable import stable_unit
from core.storage import key_for_digest
from models.accounts import Role
from models.review import (
    AssignmentStatus,
    DecisionCreate,
    DecisionPage,
    DecisionPublic,
    DisputeCreate,
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
from models.submission_meta import SubmissionMeta
from models.tables import Submission, Teacher

router = APIRouter(tags=["review"])

ID = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
Reviewing = Annotated[Principal, Depends(require_roles(Role.reviewer, Role.teacher))]
Disputing = Annotated[Principal, Depends(require_roles(Role.teacher))]
Limit = Annotated[int, Query(ge=1, le=200)]


def _packet_path(assignment_id: str) -> str:
    return f"/v1/reviews/{assignment_id}"


def _reviewer_decision(d: ReviewDecision) -> ReviewerDecisionPublic:
    return ReviewerDecisionPublic.model_validate(d, from_attributes=True)


@router.get("/v1/reviews", response_model=ReviewPage, responses=responses(401, 403, 422))
def list_reviews(
    user: Reviewing,
    session: SessionDep,
    status: AssignmentStatus | None = None,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(pattern=CURSOR_QUERY)] = None,
) -> ReviewPage:
    """The caller's assignments, newest first (recused and cancelled ones left out)."""
    stmt = (
        select(ReviewAssignment)
        .where(
            ReviewAssignment.reviewer_id == user.user_id,
            ReviewAssignment.status != AssignmentStatus.cancelled,
            _before(ReviewAssignment.created_at, ReviewAssignment.id, cursor),
        )
        .order_by(col(ReviewAssignment.created_at).desc(), col(ReviewAssignment.id).desc())
        .limit(limit + 1)
    )
    if status is not None:
        stmt = stmt.where(ReviewAssignment.status == status)
    rows = session.exec(stmt).all()
    me = Reviewer(user.user_id, user.region, user.teacher_id)
    page = [a for a in rows[:limit] if _still_eligible(session, me, a)]
    data = [
        ReviewSummary(
            id=a.id,
            kind=a.kind,
            level=a.level,
            status=a.status,
            created_at=a.created_at,
            packet=_packet_path(a.id),
        )
        for a in page
    ]
    last = rows[min(limit, len(rows)) - 1] if rows else None
    more = len(rows) > limit
    return ReviewPage(
        data=data, next_cursor=_encode_cursor(last.created_at, last.id) if more and last else None
    )


def _still_eligible(session: Session, me: Reviewer, a: ReviewAssignment) -> bool:
    evidence = evidence_of(session, a.submission_id)
    return evidence is not None and may_review(me, evidence, a.kind, a.level)


@router.get(
    "/v1/reviews/{assignment_id}", response_model=ReviewPacket, responses=responses(401, 403, 404, 422)
)
def get_packet(
    assignment_id: ID, request: Request, user: Reviewing, session: SessionDep, engine: EngineDep
) -> ReviewPacket:
    """The double-blind packet: rendition, keyframes, contact sheet, presence timeline, duplicate
    segments and reasons, as API paths of this assignment; nothing naming the teacher, school or
    uploader."""
    assignment = assigned_review(session, user, assignment_id)
    sub = session.get(Submission, assignment.submission_id)
    meta = session.get(SubmissionMeta, sub.id)
    decision = session.exec(
        select(ReviewDecision).where(ReviewDecision.assignment_id == assignment.id)
    ).first()
    base = _packet_path(assignment.id)
    audit_read(
        engine,
        request,
        user,
        "submission",
        sub.id,
        region=_school(session, sub),
        detail={"assignment_id": assignment.id, "media": "packet"},
    )
    return ReviewPacket(
        assignment_id=assignment.id,
        kind=assignment.kind,
        level=assignment.level,
        status=assignment.status,
        micro_capabilities=list(meta.micro_capabilities) if meta else [],
        screening_overall=meta.overall if meta else None,
        evidence=blind_report(sub.report, lambda digest: f"{base}/media/{digest}"),
        decision=_reviewer_decision(decision) if decision else None,
        decision_url=f"{base}/decision",
    )


def _school(session: Session, sub: Submission) -> str | None:
    teacher = session.get(Teacher, sub.teacher_id) if sub.teacher_id else None
    return teacher.school_code if teacher else None


_MEDIA_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The bytes (local storage)", "content": {"application/octet-stream": {}}},
    206: {"description": "A byte range (local storage)", "content": {"application/octet-stream": {}}},
    307: {"description": "Redirect to a presigned GET (S3)"},
    **responses(401, 403, 404, 416, 422),
}


@router.get("/v1/reviews/{assignment_id}/media/{digest}", response_class=Response, responses=_MEDIA_RESPONSES)
def get_packet_media(
    assignment_id: ID,
    digest: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")],
    request: Request,
    user: Reviewing,
    session: SessionDep,
    engine: EngineDep,
    store: StoreDep,
) -> Response:
    """One artifact the packet links to (HTTP Range, or a redirect to a presigned GET)."""
    assignment = assigned_review(session, user, assignment_id)
    sub = session.get(Submission, assignment.submission_id)
    if digest not in packet_media(sub.report):
        raise ApiError(404, "no_media")
    audit_read(
        engine,
        request,
        user,
        "submission",
        sub.id,
        region=_school(session, sub),
        detail={"assignment_id": assignment.id, "media": digest},
    )
    return blob_response(request, store, key_for_digest(digest), digest[:16])


@router.post(
    "/v1/reviews/{assignment_id}/decision",
    status_code=201,
    response_model=ReviewerDecisionPublic,
    responses=responses(401, 403, 404, 409, 422),
)
def post_decision(
    assignment_id: ID, body: DecisionCreate, request: Request, user: Reviewing, engine: EngineDep
) -> ReviewerDecisionPublic:
    """Score the assignment 0–100 (excellent ≥ 90, pass 60–89, fail < 60), optionally overriding the
    screening verdict with a reason; announced as ``review.decided``."""
    try:
        with session_scope(engine) as session:
            assignment = assigned_review(session, user, assignment_id)
            decision = review.decide(
                session,
                assignment,
                score=body.score,
                comment=body.comment,
                origin=Origin.of(request, user),
                override_overall=body.override.overall if body.override else None,
                override_reason=body.override.reason if body.override else None,
            )
    except ReviewError as exc:
        raise ApiError(exc.status, exc.code, str(exc)) from None
    return _reviewer_decision(decision)


# -- decisions as teachers and administrators see them ---------------------------------------------------
def _dispute_public(session: Session, d: ReviewDispute) -> DisputePublic:
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
            "dispute": _dispute_public(session, dispute) if dispute else None,
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
        raise ApiError(403, "forbidden")
    return conditions[0] if len(conditions) == 1 else (conditions[0] | conditions[1])


def _visible_decision(session: Session, user: Principal, decision_id: str) -> ReviewDecision:
    row = session.exec(
        select(ReviewDecision)
        .join(Submission, col(Submission.id) == col(ReviewDecision.submission_id))
        .join(Teacher, col(Teacher.id) == col(Submission.teacher_id))
        .where(ReviewDecision.id == decision_id, _decision_scope(user))
    ).first()
    if row is None:
        raise ApiError(404, "not_found")
    return row


@router.get("/v1/decisions", response_model=DecisionPage, responses=responses(401, 403, 422))
def list_decisions(
    user: CurrentUser,
    session: SessionDep,
    submission_id: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")] = None,
    limit: Limit = 50,
    cursor: Annotated[str | None, Query(pattern=CURSOR_QUERY)] = None,
) -> DecisionPage:
    """Decisions on the caller's own submissions (a teacher) or their region's (an administrator),
    newest first; never who made them."""
    stmt = (
        select(ReviewDecision)
        .join(Submission, col(Submission.id) == col(ReviewDecision.submission_id))
        .join(Teacher, col(Teacher.id) == col(Submission.teacher_id))
        .where(_decision_scope(user), _before(ReviewDecision.created_at, ReviewDecision.id, cursor))
        .order_by(col(ReviewDecision.created_at).desc(), col(ReviewDecision.id).desc())
        .limit(limit + 1)
    )
    if submission_id is not None:
        stmt = stmt.where(ReviewDecision.submission_id == submission_id)
    rows = session.exec(stmt).all()
    page = rows[:limit]
    more = len(rows) > limit
    return DecisionPage(
        data=[decision_public(session, d) for d in page],
        next_cursor=_encode_cursor(page[-1].created_at, page[-1].id) if more else None,
    )


@router.get(
    "/v1/decisions/{decision_id}", response_model=DecisionPublic, responses=responses(401, 403, 404, 422)
)
def get_decision(decision_id: ID, user: CurrentUser, session: SessionDep) -> DecisionPublic:
    return decision_public(session, _visible_decision(session, user, decision_id))


@router.post(
    "/v1/decisions/{decision_id}/dispute",
    status_code=201,
    response_model=DisputePublic,
    responses=responses(401, 403, 404, 409, 422),
)
def post_dispute(
    decision_id: ID, body: DisputeCreate, request: Request, user: Disputing, engine: EngineDep
) -> DisputePublic:
    """Dispute a decision on one's own submission, once: a reviewer from another unit at the next
    level up re-checks it (争议复检)."""
    try:
        with session_scope(engine) as session:
            decision = session.get(ReviewDecision, decision_id)
            sub = session.get(Submission, decision.submission_id) if decision else None
            if sub is None or user.teacher_id is None or sub.teacher_id != user.teacher_id:
                raise ApiError(404, "not_found")
            row = review.dispute(
                session,
                decision,
                raised_by=user.user_id,
                reason=body.reason,
                origin=Origin.of(request, user),
                seed=review_seed(decision.id),
            )
            return _dispute_public(session, row)
    except ReviewError as exc:
        raise ApiError(exc.status, exc.code, exc.detail or str(exc)) from None


def review_seed(decision_id: str) -> int:
    """The seed of a dispute's reviewer draw: fixed by the decision, so the draw can be replayed."""
    return int(stable_unit(0, "dispute", decision_id) * 2**31)
