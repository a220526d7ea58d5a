"""One shard of the duplicate index, hosted in a process: in the job runner itself (the embedded
default) or in a Ray actor with a memory reservation (a cluster).

A host loads the shard's latest published snapshot (``workers.dedup_indexer``), then reads the rows
committed after it (``core.dedup_signatures``, in commit order) and keeps reading them before each
search that asks for a newer ``seq``. A newer snapshot is loaded beside the live index and swapped
in once it has caught up, so searches never wait for a rebuild; a restarted actor is back from its
snapshot in seconds, not by replaying the archive.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import uuid

import ray
import sqlalchemy as sa
from sqlmodel import Session

from core import dedup_signatures
from core.db import make_engine
from core.settings import Settings
from core.storage import BlobStore, open_blob_store
from pipeline.dedup import DedupIndex, Fingerprint, SearchResult, Signature
from pipeline.dedup.index import COMPACT_AT

log = logging.getLogger(__name__)
ACTOR_NAMESPACE = "evidence"


def actor_name(settings: Settings, shards: int, shard: int) -> str:
    """The shard actor's name: per database, so clusters (and test runs) sharing Ray never mix indexes."""
    url = sa.make_url(settings.resolved_database_url).render_as_string(hide_password=True)
    return f"evidence-dedup-{hashlib.sha256(url.encode()).hexdigest()[:10]}-{shard}-of-{shards}"


class ShardHost:
    """Shard ``shard`` of ``shards``: loads, tails, searches, refreshes."""

    def __init__(
        self,
        settings: Settings,
        shards: int,
        shard: int,
        engine: sa.Engine | None = None,
        compact_at: int | None = COMPACT_AT,
    ):
        self.settings, self.shards, self.shard = settings, shards, shard
        self.engine = engine or make_engine(settings.resolved_database_url, pool_size=2, max_overflow=2)
        self.store: BlobStore = open_blob_store(settings)
        self.workdir = settings.home / "dedup" / f"{shard}-of-{shards}"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # guards the index against tailing while it is searched
        self.compact_at = compact_at  # tail entries folded in here (None: left to the indexer's snapshots)
        self._snapshot_seq = 0
        self.index, self.seen = self._load_latest()
        self.catch_up()

    def _load_latest(self) -> tuple[DedupIndex, int]:
        """The latest published snapshot (or an empty index) and the ``seq`` it holds rows up to."""
        with Session(self.engine) as session:
            snap = dedup_signatures.latest_snapshot(session, self.shards, self.shard)
        if snap is None:
            return DedupIndex(), 0
        path = self.workdir / f"snapshot-{snap.seq}-{uuid.uuid4().hex[:8]}.idx"
        self.store.get_file(snap.blob_key, path)
        index = DedupIndex.load(path, mmap=True)
        path.unlink()  # the mapping keeps the data; nothing is left behind if the process dies
        self._snapshot_seq = snap.seq
        return index, snap.seq

    def _tail(self, index: DedupIndex, after: int, upto: int) -> int:
        with Session(self.engine) as session:
            for row in dedup_signatures.rows(
                session, shards=self.shards, shard=self.shard, after=after, upto=upto
            ):
                sig = Signature.from_bytes(row.signature)
                index.add(row.submission_id, sig, allowlisted=row.allowlisted, compact_at=self.compact_at)
        return upto

    def catch_up(self) -> int:
        """Read every row committed since the last read; returns the ``seq`` now held."""
        with Session(self.engine) as session:
            upto = dedup_signatures.watermark(session)
        with self._lock:
            if upto > self.seen:
                self.seen = self._tail(self.index, self.seen, upto)
            return self.seen

    def search(
        self, query: Fingerprint, *, exclude: str | None, min_seq: int, limit: int = 20
    ) -> SearchResult:
        """Candidates for ``query`` among every row committed up to ``min_seq`` at least."""
        if self.seen < min_seq:
            self.catch_up()
        with self._lock:
            return self.index.search(query, limit=limit, exclude=exclude)

    def refresh(self) -> bool:
        """Swap in a newer published snapshot, if any (loaded and caught up beside the live index)."""
        with Session(self.engine) as session:
            snap = dedup_signatures.latest_snapshot(session, self.shards, self.shard)
        if snap is None or snap.seq <= self._snapshot_seq:
            return False
        index, seen = self._load_latest()
        seen = self._tail(index, seen, max(seen, self.seen))  # most of the way, outside the lock
        with self._lock:
            self.index, self.seen = index, self._tail(index, seen, max(seen, self.seen))
        log.info("shard %d/%d: snapshot %d swapped in", self.shard, self.shards, snap.seq)
        return True

    def stats(self) -> dict:
        """Entries, the ``seq`` held, the snapshot it started from and memory per signal."""
        with self._lock:
            return {
                "shard": self.shard,
                "shards": self.shards,
                "entries": len(self.index),
                "seen": self.seen,
                "snapshot_seq": self._snapshot_seq,
                "bytes": self.index.nbytes(),
                "pid": os.getpid(),
            }

    def keep_fresh(self, stop: threading.Event) -> None:
        """Refresh every ``dedup_refresh_seconds`` until ``stop`` is set (a background thread)."""
        while not stop.wait(self.settings.dedup_refresh_seconds):
            try:
                self.refresh()
                self.catch_up()
            except Exception:  # the database or the store may be away for a moment
                log.exception("shard %d/%d: refresh failed", self.shard, self.shards)


class ShardActor(ShardHost):
    """The Ray actor form: settings arrive as data, and it keeps itself fresh in a thread."""

    def __init__(self, settings_data: dict, shards: int, shard: int):
        # folding the tail in would pause searches for minutes: the indexer's snapshots do it instead
        super().__init__(Settings(**settings_data), shards, shard, compact_at=None)
        self._stop = threading.Event()
        threading.Thread(target=self.keep_fresh, args=(self._stop,), daemon=True).start()


def shard_actor(settings: Settings, shards: int, shard: int) -> ray.actor.ActorHandle:
    """The named, detached shard actor, started when it does not exist yet (restarted by Ray when its
    process dies)."""
    remote = ray.remote(ShardActor).options(
        name=actor_name(settings, shards, shard),
        namespace=ACTOR_NAMESPACE,
        lifetime="detached",
        get_if_exists=True,
        max_restarts=-1,
        max_task_retries=3,
        max_concurrency=4,
        num_cpus=settings.dedup_shard_cpus,
        memory=settings.dedup_shard_memory_bytes,
        resources={settings.dedup_shard_resource: 1} if settings.dedup_shard_resource else None,
        runtime_env={"env_vars": {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}},
    )
    return remote.remote(settings.model_dump(), shards, shard)
