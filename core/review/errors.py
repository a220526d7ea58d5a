"""Why a review action cannot be done; each carries a stable code the API maps to a message."""

from __future__ import annotations

from typing import Any


class ReviewError(Exception):
    """A review action refused for a reason the caller can fix or must know."""

    code = "invalid_request"
    status = 422

    def __init__(self, message: str, detail: Any | None = None):
        super().__init__(message)
        self.detail = detail


class InvalidScope(ReviewError):
    """The region is not at the level the action needs."""

    code = "invalid_region"


class NoEligibleReviewer(ReviewError):
    """Some submissions have too few reviewers left once the author and recused units are excluded.
    Nothing is assigned then: the detail lists every shortfall."""

    code = "no_eligible_reviewer"
    status = 409


class AlreadyDecided(ReviewError):
    code = "already_decided"
    status = 409


class AlreadyDisputed(ReviewError):
    code = "already_disputed"
    status = 409


class NotDisputable(ReviewError):
    """A dispute re-check is final."""

    code = "not_disputable"
    status = 409
