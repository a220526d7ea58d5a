"""Keyset pagination: a page is the rows strictly after the cursor in a fixed order, never an offset,
so pages stay cheap and stable however deep a caller reads."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import and_, or_

T = TypeVar("T")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The next_cursor of a page ordered by (a time, an id): "<microseconds since the epoch>_<id>".
TIME_ID_CURSOR = r"^[0-9]{1,16}_[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
INT_CURSOR = r"^[0-9]{1,18}$"


@dataclass(frozen=True)
class Keyset:
    """An order over ``columns`` (each a datetime, int or str column; only the last may hold ``_``),
    newest (largest) first unless ``ascending``."""

    columns: tuple[Any, ...]
    ascending: bool = False

    def select(self, stmt: Any, cursor: str | None, limit: int) -> Any:
        """``stmt`` in this order, after ``cursor``, with one row more than ``limit`` (to tell whether
        another page follows)."""
        order = [c.asc() if self.ascending else c.desc() for c in self.columns]
        stmt = stmt.order_by(*order).limit(limit + 1)
        if cursor is not None:
            stmt = stmt.where(self._after(self._decode(cursor)))
        return stmt

    def page(
        self, rows: Sequence[T], limit: int, key: Callable[[T], tuple[Any, ...]]
    ) -> tuple[list[T], str | None]:
        """The page's rows and the cursor of the next page (None on the last); ``key`` gives a row's
        values of ``columns``."""
        items = list(rows[:limit])
        more = len(rows) > limit and items
        return items, (self._encode(key(items[-1])) if more else None)

    def _after(self, values: tuple[Any, ...]) -> Any:
        """Rows strictly after ``values``, lexicographically in this order."""
        terms = []
        for i, (column, value) in enumerate(zip(self.columns, values, strict=True)):
            beyond = column > value if self.ascending else column < value
            terms.append(and_(*(c == v for c, v in zip(self.columns[:i], values[:i], strict=True)), beyond))
        return or_(*terms)

    def _encode(self, values: tuple[Any, ...]) -> str:
        return "_".join(
            str((v - EPOCH) // timedelta(microseconds=1)) if isinstance(v, datetime) else str(v)
            for v in values
        )

    def _decode(self, cursor: str) -> tuple[Any, ...]:
        parts = cursor.split("_", len(self.columns) - 1)
        if len(parts) != len(self.columns):
            raise ValueError(f"not a cursor of this list: {cursor!r}")
        values = []
        for column, part in zip(self.columns, parts, strict=True):
            python_type = column.type.python_type
            if python_type is datetime:
                values.append(EPOCH + timedelta(microseconds=int(part)))
            elif python_type is int:
                values.append(int(part))
            else:
                values.append(part)
        return tuple(values)
