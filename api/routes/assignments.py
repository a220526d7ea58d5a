"""Drawing review assignments: peer review of a school or county, 100% school review, spot checks."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.audit import origin_of
from api.deps import Admin, EngineDep, SettingsDep
from api.errors import ApiError, responses
from core import regions
from core.accounts import Principal
from core.db import session_scope
from core.review.assign import Drawn, assign_peers, assign_school_review, draw_spot_check
from models.review import (
    AssignmentAdmin,
    BatchPublic,
    PeerAssignCreate,
    SchoolReviewCreate,
    SpotCheckCreate,
)

router = APIRouter(prefix="/v1/assignments", tags=["review"])


def batch_public(drawn: Drawn) -> BatchPublic:
    """A batch as its administrators see it (with submissions and reviewers)."""
    b = drawn.batch
    return BatchPublic(
        id=b.id,
        kind=b.kind,
        level=b.level,
        region=b.region,
        seed=b.seed,
        rate=b.rate,
        flagged_factor=b.flagged_factor,
        population=b.population,
        assigned=b.assigned,
        detail=b.detail,
        created_at=b.created_at,
        assignments=[
            AssignmentAdmin(
                id=a.id,
                submission_id=a.submission_id,
                reviewer_id=a.reviewer_id,
                kind=a.kind,
                level=a.level,
                reason=a.reason,
                recused_unit=a.recused_unit,
            )
            for a in drawn.assignments
        ],
    )


def _administered_region(user: Principal, region: str) -> str:
    region = regions.normalize(region)
    if not user.administers(region):
        raise ApiError(404, "not_found")
    return region


@router.post(
    "/peer", status_code=201, response_model=BatchPublic, responses=responses(401, 403, 404, 409, 422)
)
def create_peer_assignments(
    body: PeerAssignCreate, request: Request, user: Admin, engine: EngineDep, settings: SettingsDep
) -> BatchPublic:
    """Give each screened submission of a school or county to peers of its subject group (never the
    author), each teacher reviewing about as many as they submitted. All or nothing: 409 when some
    subject group is too small."""
    region = _administered_region(user, body.region)
    with session_scope(engine) as session:
        drawn = assign_peers(
            session,
            region=region,
            per_submission=settings.peer_reviewers_per_submission,
            origin=origin_of(request, user),
            seed=body.seed,
        )
    return batch_public(drawn)


@router.post(
    "/school", status_code=201, response_model=BatchPublic, responses=responses(401, 403, 404, 409, 422)
)
def create_school_review(
    body: SchoolReviewCreate, request: Request, user: Admin, engine: EngineDep
) -> BatchPublic:
    """100% school review: give every screened submission of a school (or of each school in a larger
    unit) not yet under school review to one reviewer of its own school, never the author or an
    earlier reviewer. All or nothing: 409 when some school has nobody left to review a submission."""
    region = _administered_region(user, body.region)
    with session_scope(engine) as session:
        drawn = assign_school_review(session, region=region, origin=origin_of(request, user), seed=body.seed)
    return batch_public(drawn)


@router.post(
    "/spot-check", status_code=201, response_model=BatchPublic, responses=responses(401, 403, 404, 409, 422)
)
def create_spot_check(
    body: SpotCheckCreate, request: Request, user: Admin, engine: EngineDep, settings: SettingsDep
) -> BatchPublic:
    """Draw a spot-check sample of a county, city or province (at the level's configured rate unless
    given), stratified so every school, subject and verdict is covered, flagged submissions
    over-sampled, each to a reviewer from outside the submission's own unit at that level."""
    region = _administered_region(user, body.region)
    rate = body.rate if body.rate is not None else settings.spot_check_rates[body.level.value]
    with session_scope(engine) as session:
        drawn = draw_spot_check(
            session,
            level=body.level,
            region=region,
            rate=rate,
            flagged_factor=settings.review_flagged_factor,
            origin=origin_of(request, user),
            seed=body.seed,
        )
    return batch_public(drawn)
