"""The cleanup run (``evidence cleanup``, and periodically inside ``evidence serve``): expire resumable
uploads past their deadline, drop upload parts nothing waits for, and collect orphan blobs.

A blob is collected only when it is older than ``GRACE`` (by its last write or touch: storing the same
bytes again touches it) and nothing refers to it: a submission (its upload, and every digest in its
report: rendition, poster, keyframes, contact sheet), a stage result (fingerprint thumbnails…), a
duplicate signature's thumbnails, a duplicate-index snapshot, an enrolment photo or an allowlist
entry. Blobs are listed before the references are read, and each candidate's age is read again just
before it goes, so a blob referred to or touched meanwhile stays.
"""

from __future__ import annotations

import logging
import re
from array import array
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import numpy as np
import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.multipart import part_uploads
from core.settings import Settings
from core.storage import BlobInfo, BlobStore, digest_of_key
from core.uploads import expire_due
from models.base import utcnow
from models.dedup import AllowlistItem, DedupSignature, DedupSnapshot
from models.jobs import StageResult
from models.submissions import Submission
from models.teachers import TeacherFace
from models.uploads import Upload, UploadStatus

GRACE = timedelta(hours=24)
_DIGEST = re.compile(r"[0-9a-f]{64}")
_BATCH = 2000
log = logging.getLogger("evidence.cleanup")


@dataclass
class CleanupReport:
    expired_uploads: int = 0
    dropped_stagings: int = 0  # parts of uploads that no open upload owns
    deleted_blobs: int = 0
    deleted_bytes: int = 0
    spool_files: int = 0  # temp files left by a process that died mid-upload

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def run_cleanup(
    engine: sa.Engine,
    store: BlobStore,
    settings: Settings,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
) -> CleanupReport:
    """One cleanup pass (``dry_run``: count only, change nothing)."""
    now = now or utcnow()
    report = CleanupReport()
    if not dry_run:
        report.expired_uploads = expire_due(engine, store, settings, now)
    report.dropped_stagings = _drop_stagings(engine, store, now, dry_run)
    candidates = [b for b in store.iter_blobs() if b.modified_at < now - GRACE]
    if candidates:
        referenced = ReferencedDigests(engine)
        for blob in candidates:
            if referenced.has(digest_of_key(blob.key)) or not _still_old(store, blob, now):
                continue
            if not dry_run:
                store.delete(blob.key)
            report.deleted_blobs += 1
            report.deleted_bytes += blob.size
    report.spool_files = _drop_spool_files(store, now, dry_run)
    log.info("cleanup%s: %s", " (dry run)" if dry_run else "", report.as_dict())
    return report


def _still_old(store: BlobStore, blob: BlobInfo, now: datetime) -> bool:
    fresh = next(store.iter_blobs(blob.key), None)
    return fresh is not None and fresh.modified_at < now - GRACE


class ReferencedDigests:
    """Every blob digest the database refers to, read once, kept as a sorted array of each digest's
    first 8 bytes (8 bytes a digest at any scale; a prefix shared by chance only keeps a blob)."""

    def __init__(self, engine: sa.Engine):
        prefixes = array("Q")
        for digest in self._digests(engine):
            prefixes.append(int(digest[:16], 16))
        self._sorted = np.unique(np.frombuffer(prefixes, dtype=np.uint64))

    def has(self, digest: str) -> bool:
        value = np.uint64(int(digest[:16], 16))
        i = int(np.searchsorted(self._sorted, value))
        return i < len(self._sorted) and self._sorted[i] == value

    @staticmethod
    def _digests(engine: sa.Engine) -> Iterator[str]:
        keys = (
            Submission.blob_key,
            TeacherFace.photo_key,
            DedupSignature.thumbs_key,
            DedupSnapshot.blob_key,
        )
        documents = (Submission.report, StageResult.data, AllowlistItem.details)
        with Session(engine) as session:
            for column in (*keys, *documents):
                text = sa.cast(column, sa.Text) if column in documents else column
                rows = session.execute(
                    sa.select(text).where(column.is_not(None)).execution_options(yield_per=_BATCH)
                )
                for (value,) in rows:
                    yield from _DIGEST.findall(value or "")


def _drop_stagings(engine: sa.Engine, store: BlobStore, now: datetime, dry_run: bool) -> int:
    """Abort staged parts older than ``GRACE`` that no open (or completing) upload owns."""
    backend = part_uploads(store)
    staged = [s for s, started in backend.list_staged() if started < now - GRACE]
    if not staged:
        return 0
    with Session(engine) as session:
        owned = set(
            session.exec(
                select(Upload.staging_key).where(
                    col(Upload.status).in_([UploadStatus.open, UploadStatus.completing])
                )
            ).all()
        )
    dropped = [s for s in staged if s.key not in owned]
    if not dry_run:
        for s in dropped:
            backend.abort(s)
    return len(dropped)


def _drop_spool_files(store: BlobStore, now: datetime, dry_run: bool) -> int:
    if not store.spool_dir.is_dir():
        return 0
    dropped = 0
    for path in store.spool_dir.glob("*.part"):
        try:
            if path.stat().st_mtime < (now - GRACE).timestamp():
                if not dry_run:
                    path.unlink(missing_ok=True)
                dropped += 1
        except FileNotFoundError:
            continue
    return dropped
