"""Seeded, order-independent randomness: the same seed and names give the same number anywhere."""

from __future__ import annotations

import hashlib


def stable_unit(seed: int, *names: str) -> float:
    """A uniform number in [0, 1) from ``seed`` and ``names`` (independent of call order)."""
    text = "\x1f".join((str(seed), *names)).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big") / 2**64
