"""Spot-check sampling (pure): the rate, coverage of every stratum, over-sampling, reproducibility."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from core.review.sampling import Candidate, draw_sample, inclusion_probabilities
from core.settings import Settings

SUBJECTS = ("math", "chinese", "english", "physics", "music")


def population(n_schools: int = 40, per_school: int = 25, flagged_share: float = 0.1, seed: int = 1):
    rng = random.Random(seed)
    out = []
    for s in range(n_schools):
        for i in range(per_school):
            flagged = rng.random() < flagged_share
            overall = rng.choice(("invalid", "duplicate", "needs_review")) if flagged else "clear"
            out.append(Candidate(f"sub-{s:03d}-{i:03d}", f"p.c.k.s{s:03d}", rng.choice(SUBJECTS), overall))
    return out


@pytest.mark.parametrize("level", ["county", "city", "province"])
def test_configured_rate_is_met_and_every_stratum_covered(level):
    rate = Settings().spot_check_rates[level]
    pool = population()
    picks = draw_sample(pool, rate, seed=42, flagged_factor=3.0)
    ids = {p.id for p in picks}
    assert len(ids) == len(picks)
    drawn = [c for c in pool if c.id in ids]
    target = math.ceil(rate * len(pool))
    assert sum(p.reason == "rate" for p in picks) == target
    assert len(picks) >= target
    assert len(picks) <= target + 40 + len(SUBJECTS) + 4  # coverage adds at most one per stratum
    assert {c.school for c in drawn} == {c.school for c in pool}
    assert {c.subject for c in drawn} == {c.subject for c in pool}
    assert {c.overall for c in drawn} == {c.overall for c in pool}


def test_default_rates():
    assert Settings().spot_check_rates == {"county": 0.10, "city": 0.02, "province": 0.005}


def test_reproducible_from_seed_and_order_independent():
    pool = population()
    first = draw_sample(pool, 0.1, seed=5)
    again = draw_sample(list(reversed(pool)), 0.1, seed=5)
    assert first == again
    assert {p.id for p in draw_sample(pool, 0.1, seed=6)} != {p.id for p in first}


@pytest.mark.parametrize("factor", [1.0, 3.0])
def test_flagged_submissions_are_oversampled_by_the_factor(factor):
    # One school and subject, one category each: no coverage picks disturb the rate draw.
    pool = [Candidate(f"c{i:05d}", "s", "math", "clear") for i in range(2000)]
    pool += [Candidate(f"f{i:05d}", "s", "math", "needs_review") for i in range(200)]
    ratios = []
    for seed in range(40):
        picks = [p for p in draw_sample(pool, 0.05, seed=seed, flagged_factor=factor) if p.reason == "rate"]
        flagged = sum(p.id.startswith("f") for p in picks) / 200
        clear = sum(p.id.startswith("c") for p in picks) / 2000
        ratios.append(flagged / clear)
    assert statistics.mean(ratios) == pytest.approx(factor, rel=0.1)


def test_inclusion_probabilities_are_capped_at_one():
    probs = inclusion_probabilities([10.0, 1.0, 1.0, 1.0], 2)
    assert probs[0] == 1.0
    assert probs[1:] == pytest.approx([1 / 3] * 3)
    assert sum(inclusion_probabilities([3.0] * 5 + [1.0] * 5, 10)) == pytest.approx(10)


def test_full_rate_takes_everything_and_bad_rates_are_refused():
    pool = population(n_schools=3, per_school=5)
    assert {p.id for p in draw_sample(pool, 1.0, seed=1)} == {c.id for c in pool}
    assert draw_sample([], 0.1, seed=1) == []
    with pytest.raises(ValueError):
        draw_sample(pool, 0.0, seed=1)
    with pytest.raises(ValueError):
        draw_sample(pool, 0.1, seed=1, flagged_factor=0.5)
