"""Who may review what: never the author or the uploader; school review from inside the submission's
own school; same-level recusal for spot checks and dispute re-checks."""

from __future__ import annotations

from dataclasses import dataclass

from core import regions
from core.review.units import recusal_allows
from models.review import ReviewKind, ReviewLevel


@dataclass(frozen=True)
class Reviewer:
    user_id: str
    region: str | None
    teacher_id: str | None


@dataclass(frozen=True)
class Evidence:
    """What eligibility needs to know of a submission."""

    id: str
    teacher_id: str | None
    school: str | None
    subject: str | None
    uploaded_by: str | None


def may_review(reviewer: Reviewer, sub: Evidence, kind: ReviewKind, level: ReviewLevel) -> bool:
    """Whether ``reviewer`` may hold an assignment of ``kind`` at ``level`` for ``sub``."""
    if reviewer.teacher_id is not None and reviewer.teacher_id == sub.teacher_id:
        return False
    if sub.uploaded_by is not None and reviewer.user_id == sub.uploaded_by:
        return False
    if kind == ReviewKind.peer:
        return True
    if kind == ReviewKind.school:
        return sub.school is not None and regions.contains(sub.school, reviewer.region)
    return recusal_allows(reviewer.region, sub.school, level)
