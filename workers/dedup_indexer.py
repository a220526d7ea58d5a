"""The indexer: builds each shard's index in bulk from the signatures in the database, in time linear in
the rows, and publishes it to the blob store with a checkpoint (the ``seq`` it holds rows up to).
Shard hosts load the latest one and read only what was committed after it."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import ray
import sqlalchemy as sa
from sqlmodel import Session

from core import dedup_signatures
from core.db import make_engine
from core.settings import Settings
from core.storage import open_blob_store
from models.dedup import DedupSnapshot
from pipeline.dedup import DedupIndex, Signature


@dataclass(frozen=True)
class Built:
    shard: int
    seq: int
    entries: int
    size_bytes: int
    blob_key: str


def build_shard(settings: Settings, engine: sa.Engine, shards: int, shard: int) -> Built:
    """Build shard ``shard`` of ``shards`` from every row committed so far and publish it."""
    ids: list[str] = []
    allow: list[bool] = []
    frame_counts: list[int] = []
    landmark_counts: list[int] = []
    frames: list[np.ndarray] = []
    landmarks: list[np.ndarray] = []
    with Session(engine) as session:
        upto = dedup_signatures.watermark(session)
        for row in dedup_signatures.rows(session, shards=shards, shard=shard, after=0, upto=upto):
            sig = Signature.from_bytes(row.signature)
            ids.append(row.submission_id)
            allow.append(row.allowlisted)
            frame_counts.append(len(sig.frames))
            landmark_counts.append(len(sig.landmarks))
            frames.append(sig.frames)
            landmarks.append(sig.landmarks)
    index = DedupIndex.build_arrays(
        ids,
        np.array(allow, bool),
        np.array(frame_counts, np.int64),
        np.concatenate(frames) if frames else np.zeros((0, 32), np.uint8),
        np.array(landmark_counts, np.int64),
        np.concatenate(landmarks) if landmarks else np.zeros(0, np.uint32),
    )
    store = open_blob_store(settings)
    settings.home.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.home, prefix="index-") as tmp:
        path = Path(tmp) / "shard.idx"
        index.save(path)
        size = path.stat().st_size
        key = store.put_file(path)
    snapshot = DedupSnapshot(
        shards=shards, shard=shard, seq=upto, blob_key=key, entries=len(index), size_bytes=size
    )
    dedup_signatures.record_snapshot(engine, snapshot)
    return Built(shard, upto, len(index), size, key)


@ray.remote(num_cpus=1)
def build_shard_task(settings_data: dict, shards: int, shard: int) -> Built:
    """A shard build on the cluster."""
    settings = Settings(**settings_data)
    engine = make_engine(settings.resolved_database_url)
    try:
        return build_shard(settings, engine, shards, shard)
    finally:
        engine.dispose()


def build_all(settings: Settings, shards: int, *, on_ray: bool) -> list[Built]:
    """Every shard's snapshot: as Ray tasks in parallel (each with the shard's memory reservation), or
    one after another in this process."""
    if not on_ray:
        engine = make_engine(settings.resolved_database_url)
        try:
            return [build_shard(settings, engine, shards, k) for k in range(shards)]
        finally:
            engine.dispose()
    task = build_shard_task.options(memory=settings.dedup_shard_memory_bytes)
    return ray.get([task.remote(settings.model_dump(), shards, k) for k in range(shards)])
