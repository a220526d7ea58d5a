"""Peer assignment: each submission to ``per_submission`` peers of its subject group, never the author,
with each teacher's load close to ``per_submission`` × what they submitted. Deterministic from a seed."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from core.review.stable import stable_unit


@dataclass(frozen=True)
class PeerSubmission:
    id: str
    author: str  # teacher id
    group: str  # unit and subject, e.g. "sc.cd.wh.s017/math"
    needed: int
    excluded: frozenset[str] = frozenset()  # user ids: earlier reviewers, the uploader


@dataclass(frozen=True)
class Peer:
    user_id: str
    teacher_id: str
    group: str


@dataclass
class PeerPlan:
    pairs: list[tuple[str, str]] = field(default_factory=list)  # (submission id, reviewer user id)
    shortfalls: list[dict] = field(default_factory=list)
    load: dict[str, int] = field(default_factory=dict)  # user id -> reviews after the plan


def plan_peers(
    submissions: list[PeerSubmission],
    peers: list[Peer],
    *,
    quota: dict[str, int],
    load: dict[str, int],
    seed: int,
) -> PeerPlan:
    """Pick reviewers greedily, most remaining quota first (then least loaded, then seeded), visiting
    submissions in a seeded order. ``quota`` and ``load`` are keyed by user id."""
    by_group: dict[str, list[Peer]] = defaultdict(list)
    for p in peers:
        by_group[p.group].append(p)
    plan = PeerPlan(load={p.user_id: load.get(p.user_id, 0) for p in peers})
    for sub in sorted(submissions, key=lambda s: (stable_unit(seed, "peer", s.id), s.id)):
        candidates = [
            p for p in by_group[sub.group] if p.teacher_id != sub.author and p.user_id not in sub.excluded
        ]
        if len(candidates) < sub.needed:
            plan.shortfalls.append(
                {
                    "submission_id": sub.id,
                    "group": sub.group,
                    "needed": sub.needed,
                    "eligible": len(candidates),
                }
            )
            continue
        candidates.sort(
            key=lambda p: (
                plan.load[p.user_id] - quota.get(p.user_id, 0),
                plan.load[p.user_id],
                stable_unit(seed, sub.id, p.user_id),
            )
        )
        for p in candidates[: sub.needed]:
            plan.pairs.append((sub.id, p.user_id))
            plan.load[p.user_id] += 1
    return plan
