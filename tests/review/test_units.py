"""Same-level recusal and the level a dispute goes up to."""

from __future__ import annotations

import pytest

from core.review.units import next_level_up, recusal_allows, recused_unit, unit_of
from models.review import ReviewLevel as L

SCHOOL = "sc.cd.wh.s017"


@pytest.mark.parametrize(
    ("level", "reviewer", "allowed"),
    [
        (L.county, "sc.cd.jj", True),  # another county of the same city
        (L.county, "sc.cd.jj.s001", True),
        (L.county, "sc.cd", True),  # a city-level expert is outside the county
        (L.county, "sc.cd.wh", False),  # the submission's own county
        (L.county, "sc.cd.wh.s018", False),
        (L.county, "sc.my.xx", False),  # another city: not the county's cross-review pool
        (L.city, "sc.my", True),
        (L.city, "sc.my.xx.s1", True),
        (L.city, "sc", True),
        (L.city, "sc.cd.jj", False),  # same city
        (L.city, "gd.gz", False),
        (L.province, "gd", True),
        (L.province, "gd.gz.th", True),
        (L.province, "sc.my", False),
        (L.province, "sc", False),
        (L.county, None, False),  # no unit, no proof of recusal
        (L.school, "sc.cd.wh.s017", True),  # peer/school review: the school's own group
    ],
)
def test_recusal(level, reviewer, allowed):
    assert recusal_allows(reviewer, SCHOOL, level) is allowed


def test_units_and_next_level():
    assert unit_of(SCHOOL, L.county) == "sc.cd.wh"
    assert unit_of("sc.cd", L.county) is None
    assert recused_unit(SCHOOL, L.city) == "sc.cd"
    assert recused_unit(SCHOOL, L.school) is None
    assert [next_level_up(x) for x in (L.school, L.county, L.city, L.province)] == [
        L.county,
        L.city,
        L.province,
        L.province,
    ]
