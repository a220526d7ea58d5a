"""How many request bodies an API process receives at once: in total, and per caller. Over either
cap an upload is refused at once (503 ``uploads_busy``, 429 ``too_many_uploads``, with
``Retry-After``) instead of queueing behind the others."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from api.errors import ApiError

RETRY_AFTER_S = 30


class UploadSlots:
    """Counters of the bodies being received; used from the event loop only (no locking)."""

    def __init__(self, total: int, per_user: int):
        self.total, self.per_user = total, per_user
        self.by_user: Counter[str] = Counter()

    @property
    def active(self) -> int:
        return sum(self.by_user.values())

    @contextmanager
    def hold(self, user_id: str) -> Iterator[None]:
        """One slot for ``user_id`` while the block runs; refused at once when none is free."""
        retry = {"Retry-After": str(RETRY_AFTER_S)}
        if self.by_user[user_id] >= self.per_user:
            raise ApiError(429, "too_many_uploads", {"limit": self.per_user}, headers=retry)
        if self.active >= self.total:
            raise ApiError(503, "uploads_busy", {"limit": self.total}, headers=retry)
        self.by_user[user_id] += 1
        try:
            yield
        finally:
            self.by_user[user_id] -= 1
            if not self.by_user[user_id]:
                del self.by_user[user_id]
