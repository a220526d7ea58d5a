"""Quotas for API callers: open resumable uploads per caller, and submissions and bytes per teacher
in any 24 hours. Open uploads (and those being completed) count as already submitted, so completing
one is never refused.

Only the API's upload routes check them: the CLI's batch and reprocess runs, and administrators'
reprocessing, are not limited. Over a quota the refusal (``LimitReached``) names the limit and when
trying again may succeed. A check and the insert it guards run in one transaction under ``lock``, so
concurrent requests cannot all pass.
"""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, or_, select

from core.errors import LimitReached
from core.settings import Settings
from models.submissions import Submission, SubmissionMeta
from models.uploads import Upload, UploadStatus

WINDOW = timedelta(hours=24)
_LOCK_SPACE = 7_411_020  # first key of pg_advisory_xact_lock(int, int): the quota locks


def _lock_key(name: str) -> int:
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def lock(session: Session, teacher_id: str, user_id: str | None = None) -> None:
    """Hold the quotas of ``teacher_id`` (and of caller ``user_id``) until the transaction ends: on
    PostgreSQL transaction-level advisory locks, taken in a fixed order; on SQLite the write
    transaction (``session_scope``: ``BEGIN IMMEDIATE``) serialises already. Take it before checking."""
    if session.get_bind().dialect.name != "postgresql":
        return
    keys = {_lock_key(f"teacher:{teacher_id}")} | ({_lock_key(f"user:{user_id}")} if user_id else set())
    for key in sorted(keys):
        pair = sa.cast(_LOCK_SPACE, sa.Integer), sa.cast(key, sa.Integer)
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(*pair)))


def check_open_uploads(session: Session, settings: Settings, user_id: str, now: datetime) -> None:
    """Room for one more open resumable upload of ``user_id`` (``quota_open_uploads``)."""
    limit = settings.quota_open_uploads
    if not limit:
        return
    expiries = session.exec(
        select(Upload.expires_at).where(
            Upload.user_id == user_id, Upload.status == UploadStatus.open, col(Upload.expires_at) > now
        )
    ).all()
    if len(expiries) >= limit:
        wait = (min(expiries) - now).total_seconds()
        raise LimitReached("quota_open_uploads", wait, {"limit": limit, "used": len(expiries)})


def check_teacher_day(
    session: Session, settings: Settings, teacher_id: str, adding_bytes: int, now: datetime
) -> None:
    """Room for one more submission of ``adding_bytes`` for ``teacher_id`` in the 24 hours up to
    ``now`` (``quota_submissions_per_day``, ``quota_bytes_per_day``): API submissions and open uploads
    count."""
    max_count, max_bytes = settings.quota_submissions_per_day, settings.quota_bytes_per_day
    if not max_count and not max_bytes:
        return
    recent = session.exec(
        select(Submission.created_at, Submission.size_bytes)
        .join(SubmissionMeta, col(SubmissionMeta.submission_id) == col(Submission.id))
        .where(
            Submission.teacher_id == teacher_id,
            col(Submission.created_at) > now - WINDOW,
            col(SubmissionMeta.uploaded_by).is_not(None),
        )
        .order_by(col(Submission.created_at))
    ).all()
    reserved = session.exec(  # open uploads, and those being completed (not yet a submission)
        select(Upload.size_bytes).where(
            Upload.teacher_id == teacher_id,
            or_(
                (col(Upload.status) == UploadStatus.open) & (col(Upload.expires_at) > now),
                col(Upload.status) == UploadStatus.completing,
            ),
        )
    ).all()
    count = len(recent) + len(reserved)
    if max_count and count >= max_count:
        # the oldest counted submission leaves the window first
        wait = (recent[0][0] + WINDOW - now).total_seconds() if recent else WINDOW.total_seconds()
        raise LimitReached("quota_submissions_per_day", wait, {"limit": max_count, "used": count})
    used = sum(size for _, size in recent) + sum(reserved)
    if max_bytes and used + adding_bytes > max_bytes:
        wait, left = WINDOW.total_seconds(), used
        for created_at, size in recent:  # when enough of the window's bytes have left it
            left -= size
            if left + adding_bytes <= max_bytes:
                wait = (created_at + WINDOW - now).total_seconds()
                break
        raise LimitReached("quota_bytes_per_day", wait, {"limit": max_bytes, "used": used})
