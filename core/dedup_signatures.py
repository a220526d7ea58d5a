"""The signatures the duplicate index is built from, in the database, in commit order.

Rows are written under a transaction-level advisory lock on PostgreSQL (SQLite has one writer
anyway), so ``seq`` grows in commit order: a reader that has read every row up to ``seq`` has seen
every commit before it, and a lower ``seq`` can never commit late. A job commits its own row *before*
it searches, so of two copies committed at the same time, whichever commits second finds the first.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from core.db import session_scope
from models.dedup import DedupSignature, DedupSnapshot

_LOCK_KEY = 7_411_020_011  # pg_advisory_xact_lock key: one signature writer at a time


def shard_key(submission_id: str) -> int:
    """A stable hash of a submission id (shard = key % number of shards)."""
    return zlib.crc32(submission_id.encode()) & 0x7FFFFFFF


def shard_of(submission_id: str, shards: int) -> int:
    return shard_key(submission_id) % shards


@dataclass(frozen=True)
class Published:
    """A submission's row as the index sees it."""

    submission_id: str
    seq: int
    allowlisted: bool


def _lock(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK_KEY)))


def write(
    session: Session,
    submission_id: str,
    *,
    signature: bytes,
    fingerprint: bytes,
    thumbs_key: str | None,
    versions: tuple[str, str],
    duration_s: float,
    allowlisted: bool = False,
) -> Published:
    """Write the submission's signature in the caller's transaction (holding the writers' lock until it
    ends). An unchanged row is kept as it is; a changed one is written again under a new ``seq`` so
    every index picks the change up."""
    _lock(session)
    row = session.exec(select(DedupSignature).where(DedupSignature.submission_id == submission_id)).first()
    same = row is not None and (
        (row.visual_version, row.audio_version) == versions
        and row.allowlisted == allowlisted
        and row.signature == signature
        and row.fingerprint == fingerprint
        and row.thumbs_key == thumbs_key
    )
    if same:
        return Published(submission_id, row.seq, row.allowlisted)
    if row is not None:
        session.delete(row)
        session.flush()
    row = DedupSignature(
        submission_id=submission_id,
        shard_key=shard_key(submission_id),
        visual_version=versions[0],
        audio_version=versions[1],
        allowlisted=allowlisted,
        duration_s=duration_s,
        signature=signature,
        fingerprint=fingerprint,
        thumbs_key=thumbs_key,
    )
    session.add(row)
    session.flush()
    return Published(submission_id, row.seq, allowlisted)


def publish(engine: sa.Engine, submission_id: str, **fields: Any) -> Published:
    """``write`` in a transaction of its own, committed before this returns."""
    with session_scope(engine) as session:
        return write(session, submission_id, **fields)


def set_allowlisted(session: Session, submission_id: str) -> bool:
    """Mark the submission's row as shared material, in the caller's transaction (written again under a
    new ``seq``); False when it has no row yet (it is marked when it is published)."""
    _lock(session)
    row = session.exec(select(DedupSignature).where(DedupSignature.submission_id == submission_id)).first()
    if row is None or row.allowlisted:
        return row is not None
    fields = row.model_dump(exclude={"seq", "created_at"})
    session.delete(row)
    session.flush()
    session.add(DedupSignature(**{**fields, "allowlisted": True}))
    session.flush()
    return True


def watermark(session: Session) -> int:
    """The highest committed ``seq`` (every lower one is committed too)."""
    return session.exec(select(func.coalesce(func.max(DedupSignature.seq), 0))).one()


@dataclass(frozen=True)
class IndexRow:
    """What the index holds of a row (the fingerprint and thumbnails stay in the database)."""

    seq: int
    submission_id: str
    allowlisted: bool
    signature: bytes


def rows(
    session: Session, *, shards: int, shard: int, after: int, upto: int, batch: int = 2000
) -> Iterator[IndexRow]:
    """The shard's rows with ``after < seq <= upto``, in ``seq`` order, read ``batch`` at a time."""
    table = DedupSignature.__table__
    columns = (table.c.seq, table.c.submission_id, table.c.allowlisted, table.c.signature)
    while True:
        chunk = session.execute(
            sa.select(*columns)
            .where(table.c.seq > after, table.c.seq <= upto, table.c.shard_key % shards == shard)
            .order_by(table.c.seq)
            .limit(batch)
        ).all()
        yield from (IndexRow(*r) for r in chunk)
        if len(chunk) < batch:
            return
        after = chunk[-1].seq


def fingerprint_row(session: Session, submission_id: str) -> DedupSignature | None:
    """The row verification reads (fingerprint bytes and where the thumbnails are)."""
    return session.exec(select(DedupSignature).where(DedupSignature.submission_id == submission_id)).first()


def latest_snapshot(session: Session, shards: int, shard: int) -> DedupSnapshot | None:
    """The newest published snapshot of a shard."""
    return session.exec(
        select(DedupSnapshot)
        .where(DedupSnapshot.shards == shards, DedupSnapshot.shard == shard)
        .order_by(col(DedupSnapshot.seq).desc(), col(DedupSnapshot.id).desc())
        .limit(1)
    ).first()


def record_snapshot(engine: sa.Engine, snapshot: DedupSnapshot) -> None:
    """Publish a snapshot (the checkpoint shard hosts load from)."""
    with session_scope(engine) as session:
        session.add(snapshot)


def count(session: Session, *, shards: int, shard: int, after: int, upto: int) -> int:
    """How many of the shard's rows have ``after < seq <= upto``."""
    return session.exec(
        select(func.count()).where(
            col(DedupSignature.seq) > after,
            col(DedupSignature.seq) <= upto,
            DedupSignature.shard_key % shards == shard,
        )
    ).one()
