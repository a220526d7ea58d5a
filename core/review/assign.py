"""Drawing assignments into the database: peer assignment, 100% school review and spot-check
samples, audited.

Both run in the caller's transaction and either assign everything or nothing: any submission left
without enough eligible reviewers raises ``NoEligibleReviewer`` (listing every shortfall).
"""

from __future__ import annotations

import math
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from sqlmodel import Session, col, select

from core import regions
from core.audit import Origin, record
from core.review import queries
from core.review.eligibility import Evidence, Reviewer, may_review
from core.review.errors import InvalidScope, NoEligibleReviewer
from core.review.peer import Peer, PeerSubmission, plan_peers
from core.review.sampling import Candidate, draw_sample
from core.review.stable import stable_unit
from core.review.units import level_of, recused_unit, unit_of
from models.accounts import Role, User, UserRole
from models.base import utcnow
from models.review import MAX_SEED, ReviewAssignment, ReviewBatch, ReviewKind, ReviewLevel, SpotLevel
from models.teachers import Teacher


@dataclass
class Drawn:
    batch: ReviewBatch
    assignments: list[ReviewAssignment]


def new_seed() -> int:
    return secrets.randbelow(MAX_SEED + 1)


def _peers(session: Session, region: str, level: ReviewLevel) -> list[Peer]:
    """One active user per teacher with a subject in the region who may review as a peer (holding
    the ``teacher`` or ``reviewer`` role); a teacher with several such users reviews as the first."""
    rows = session.exec(
        select(User.id, User.teacher_id, Teacher.school_code, Teacher.subject)
        .join(UserRole, col(UserRole.user_id) == col(User.id))
        .join(Teacher, col(Teacher.id) == col(User.teacher_id))
        .where(
            col(UserRole.role).in_([Role.teacher, Role.reviewer]),
            col(User.disabled).is_(False),
            col(Teacher.subject).is_not(None),
            regions.in_region(Teacher.school_code, region),
        )
        .order_by(col(User.id))
    ).all()
    first: dict[str, Peer] = {}
    for user_id, teacher_id, school, subject in rows:
        first.setdefault(teacher_id, Peer(user_id, teacher_id, _group(school, subject, level)))
    return list(first.values())


def _group(school: str | None, subject: str | None, level: ReviewLevel) -> str:
    """A subject group: the unit at ``level`` and the subject."""
    return f"{unit_of(school, level)}/{subject or ''}"


def _save(
    session: Session, origin: Origin, batch: ReviewBatch, made: list[tuple[Evidence, str, str]]
) -> Drawn:
    """Store the batch and its assignments ``(submission, reviewer id, reason)``; audit each."""
    batch.assigned = len(made)
    session.add(batch)
    session.flush()
    assignments = []
    for sub, reviewer_id, reason in made:
        a = ReviewAssignment(
            batch_id=batch.id,
            kind=batch.kind,
            level=batch.level,
            submission_id=sub.id,
            reviewer_id=reviewer_id,
            seed=batch.seed,
            reason=reason,
            recused_unit=recused_unit(sub.school, batch.level) if batch.kind != ReviewKind.peer else None,
            created_by=batch.created_by,
            created_at=utcnow(),
        )
        session.add(a)
        assignments.append(a)
    session.flush()
    for a, (sub, _, _) in zip(assignments, made, strict=True):
        detail = {"batch_id": batch.id, "submission_id": a.submission_id, "reviewer_id": a.reviewer_id}
        record(session, origin, "assignment.create", "assignment", a.id, region=sub.school, detail=detail)
    record(
        session,
        origin,
        "assignment.batch",
        "batch",
        batch.id,
        region=batch.region,
        detail={
            "kind": batch.kind.value,
            "level": batch.level.value,
            "seed": batch.seed,
            "assigned": len(made),
        },
    )
    session.flush()
    return Drawn(batch, assignments)


def assign_peers(
    session: Session, *, region: str, per_submission: int, origin: Origin, seed: int | None = None
) -> Drawn:
    """Give every screened submission of a school or county ``per_submission`` peer reviewers of its
    subject group in that unit (teachers with a user account), never the author; each teacher's
    load follows what they submitted. Submissions already holding peer reviewers get the rest."""
    region = regions.normalize(region)
    level = level_of(region)
    if level not in (ReviewLevel.school, ReviewLevel.county):
        raise InvalidScope(f"peer review is organised for a school or a county, not a {level.value}")
    queries.serialize(session)
    seed = new_seed() if seed is None else seed
    population = [sub for sub, _ in queries.screened_in(session, region)]
    existing = queries.assignments_in(session, region)
    seen = queries.reviewers_by_submission(existing)
    peer_counts = Counter(a.submission_id for a in existing if a.kind == ReviewKind.peer)
    peer_load = Counter(a.reviewer_id for a in existing if a.kind == ReviewKind.peer)

    peers = _peers(session, region, level)
    submitted = Counter(sub.teacher_id for sub in population)
    quota = {p.user_id: per_submission * submitted.get(p.teacher_id, 0) for p in peers}
    by_id = {sub.id: sub for sub in population}
    todo = [
        PeerSubmission(
            sub.id,
            sub.teacher_id or "",
            _group(sub.school, sub.subject, level),
            per_submission - peer_counts.get(sub.id, 0),
            frozenset(seen.get(sub.id, set()) | ({sub.uploaded_by} if sub.uploaded_by else set())),
        )
        for sub in population
        if peer_counts.get(sub.id, 0) < per_submission
    ]
    plan = plan_peers(todo, peers, quota=quota, load=dict(peer_load), seed=seed)
    if plan.shortfalls:
        raise NoEligibleReviewer(
            f"{len(plan.shortfalls)} submission(s) lack {per_submission} peers of their subject group",
            plan.shortfalls,
        )
    batch = ReviewBatch(
        kind=ReviewKind.peer,
        level=level,
        region=region,
        seed=seed,
        population=len(population),
        detail={"per_submission": per_submission, "submissions": len(todo), "peers": len(peers)},
        created_by=origin.actor_id,
        created_at=utcnow(),
    )
    made = [(by_id[sub_id], user_id, "peer") for sub_id, user_id in plan.pairs]
    return _save(session, origin, batch, made)


def choose_reviewer(
    pool: list[Reviewer],
    sub: Evidence,
    kind: ReviewKind,
    level: ReviewLevel,
    *,
    exclude: set[str],
    load: Counter[str],
    seed: int,
) -> Reviewer | None:
    """The least loaded eligible reviewer (ties broken by the seed), or None."""
    eligible = [r for r in pool if r.user_id not in exclude and may_review(r, sub, kind, level)]
    if not eligible:
        return None
    return min(eligible, key=lambda r: (load[r.user_id], stable_unit(seed, sub.id, r.user_id), r.user_id))


def _give_each(
    subs: list[tuple[Evidence, str]],
    pool_for: Callable[[Evidence], list[Reviewer]],
    kind: ReviewKind,
    level: ReviewLevel,
    *,
    seen: dict[str, set[str]],
    load: Counter[str],
    seed: int,
) -> tuple[list[tuple[Evidence, str, str]], list[dict[str, str | None]]]:
    """One reviewer for each ``(submission, reason)`` from its pool (``choose_reviewer``, never anyone
    who already reviewed it), counting each pick into ``load``; returns ``(made, shortfalls)``."""
    made, shortfalls = [], []
    for sub, reason in subs:
        reviewer = choose_reviewer(
            pool_for(sub), sub, kind, level, exclude=seen.get(sub.id, set()), load=load, seed=seed
        )
        if reviewer is None:
            recused = recused_unit(sub.school, level)
            shortfalls.append(
                {"submission_id": sub.id, "level": level.value, "school": sub.school, "recused_unit": recused}
            )
            continue
        load[reviewer.user_id] += 1
        made.append((sub, reviewer.user_id, reason))
    return made, shortfalls


def assign_school_review(session: Session, *, region: str, origin: Origin, seed: int | None = None) -> Drawn:
    """100% school review: give every screened submission of the region (a school, or every school
    of a larger unit) not yet under school review to one reviewer of its own school (an active
    ``reviewer`` whose region is that school), never the author, the uploader or anyone who already
    reviewed it; least loaded first. All or nothing."""
    region = regions.normalize(region)
    queries.serialize(session)
    seed = new_seed() if seed is None else seed
    existing = queries.assignments_in(session, region)
    done = {a.submission_id for a in existing if a.kind == ReviewKind.school}
    seen = queries.reviewers_by_submission(existing)
    population = [sub for sub, _ in queries.screened_in(session, region)]
    todo = sorted(
        (sub for sub in population if sub.id not in done),
        key=lambda sub: (stable_unit(seed, "school", sub.id), sub.id),
    )
    by_school: dict[str, list[Reviewer]] = {}
    for r in queries.expert_reviewers(session):
        school = unit_of(r.region, ReviewLevel.school)
        if school is not None and regions.contains(region, school):
            by_school.setdefault(school, []).append(r)
    made, shortfalls = _give_each(
        [(sub, "school") for sub in todo],
        lambda sub: by_school.get(sub.school or "", []),
        ReviewKind.school,
        ReviewLevel.school,
        seen=seen,
        load=queries.open_load(session),
        seed=seed,
    )
    if shortfalls:
        raise NoEligibleReviewer(
            f"{len(shortfalls)} submission(s) have no eligible reviewer in their own school", shortfalls
        )
    batch = ReviewBatch(
        kind=ReviewKind.school,
        level=ReviewLevel.school,
        region=region,
        seed=seed,
        rate=1.0,
        population=len(population),
        detail={
            "submissions": len(todo),
            "already_reviewed": len(population) - len(todo),
            "schools": len({sub.school for sub in todo}),
            "reviewers": sum(len(pool) for pool in by_school.values()),
        },
        created_by=origin.actor_id,
        created_at=utcnow(),
    )
    return _save(session, origin, batch, made)


def draw_spot_check(
    session: Session,
    *,
    level: SpotLevel,
    region: str,
    rate: float,
    flagged_factor: float,
    origin: Origin,
    seed: int | None = None,
) -> Drawn:
    """Sample the region's screened submissions not yet spot-checked at ``level`` (stratified, flagged
    ones over-sampled; see ``core.review.sampling``) and give each to one reviewer from outside the
    submission's own unit at that level (see ``core.review.units``)."""
    region = regions.normalize(region)
    review_level = ReviewLevel(level.value)
    if level_of(region) != review_level:
        raise InvalidScope(f"a {level.value} spot check needs a {level.value} region code, got {region!r}")
    queries.serialize(session)
    seed = new_seed() if seed is None else seed
    kind = ReviewKind(level.value)
    existing = queries.assignments_in(session, region)
    done = {a.submission_id for a in existing if a.kind == kind}
    seen = queries.reviewers_by_submission(existing)
    population = [
        (sub, overall) for sub, overall in queries.screened_in(session, region) if sub.id not in done
    ]
    candidates = [
        Candidate(sub.id, sub.school or "", sub.subject or "", overall) for sub, overall in population
    ]
    picks = draw_sample(candidates, rate, seed, flagged_factor)
    by_id = {sub.id: sub for sub, _ in population}
    pool = queries.expert_reviewers(session)
    made, shortfalls = _give_each(
        [(by_id[pick.id], pick.reason) for pick in picks],
        lambda _: pool,
        kind,
        review_level,
        seen=seen,
        load=queries.open_load(session),
        seed=seed,
    )
    if shortfalls:
        raise NoEligibleReviewer(
            f"{len(shortfalls)} sampled submission(s) have no eligible {level.value} reviewer", shortfalls
        )
    flagged = {c.id for c in candidates if c.flagged}
    batch = ReviewBatch(
        kind=kind,
        level=review_level,
        region=region,
        seed=seed,
        rate=rate,
        flagged_factor=flagged_factor,
        population=len(candidates),
        detail={
            "target": math.ceil(rate * len(candidates) - 1e-9),
            "flagged_population": len(flagged),
            "flagged_sampled": sum(1 for p in picks if p.id in flagged),
            "by_reason": dict(Counter(p.reason for p in picks)),
            "schools": len({c.school for c in candidates}),
            "subjects": len({c.subject for c in candidates}),
        },
        created_by=origin.actor_id,
        created_at=utcnow(),
    )
    return _save(session, origin, batch, made)
