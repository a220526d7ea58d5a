"""Reviewing: a reviewer's assignments, the double-blind packet and its media, decisions; teachers'
view of the decisions on their submissions (never who made them) and their disputes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from api.audit import audit_read, origin_of, read_packet
from api.deps import CurrentUser, EngineDep, SessionDep, StoreDep, require_roles
from api.errors import responses
from api.media import blob_response
from core.access import assigned_review
from core.accounts import Principal
from core.db import session_scope
from core.errors import DomainError
from core.pagination import TIME_ID_CURSOR
from core.review import decisions as review
from core.review import listings
from core.review.packet import packet_media
from core.storage import key_for_digest
from models.accounts import Role
from models.common import ID_PATTERN
from models.review import (
    AssignmentStatus,
    DecisionCreate,
    DecisionPage,
    DecisionPublic,
    DisputeCreate,
    DisputePublic,
    ReviewerDecisionPublic,
    ReviewPacket,
    ReviewPage,
)
from models.submissions import Submission

router = APIRouter(tags=["review"])

ID = Annotated[str, Path(pattern=ID_PATTERN)]
Reviewing = Annotated[Principal, Depends(require_roles(Role.reviewer, Role.teacher))]
Disputing = Annotated[Principal, Depends(require_roles(Role.teacher))]
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(pattern=TIME_ID_CURSOR)]


@router.get("/v1/reviews", response_model=ReviewPage, responses=responses(401, 403, 422))
def list_reviews(
    user: Reviewing,
    session: SessionDep,
    status: AssignmentStatus | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> ReviewPage:
    """The caller's assignments, newest first (recused and cancelled ones left out)."""
    return listings.assignments(session, user, status, limit, cursor)


@router.get(
    "/v1/reviews/{assignment_id}", response_model=ReviewPacket, responses=responses(401, 403, 404, 422)
)
def get_packet(
    assignment_id: ID, request: Request, user: Reviewing, session: SessionDep, engine: EngineDep
) -> ReviewPacket:
    """The double-blind packet: rendition, keyframes, contact sheet, presence timeline, duplicate
    segments and reasons, as API paths of this assignment; nothing naming the teacher, school or
    uploader."""
    return read_packet(session, engine, request, user, assignment_id, "packet")


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
        raise DomainError("no_media")
    audit_read(
        engine,
        request,
        user,
        "submission",
        sub.id,
        region=listings.school_of(session, sub),
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
    with session_scope(engine) as session:
        assignment = assigned_review(session, user, assignment_id)
        decision = review.decide(
            session,
            assignment,
            score=body.score,
            comment=body.comment,
            origin=origin_of(request, user),
            override_overall=body.override.overall if body.override else None,
            override_reason=body.override.reason if body.override else None,
        )
    return listings.reviewer_decision(decision)


@router.get("/v1/decisions", response_model=DecisionPage, responses=responses(401, 403, 422))
def list_decisions(
    user: CurrentUser,
    session: SessionDep,
    submission_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> DecisionPage:
    """Decisions on the caller's own submissions (a teacher) or their region's (an administrator),
    newest first; never who made them."""
    return listings.decisions(session, user, submission_id, limit, cursor)


@router.get(
    "/v1/decisions/{decision_id}", response_model=DecisionPublic, responses=responses(401, 403, 404, 422)
)
def get_decision(decision_id: ID, user: CurrentUser, session: SessionDep) -> DecisionPublic:
    return listings.decision_public(session, listings.visible_decision(session, user, decision_id))


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
    with session_scope(engine) as session:
        decision = listings.own_decision(session, user, decision_id)
        row = review.dispute(
            session,
            decision,
            raised_by=user.user_id,
            reason=body.reason,
            origin=origin_of(request, user),
            seed=listings.review_seed(decision.id),
        )
        return listings.dispute_public(session, row)
