"""Units and same-level recusal.

A submission belongs to its teacher's school ``province.city.county.school``, and so to one unit at
every level. Review at a level is done from outside the submission's own unit at that level:

- ``county``: the reviewer's region lies in the submission's city but outside its county (a county
  spot check is reviewed by another county of the same city);
- ``city``: in the submission's province, outside its city;
- ``province``: outside the submission's province (a cross-province pool);
- ``school`` (peer and school review) has no unit recusal: the school's own subject group reviews,
  only the author (and the uploader) are excluded.

A reviewer must have a region to be checked; a reviewer with none is never eligible outside peer
review. Reviewers at a higher level inside the allowed parent (a city-level expert ``sc.cd`` for a
county check of ``sc.cd.wh``) are eligible: they are not from the submission's own unit. When nobody
is eligible the action fails with ``NoEligibleReviewer``; recusal is never relaxed silently.
"""

from __future__ import annotations

from core import regions
from models.review import ReviewLevel

DEPTH = {ReviewLevel.province: 1, ReviewLevel.city: 2, ReviewLevel.county: 3, ReviewLevel.school: 4}
_UP = {
    ReviewLevel.school: ReviewLevel.county,
    ReviewLevel.county: ReviewLevel.city,
    ReviewLevel.city: ReviewLevel.province,
    ReviewLevel.province: ReviewLevel.province,
}


def level_of(region: str) -> ReviewLevel:
    """The level of a region code (``sc`` is a province … ``sc.cd.wh.s017`` a school)."""
    return ReviewLevel(regions.level(region))


def unit_of(school_code: str | None, level: ReviewLevel) -> str | None:
    """The unit at ``level`` that holds ``school_code`` (None when the code is shorter)."""
    if not school_code:
        return None
    parts = school_code.split(".")
    depth = DEPTH[level]
    return ".".join(parts[:depth]) if len(parts) >= depth else None


def next_level_up(level: ReviewLevel) -> ReviewLevel:
    """Where a dispute of a decision made at ``level`` is re-checked (the province re-checks itself,
    by another reviewer from outside the province)."""
    return _UP[level]


def recused_unit(school_code: str | None, level: ReviewLevel) -> str | None:
    """The unit whose reviewers are excluded at ``level`` (None at school level)."""
    return None if level == ReviewLevel.school else unit_of(school_code, level)


def recusal_allows(reviewer_region: str | None, school_code: str | None, level: ReviewLevel) -> bool:
    """Whether a reviewer of ``reviewer_region`` may review, at ``level``, a submission of
    ``school_code`` (see the module docstring for the rule)."""
    if level == ReviewLevel.school:
        return True
    own = unit_of(school_code, level)
    if own is None or not reviewer_region:
        return False
    if regions.contains(own, reviewer_region):
        return False
    parent = own.rpartition(".")[0]
    return not parent or regions.contains(parent, reviewer_region)
