"""Why a review action cannot be done; each carries a stable code (the API maps codes to statuses)."""

from __future__ import annotations

from typing import Any

from core.errors import DomainError


class ReviewError(DomainError):
    """A review action refused for a reason the caller can fix or must know; the detail is the
    given one, or else the message."""

    code = "invalid_request"

    def __init__(self, message: str, detail: Any | None = None):
        super().__init__(type(self).code, message if detail is None else detail)
        self.args = (message,)


class InvalidScope(ReviewError):
    """The region is not at the level the action needs."""

    code = "invalid_region"


class NoEligibleReviewer(ReviewError):
    """Some submissions have too few reviewers left once the author and recused units are excluded.
    Nothing is assigned then: the detail lists every shortfall."""

    code = "no_eligible_reviewer"


class AlreadyDecided(ReviewError):
    code = "already_decided"


class AlreadyDisputed(ReviewError):
    code = "already_disputed"


class NotDisputable(ReviewError):
    """A dispute re-check is final."""

    code = "not_disputable"
