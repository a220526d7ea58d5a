"""What an administrator's dashboard reads beyond the statistics (``core.admin.region_stats``): the
queue of flagged submissions, duplicate clusters with who submitted first, and webhook delivery health.
Everything is of one region; members of a cluster outside what the administrator oversees are counted,
never named."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session, col, func, select

from core import admin, regions
from core.regions import in_region
from models.dedup import DuplicateMatch
from models.outbox import DeliveryPublic, DeliveryStatus, Event, WebhookDelivery
from models.submissions import Overall, Submission, SubmissionMeta, SubmissionSummary
from models.teachers import Teacher

FLAGGED = (Overall.invalid, Overall.duplicate, Overall.needs_review)
FLAGGING_MATCHES = ("duplicate", "needs_review")


def flagged_submissions(
    session: Session, region: str, cursor: str | None = None, limit: int = 50
) -> tuple[list[SubmissionSummary], str | None]:
    """A page of the region's submissions whose verdict is invalid, duplicate or needs review, newest
    first, after ``cursor``; and the cursor of the next page (None on the last). ``ValueError`` for
    a cursor that is not one of this list's."""
    stmt = (
        select(Submission, Teacher.school_code, Teacher.subject, SubmissionMeta)
        .join(Teacher, col(Submission.teacher_id) == col(Teacher.id))
        .join(SubmissionMeta, col(SubmissionMeta.submission_id) == col(Submission.id))
        .where(in_region(Teacher.school_code, region), col(SubmissionMeta.overall).in_(FLAGGED))
    )
    rows, next_cursor = admin.SUBMISSIONS_ORDER.page(
        session.exec(admin.SUBMISSIONS_ORDER.select(stmt, cursor, limit)).all(),
        limit,
        key=lambda row: (row[0].created_at, row[0].id),
    )
    return [
        SubmissionSummary(
            id=sub.id,
            teacher_id=sub.teacher_id,
            school_code=school,
            subject=subject,
            status=sub.status,
            overall=meta.overall,
            duplicate=bool(meta.duplicate),
            micro_capabilities=list(meta.micro_capabilities or []),
            created_at=sub.created_at,
            updated_at=sub.updated_at,
        )
        for sub, school, subject, meta in rows
    ], next_cursor


@dataclass(frozen=True)
class Member:
    id: str
    teacher_id: str | None
    school_code: str | None
    created_at: datetime
    first: bool


@dataclass
class Cluster:
    """Submissions joined by flagging duplicate matches: those the administrator oversees by id (oldest
    first), the rest counted; ``first_outside`` when the earliest of all lies outside."""

    members: list[Member] = field(default_factory=list)
    outside: int = 0
    first_outside: bool = False
    verdict: str = "needs_review"  # duplicate when any of its matches is one


@dataclass
class ClusterPage:
    """One page of the clusters, largest first: ``page`` counts from 1 of ``pages``."""

    clusters: list[Cluster]
    total: int
    page: int
    pages: int


def duplicate_clusters(
    session: Session, region: str, oversees: str, page: int = 1, per_page: int = 20
) -> ClusterPage:
    """Page ``page`` of the clusters that hold a submission of ``region``, largest first; members
    outside ``oversees`` are only counted. A page past the last gives the last."""
    in_reach = (
        select(Submission.id)
        .join(Teacher, col(Submission.teacher_id) == col(Teacher.id))
        .where(in_region(Teacher.school_code, region))
    )
    edges = session.exec(
        select(DuplicateMatch.submission_id, DuplicateMatch.other_id, DuplicateMatch.verdict).where(
            col(DuplicateMatch.submission_id).in_(in_reach),
            col(DuplicateMatch.verdict).in_(FLAGGING_MATCHES),
        )
    ).all()
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    strongest: dict[str, str] = {}
    for a, b, _ in edges:
        parent[root(a)] = root(b)
    for a, _, verdict in edges:
        r = root(a)
        strongest[r] = "duplicate" if verdict == "duplicate" else strongest.get(r, verdict)
    info = {
        sid: (teacher, school, created)
        for sid, teacher, school, created in session.exec(
            select(Submission.id, Submission.teacher_id, Teacher.school_code, Submission.created_at)
            .outerjoin(Teacher, col(Submission.teacher_id) == col(Teacher.id))
            .where(col(Submission.id).in_(list(parent)))
        ).all()
    }
    groups: dict[str, list[str]] = {}
    for sid in parent:
        if sid in info:
            groups.setdefault(root(sid), []).append(sid)
    clusters = []
    for r, ids in groups.items():
        ids.sort(key=lambda s: (info[s][2], s))
        cluster = Cluster(verdict=strongest.get(r, "needs_review"))
        for n, sid in enumerate(ids):
            teacher, school, created = info[sid]
            if regions.contains(oversees, school):
                cluster.members.append(Member(sid, teacher, school, created, first=n == 0))
            else:
                cluster.outside += 1
                cluster.first_outside = cluster.first_outside or n == 0
        clusters.append(cluster)
    clusters.sort(key=lambda c: (-(len(c.members) + c.outside), c.members[0].created_at, c.members[0].id))
    pages = max(1, -(-len(clusters) // per_page))
    page = min(max(1, page), pages)
    return ClusterPage(clusters[(page - 1) * per_page : page * per_page], len(clusters), page, pages)


@dataclass
class WebhookHealth:
    counts: dict[str, int]
    last_delivered_at: datetime | None
    oldest_pending_at: datetime | None
    recent_dead: list[DeliveryPublic]


def webhook_health(session: Session, region: str) -> WebhookHealth:
    """Deliveries of the region's events by status, the last success, the oldest still waiting, and
    the newest dead letters."""
    of_region = (
        select(WebhookDelivery.status, func.count(), func.max(WebhookDelivery.delivered_at))
        .join(Event, col(Event.id) == col(WebhookDelivery.event_id))
        .where(in_region(Event.region, region))
        .group_by(WebhookDelivery.status)
    )
    counts = {s.value: 0 for s in DeliveryStatus}
    last = None
    for status, n, delivered in session.exec(of_region).all():
        counts[str(status)] = n
        last = delivered if status == DeliveryStatus.delivered else last
    oldest = session.exec(
        select(func.min(WebhookDelivery.created_at))
        .join(Event, col(Event.id) == col(WebhookDelivery.event_id))
        .where(in_region(Event.region, region), WebhookDelivery.status == DeliveryStatus.pending)
    ).one()
    dead = admin.list_deliveries(session, region, DeliveryStatus.dead, limit=5).data
    return WebhookHealth(counts, last, oldest, dead)
