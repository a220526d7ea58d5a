"""Stratified spot-check sampling, reproducible from a seed.

1. Flagged submissions (``invalid``, ``duplicate``, ``needs_review``) weigh ``flagged_factor``, the
   others 1; inclusion probabilities are proportional to weight (capped at 1) and sum to
   ``n = ceil(rate × population)``.
2. Systematic sampling over the population ordered by school, subject and a seeded key draws exactly
   ``n`` (implicitly stratified: every school and subject gets about its weighted share).
3. Coverage: any school, subject or verdict category (``overall``) still without a pick gets one,
   drawn with the same weights (preferring a submission that also covers a missing subject or
   category). So the sample is at least the rate and covers every stratum; each pick says why.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from core.review.stable import stable_unit

FLAGGED = frozenset({"invalid", "duplicate", "needs_review"})


@dataclass(frozen=True)
class Candidate:
    """A submission that may be drawn."""

    id: str
    school: str
    subject: str
    overall: str

    @property
    def flagged(self) -> bool:
        return self.overall in FLAGGED


@dataclass(frozen=True)
class Pick:
    id: str
    reason: str  # rate | school_coverage | subject_coverage | category_coverage
    probability: float  # inclusion probability of the rate draw


def inclusion_probabilities(weights: list[float], n: int) -> list[float]:
    """Probabilities proportional to ``weights``, none above 1, summing to ``n`` (≤ len(weights))."""
    n = min(n, len(weights))
    probs = [0.0] * len(weights)
    free = [i for i, w in enumerate(weights) if w > 0]
    left = float(n)
    while free and left > 0:
        total = sum(weights[i] for i in free)
        scale = left / total
        capped = [i for i in free if weights[i] * scale >= 1.0]
        if not capped:
            for i in free:
                probs[i] = weights[i] * scale
            break
        for i in capped:
            probs[i] = 1.0
        left -= len(capped)
        free = [i for i in free if probs[i] < 1.0]
    return probs


def draw_sample(
    candidates: Iterable[Candidate], rate: float, seed: int, flagged_factor: float = 3.0
) -> list[Pick]:
    """The spot-check sample of ``candidates`` at ``rate`` (see the module docstring)."""
    if not 0 < rate <= 1:
        raise ValueError(f"rate must be in (0, 1], got {rate}")
    if flagged_factor < 1:
        raise ValueError(f"flagged_factor must be >= 1, got {flagged_factor}")
    pool = sorted(candidates, key=lambda c: (c.school, c.subject, stable_unit(seed, "order", c.id), c.id))
    if not pool:
        return []
    n = math.ceil(rate * len(pool) - 1e-9)
    weights = [flagged_factor if c.flagged else 1.0 for c in pool]
    probs = inclusion_probabilities(weights, n)
    start = stable_unit(seed, "start")
    picks: dict[str, Pick] = {}
    cumulative = 0.0
    for c, p in zip(pool, probs, strict=True):
        before, cumulative = cumulative, cumulative + p
        if math.floor(cumulative - start + 1e-12) > math.floor(before - start + 1e-12):
            picks[c.id] = Pick(c.id, "rate", round(p, 6))
    prob = {c.id: p for c, p in zip(pool, probs, strict=True)}
    weight = {c.id: w for c, w in zip(pool, weights, strict=True)}
    dimensions: list[tuple[str, Callable[[Candidate], str]]] = [
        ("school", lambda c: c.school),
        ("subject", lambda c: c.subject),
        ("category", lambda c: c.overall),
    ]
    by_id = {c.id: c for c in pool}
    for name, key in dimensions:
        covered = {key(by_id[i]) for i in picks}
        for value in sorted({key(c) for c in pool} - covered):
            members = [c for c in pool if key(c) == value and c.id not in picks]
            missing = [
                lambda c, k=k: k(c) not in {k(by_id[i]) for i in picks} for _, k in dimensions if k is not key
            ]
            best = max(
                members,
                key=lambda c: (
                    sum(m(c) for m in missing),
                    stable_unit(seed, "cover", c.id) ** (1.0 / weight[c.id]),
                ),
            )
            picks[best.id] = Pick(best.id, f"{name}_coverage", round(prob[best.id], 6))
    return sorted(picks.values(), key=lambda p: p.id)
