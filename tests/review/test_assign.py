"""Drawing assignments on a generated region: recusal never violated over many seeds, rates and
coverage, peer load balance, all-or-nothing when reviewers run out."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlmodel import Session, col, func, select, update

from core import regions
from core.audit import Origin
from core.review.assign import assign_peers, assign_school_review, draw_spot_check
from core.review.errors import InvalidScope, NoEligibleReviewer
from models.accounts import User
from models.audit import AuditEntry
from models.review import ReviewAssignment, SpotLevel
from tests.review.conftest import CITIES, Region

ORIGIN = Origin("tester", "127.0.0.1")
COUNTIES = [f"{city}.{county}" for city, counties in CITIES.items() for county in counties]


@contextmanager
def scratch(region: Region) -> Iterator[Session]:
    """A session whose writes are rolled back, so every draw sees the same region."""
    with Session(region.engine, expire_on_commit=False) as session:
        try:
            yield session
        finally:
            session.rollback()


def check_spot(region: Region, drawn, level: SpotLevel, code: str, rate: float) -> None:
    """Recusal, the rate and coverage of one spot-check draw."""
    depth = {"county": 3, "city": 2, "province": 1}[level.value]
    population = [
        s for s, t in region.submissions.items() if regions.contains(code, region.teacher_school[t])
    ]
    assert drawn.batch.population == len(population)
    assert len(drawn.assignments) >= math.ceil(rate * len(population))
    for a in drawn.assignments:
        school = region.teacher_school[region.submissions[a.submission_id]]
        own = ".".join(school.split(".")[:depth])
        parent = own.rpartition(".")[0]
        reviewer = region.user_region[a.reviewer_id]
        assert not regions.contains(own, reviewer), (level, school, reviewer)
        assert not parent or regions.contains(parent, reviewer)
        assert a.recused_unit == own
    sampled = [region.submissions[a.submission_id] for a in drawn.assignments]
    in_scope = {region.teacher_school[region.submissions[s]] for s in population}
    assert {region.teacher_school[t] for t in sampled} == in_scope
    assert {region.teacher_subject[t] for t in sampled} == {
        region.teacher_subject[t] for t in region.submissions.values()
    }
    assert len({a.submission_id for a in drawn.assignments}) == len(drawn.assignments)


@pytest.mark.parametrize(
    ("level", "codes", "rate"),
    [
        (SpotLevel.county, COUNTIES, 0.10),
        (SpotLevel.city, list(CITIES), 0.02),
        (SpotLevel.province, ["p1"], 0.005),
    ],
)
def test_spot_check_recusal_rate_and_coverage_over_many_seeds(region, level, codes, rate):
    for seed in range(12):
        for code in codes:
            with scratch(region) as session:
                drawn = draw_spot_check(
                    session, level=level, region=code, rate=rate, flagged_factor=3.0, origin=ORIGIN, seed=seed
                )
                check_spot(region, drawn, level, code, rate)


def test_spot_check_is_reproducible_and_audited(region):
    def pairs(seed: int) -> list[tuple[str, str, str]]:
        with scratch(region) as session:
            drawn = draw_spot_check(
                session,
                level=SpotLevel.city,
                region="p1.c2",
                rate=0.1,
                flagged_factor=3.0,
                origin=ORIGIN,
                seed=seed,
            )
            audited = session.exec(
                select(AuditEntry.action, func.count())
                .where(AuditEntry.actor_id == "tester")
                .group_by(AuditEntry.action)
            ).all()
            assert dict(audited) == {"assignment.create": len(drawn.assignments), "assignment.batch": 1}
            return sorted((a.submission_id, a.reviewer_id, a.reason) for a in drawn.assignments)

    assert pairs(9) == pairs(9)
    assert pairs(9) != pairs(10)


def test_flagged_submissions_are_oversampled(region):
    flagged_share = sum(o.value != "clear" for o in region.overall.values()) / len(region.overall)
    drawn_flagged = drawn_total = 0
    for seed in range(10):
        with scratch(region) as session:
            drawn = draw_spot_check(
                session,
                level=SpotLevel.province,
                region="p1",
                rate=0.1,
                flagged_factor=3.0,
                origin=ORIGIN,
                seed=seed,
            )
            drawn_flagged += sum(region.overall[a.submission_id].value != "clear" for a in drawn.assignments)
            drawn_total += len(drawn.assignments)
    assert drawn_flagged / drawn_total > 1.8 * flagged_share


def test_a_second_round_draws_only_what_was_not_yet_checked(region):
    with scratch(region) as session:
        first = draw_spot_check(
            session,
            level=SpotLevel.county,
            region="p1.c1.k1",
            rate=0.5,
            flagged_factor=3.0,
            origin=ORIGIN,
            seed=1,
        )
        second = draw_spot_check(
            session,
            level=SpotLevel.county,
            region="p1.c1.k1",
            rate=0.5,
            flagged_factor=3.0,
            origin=ORIGIN,
            seed=1,
        )
        assert second.batch.population == first.batch.population - len(first.assignments)
        assert not {a.submission_id for a in first.assignments} & {
            a.submission_id for a in second.assignments
        }


def test_no_eligible_reviewer_is_an_error_and_assigns_nothing(region):
    with scratch(region) as session:
        # Only the reviewers of p1.c1.k1 itself remain: a county check there has nobody to recuse to.
        others = [u for u, code in region.user_region.items() if not regions.contains("p1.c1.k1", code)]
        session.exec(update(User).where(col(User.id).in_(others)).values(disabled=True))
        with pytest.raises(NoEligibleReviewer) as info:
            draw_spot_check(
                session,
                level=SpotLevel.county,
                region="p1.c1.k1",
                rate=0.1,
                flagged_factor=3.0,
                origin=ORIGIN,
                seed=3,
            )
        assert info.value.detail and all(d["recused_unit"] == "p1.c1.k1" for d in info.value.detail)
        assert session.exec(select(func.count()).select_from(ReviewAssignment)).one() == 0


def test_region_must_match_the_level(region):
    with scratch(region) as session, pytest.raises(InvalidScope):
        draw_spot_check(
            session, level=SpotLevel.county, region="p1.c1", rate=0.1, flagged_factor=3.0, origin=ORIGIN
        )
    with scratch(region) as session, pytest.raises(InvalidScope):
        assign_peers(session, region="p1.c1", per_submission=3, origin=ORIGIN)


@pytest.mark.parametrize("code", ["p1.c1.k1", "p1.c2.k3"])
def test_peer_assignment_groups_authors_and_load(region, code):
    user_teacher = {u: t for t, u in region.teacher_user.items()}
    for seed in range(5):
        with scratch(region) as session:
            drawn = assign_peers(session, region=code, per_submission=3, origin=ORIGIN, seed=seed)
            by_sub: dict[str, list[str]] = {}
            for a in drawn.assignments:
                by_sub.setdefault(a.submission_id, []).append(user_teacher[a.reviewer_id])
            mine = {
                s for s, t in region.submissions.items() if regions.contains(code, region.teacher_school[t])
            }
            assert set(by_sub) == mine
            unit_depth = len(code.split("."))
            for sub, reviewers in by_sub.items():
                author = region.submissions[sub]
                assert len(set(reviewers)) == 3 and author not in reviewers
                for t in reviewers:
                    assert region.teacher_subject[t] == region.teacher_subject[author]
                    assert region.teacher_school[t].split(".")[:unit_depth] == code.split(".")
            load = Counter(t for reviewers in by_sub.values() for t in reviewers)
            teachers = {t for t in region.teacher_school if regions.contains(code, region.teacher_school[t])}
            for t in teachers:
                assert abs(load[t] - 3 * region.submitted[t]) <= 2, (t, load[t], region.submitted[t])
                assert load[t] >= 3  # every teacher reviews at least three recordings
            # Running it again adds nothing: every submission already has its peers.
            again = assign_peers(session, region=code, per_submission=3, origin=ORIGIN, seed=seed)
            assert again.assignments == []


def test_peer_groups_too_small_fail_whole(region):
    with scratch(region) as session:
        with pytest.raises(NoEligibleReviewer) as info:
            assign_peers(session, region="p1.c1.k1.s01", per_submission=3, origin=ORIGIN, seed=1)
        # Three teachers per subject at a school: the author leaves two peers, not three.
        assert all(d["eligible"] == 2 for d in info.value.detail)
        assert session.exec(select(func.count()).select_from(ReviewAssignment)).one() == 0


@pytest.mark.parametrize("code", ["p1.c1.k1.s02", "p1.c2.k3"])
def test_school_review_covers_every_submission_from_its_own_school(region, code):
    mine = {s for s, t in region.submissions.items() if regions.contains(code, region.teacher_school[t])}
    for seed in range(3):
        with scratch(region) as session:  # alone: the school's reviewers share the work evenly
            drawn = assign_school_review(session, region=code, origin=ORIGIN, seed=seed)
            load = Counter(a.reviewer_id for a in drawn.assignments)
            by_school: dict[str, list[int]] = {}
            for user, n in load.items():
                by_school.setdefault(region.user_region[user], []).append(n)
            assert all(max(ns) - min(ns) <= 2 for ns in by_school.values()), by_school
        with scratch(region) as session:  # after peer review: never a peer of the same submission
            county = ".".join(code.split(".")[:3])
            peers = assign_peers(session, region=county, per_submission=3, origin=ORIGIN, seed=seed)
            peer_of: dict[str, set[str]] = {}
            for a in peers.assignments:
                peer_of.setdefault(a.submission_id, set()).add(a.reviewer_id)
            drawn = assign_school_review(session, region=code, origin=ORIGIN, seed=seed)
            assert sorted(a.submission_id for a in drawn.assignments) == sorted(mine)
            for a in drawn.assignments:
                author = region.submissions[a.submission_id]
                assert region.user_region[a.reviewer_id] == region.teacher_school[author]
                assert a.reviewer_id != region.teacher_user[author]
                assert a.reviewer_id not in peer_of.get(a.submission_id, set())
                assert a.kind.value == "school" and a.recused_unit is None
            again = assign_school_review(session, region=code, origin=ORIGIN, seed=seed)
            assert again.assignments == [] and again.batch.detail["already_reviewed"] == len(mine)


def test_school_review_without_a_reviewer_in_the_school_assigns_nothing(region):
    school = "p1.c1.k2.s03"
    with scratch(region) as session:
        insiders = [u for u, code in region.user_region.items() if code == school]
        session.exec(update(User).where(col(User.id).in_(insiders)).values(disabled=True))
        with pytest.raises(NoEligibleReviewer) as info:
            assign_school_review(session, region="p1.c1.k2", origin=ORIGIN, seed=2)
        assert info.value.detail and {d["school"] for d in info.value.detail} == {school}
        assert session.exec(select(func.count()).select_from(ReviewAssignment)).one() == 0


def test_committed_draws_on_each_dialect(pg_region):
    region = pg_region
    with Session(region.engine, expire_on_commit=False) as session:
        spot = draw_spot_check(
            session,
            level=SpotLevel.county,
            region="p1.c2.k2",
            rate=0.1,
            flagged_factor=3.0,
            origin=ORIGIN,
            seed=4,
        )
        peers = assign_peers(session, region="p1.c2.k2", per_submission=3, origin=ORIGIN, seed=4)
        session.commit()
    check_spot(region, spot, SpotLevel.county, "p1.c2.k2", 0.1)
    with Session(region.engine) as session:
        stored = session.exec(select(ReviewAssignment)).all()
    assert len(stored) == len(spot.assignments) + len(peers.assignments)
    assert {a.batch_id for a in stored} == {spot.batch.id, peers.batch.id}
