"""Region codes: dotted paths ``province.city.county.school`` (e.g. ``sc.cd.wh.s017``)."""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import col, or_

LEVELS = ("province", "city", "county", "school")
_SEGMENT = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


class InvalidRegion(ValueError):
    """Not a dotted region code."""


def normalize(code: str) -> str:
    """The canonical (lower-case) form of a region code; raises ``InvalidRegion``."""
    if not isinstance(code, str):
        raise InvalidRegion(f"not a region code: {code!r}")
    norm = code.strip().lower()
    parts = norm.split(".")
    if not 1 <= len(parts) <= len(LEVELS) or not all(_SEGMENT.fullmatch(p) for p in parts):
        raise InvalidRegion(f"not a region code (province.city.county.school): {code!r}")
    return norm


def is_valid(code: object) -> bool:
    """Whether ``code`` is a region code."""
    try:
        normalize(code)  # type: ignore[arg-type]
    except InvalidRegion:
        return False
    return True


def depth(code: str) -> int:
    """1 for a province … 4 for a school."""
    return len(normalize(code).split("."))


def level(code: str) -> str:
    """``province``, ``city``, ``county`` or ``school``."""
    return LEVELS[depth(code) - 1]


def contains(scope: str, code: str | None) -> bool:
    """Whether ``code`` lies in ``scope`` (the region itself or below it)."""
    if code is None:
        return False
    return code == scope or code.startswith(scope + ".")


def child_of(scope: str, code: str) -> str | None:
    """The region one level below ``scope`` that holds ``code`` (None when ``code`` is not inside it,
    or is ``scope`` itself)."""
    if not code.startswith(scope + "."):
        return None
    return ".".join(code.split(".")[: depth(scope) + 1])


def in_region(column: Any, scope: str) -> Any:
    """SQL: ``column`` is the region ``scope`` or lies below it."""
    return or_(column == scope, col(column).startswith(scope + ".", autoescape=True))
