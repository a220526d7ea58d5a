"""Human review: assignment batches, assignments, decisions and disputes, with their API schemas.

A batch is one draw (peer assignment or spot-check sample) made reproducible by its seed. An
assignment gives one submission to one reviewer; a decision answers it (score 0–100, band, optional
override of the screening verdict); a teacher may dispute a decision once, which creates a re-check
assignment at the next level up.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlmodel import Column, Field, SQLModel

from models.base import JSONType, UTCDateTime, new_id, status_type, utcnow
from models.common import REGION_PATTERN
from models.submissions import Overall

MAX_SEED = 2**31 - 1


class ReviewKind(StrEnum):
    peer = "peer"
    school = "school"
    county = "county"
    city = "city"
    province = "province"
    dispute = "dispute"


class ReviewLevel(StrEnum):
    """The unit level an assignment is made at (and that recusal applies to)."""

    school = "school"
    county = "county"
    city = "city"
    province = "province"


class SpotLevel(StrEnum):
    county = "county"
    city = "city"
    province = "province"


class AssignmentStatus(StrEnum):
    open = "open"
    decided = "decided"
    cancelled = "cancelled"


class Band(StrEnum):
    excellent = "excellent"  # >= 90
    pass_ = "pass"  # 60-89
    fail = "fail"  # < 60


class DisputeStatus(StrEnum):
    open = "open"
    resolved = "resolved"


class DisputeOutcome(StrEnum):
    upheld = "upheld"  # the re-check lands in the same band
    changed = "changed"


class ReviewBatch(SQLModel, table=True):
    """One draw of assignments, with everything needed to reproduce it."""

    __tablename__ = "review_batches"

    id: str = Field(default_factory=lambda: new_id("rb"), primary_key=True, max_length=64)
    kind: ReviewKind = Field(sa_type=status_type(ReviewKind))
    level: ReviewLevel = Field(sa_type=status_type(ReviewLevel))
    region: str = Field(index=True, max_length=128)
    seed: int = Field(sa_type=sa.BigInteger)
    rate: float | None = None
    flagged_factor: float | None = None
    population: int = 0
    assigned: int = 0
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    created_by: str = Field(max_length=128)  # a user id, or "cli:<os user>"
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class ReviewAssignment(SQLModel, table=True):
    """One submission given to one reviewer. A reviewer never gets the same submission twice."""

    __tablename__ = "review_assignments"
    __table_args__ = (
        sa.UniqueConstraint("submission_id", "reviewer_id", name="uq_review_assignments_submission_reviewer"),
        sa.Index("ix_review_assignments_reviewer_status", "reviewer_id", "status"),
    )

    id: str = Field(default_factory=lambda: new_id("ra"), primary_key=True, max_length=64)
    batch_id: str | None = Field(default=None, foreign_key="review_batches.id", index=True, max_length=64)
    kind: ReviewKind = Field(sa_type=status_type(ReviewKind))
    level: ReviewLevel = Field(sa_type=status_type(ReviewLevel))
    submission_id: str = Field(foreign_key="submissions.id", index=True, max_length=64)
    reviewer_id: str = Field(foreign_key="users.id", max_length=64)
    status: AssignmentStatus = Field(default=AssignmentStatus.open, sa_type=status_type(AssignmentStatus))
    seed: int = Field(sa_type=sa.BigInteger)
    reason: str = Field(default="", max_length=32)  # why drawn: peer, rate, school_coverage, dispute…
    recused_unit: str | None = Field(default=None, max_length=128)  # the unit the reviewer is outside of
    created_by: str = Field(max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime())


class ReviewDecision(SQLModel, table=True):
    """A reviewer's answer to one assignment."""

    __tablename__ = "review_decisions"
    __table_args__ = (
        sa.CheckConstraint("score >= 0 AND score <= 100", name="score_range"),
        sa.CheckConstraint(
            "override_overall IS NULL OR override_reason IS NOT NULL", name="override_has_reason"
        ),
    )

    id: str = Field(default_factory=lambda: new_id("rd"), primary_key=True, max_length=64)
    assignment_id: str = Field(foreign_key="review_assignments.id", unique=True, max_length=64)
    submission_id: str = Field(foreign_key="submissions.id", index=True, max_length=64)
    score: int
    band: Band = Field(sa_type=status_type(Band))
    screening_overall: Overall | None = Field(default=None, sa_type=status_type(Overall))
    override_overall: Overall | None = Field(default=None, sa_type=status_type(Overall))
    override_reason: str | None = Field(default=None, sa_type=sa.Text)
    comment: str = Field(default="", sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())


class ReviewDispute(SQLModel, table=True):
    """A teacher's dispute of one decision (at most one), re-checked at the next level up."""

    __tablename__ = "review_disputes"

    id: str = Field(default_factory=lambda: new_id("rdp"), primary_key=True, max_length=64)
    decision_id: str = Field(foreign_key="review_decisions.id", unique=True, max_length=64)
    submission_id: str = Field(foreign_key="submissions.id", index=True, max_length=64)
    raised_by: str = Field(foreign_key="users.id", max_length=64)
    reason: str = Field(sa_type=sa.Text)
    status: DisputeStatus = Field(default=DisputeStatus.open, sa_type=status_type(DisputeStatus))
    recheck_assignment_id: str = Field(foreign_key="review_assignments.id", unique=True, max_length=64)
    outcome: DisputeOutcome | None = Field(default=None, sa_type=status_type(DisputeOutcome))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime())
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime())


# -- API schemas -----------------------------------------------------------------------------------------
class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PeerAssignCreate(_Request):
    region: str = PydanticField(pattern=REGION_PATTERN, description="A school or county code")
    seed: int | None = PydanticField(default=None, ge=0, le=MAX_SEED, description="Default: random")


class SchoolReviewCreate(_Request):
    region: str = PydanticField(
        pattern=REGION_PATTERN, description="A school, or a larger unit to cover each of its schools"
    )
    seed: int | None = PydanticField(default=None, ge=0, le=MAX_SEED, description="Default: random")


class SpotCheckCreate(_Request):
    level: SpotLevel
    region: str = PydanticField(pattern=REGION_PATTERN, description="A region code at ``level``")
    rate: float | None = PydanticField(
        default=None, gt=0, le=1, description="Default: the configured rate of the level"
    )
    seed: int | None = PydanticField(default=None, ge=0, le=MAX_SEED, description="Default: random")


class AssignmentAdmin(BaseModel):
    """An assignment as its administrators see it."""

    id: str
    submission_id: str
    reviewer_id: str
    kind: ReviewKind
    level: ReviewLevel
    reason: str
    recused_unit: str | None


class BatchPublic(BaseModel):
    id: str
    kind: ReviewKind
    level: ReviewLevel
    region: str
    seed: int
    rate: float | None
    flagged_factor: float | None
    population: int
    assigned: int
    detail: dict[str, Any]
    created_at: datetime
    assignments: list[AssignmentAdmin]


class ReviewSummary(BaseModel):
    """One of the caller's assignments (no submission, teacher or school)."""

    id: str
    kind: ReviewKind
    level: ReviewLevel
    status: AssignmentStatus
    created_at: datetime
    packet: str


class ReviewPage(BaseModel):
    data: list[ReviewSummary]
    next_cursor: str | None


class OverrideCreate(_Request):
    overall: Overall = PydanticField(description="The verdict the reviewer finds instead of screening's")
    reason: str = PydanticField(min_length=1, max_length=2000)


class DecisionCreate(_Request):
    score: int = PydanticField(ge=0, le=100, description="excellent >= 90, pass 60-89, fail < 60")
    override: OverrideCreate | None = None
    comment: str = PydanticField(default="", max_length=4000)


class ReviewerDecisionPublic(BaseModel):
    """A decision as its reviewer sees it."""

    id: str
    assignment_id: str
    score: int
    band: Band
    screening_overall: Overall | None
    override_overall: Overall | None
    override_reason: str | None
    comment: str
    created_at: datetime


class ReviewPacket(BaseModel):
    """The double-blind packet of one assignment: no teacher, school, uploader or file name."""

    assignment_id: str
    kind: ReviewKind
    level: ReviewLevel
    status: AssignmentStatus
    micro_capabilities: list[str]
    screening_overall: Overall | None
    evidence: dict[str, Any] = PydanticField(
        description="rendition, poster, keyframes, contact sheet, presence timeline, duplicate segments "
        "and reasons; media as API paths of this assignment"
    )
    decision: ReviewerDecisionPublic | None
    decision_url: str


class DisputeCreate(_Request):
    reason: str = PydanticField(min_length=1, max_length=2000)


class DisputePublic(BaseModel):
    id: str
    decision_id: str
    status: DisputeStatus
    recheck_level: ReviewLevel
    outcome: DisputeOutcome | None
    recheck_score: int | None
    recheck_band: Band | None
    created_at: datetime
    resolved_at: datetime | None


class DecisionPublic(BaseModel):
    """A decision as the teacher (or an administrator) sees it: never who made it."""

    id: str
    submission_id: str
    kind: ReviewKind
    level: ReviewLevel
    score: int
    band: Band
    screening_overall: Overall | None
    override_overall: Overall | None
    override_reason: str | None
    comment: str
    created_at: datetime
    disputable: bool
    dispute: DisputePublic | None


class DecisionPage(BaseModel):
    data: list[DecisionPublic]
    next_cursor: str | None
