"""The indexer's build from the database: synthetic 45-minute lessons' signatures and fingerprints
bulk-loaded into a migrated database, then ``workers.dedup_indexer.build_all`` (the path of
``evidence index build``) reads them back, builds every shard and publishes the snapshots to the blob
store. Printed per size: rows, database bytes (signature and fingerprint columns), snapshot bytes,
build seconds and per lesson (linear if flat), the peak RSS of the builder, and the cold start of a
shard host (what a restarted shard actor runs): download its snapshot, map it, tail the rows committed
after it.

    .venv/bin/python benchmarks/bench_dedup_build_db.py --lessons 5000 10000 20000 --shards 8
    .venv/bin/python benchmarks/bench_dedup_build_db.py --lessons 2000 --database-url postgresql+psycopg://127.0.0.1/test
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_dedup_scale import lesson  # noqa: E402

from core import dedup_signatures  # noqa: E402
from core.db import init_db, make_engine  # noqa: E402
from core.settings import Settings  # noqa: E402
from models.dedup import DedupSignature  # noqa: E402
from models.submissions import Submission  # noqa: E402
from pipeline.dedup import Signature, encode_fingerprint  # noqa: E402
from workers.dedup_indexer import build_all  # noqa: E402
from workers.dedup_shard import ShardHost  # noqa: E402

BATCH = 500


def load(engine: sa.Engine, first: int, lessons: int) -> float:
    """Insert lessons ``first`` to ``lessons - 1`` as submissions with their signature rows; seconds."""
    t = time.perf_counter()
    subs, sigs = Submission.__table__, DedupSignature.__table__
    for b in range(first, lessons, BATCH):
        ids = [f"sub_bench{i:07d}" for i in range(b, min(lessons, b + BATCH))]
        fps = [lesson(i) for i in range(b, b + len(ids))]
        with engine.begin() as conn:
            conn.execute(
                sa.insert(subs),
                [{"id": i, "blob_key": f"b/{i}", "sha256": i.ljust(64, "0"), "size_bytes": 1} for i in ids],
            )
            conn.execute(
                sa.insert(sigs),
                [
                    {
                        "submission_id": i,
                        "shard_key": dedup_signatures.shard_key(i),
                        "visual_version": "bench",
                        "audio_version": "bench",
                        "allowlisted": False,
                        "duration_s": fp.duration_s,
                        "signature": Signature.of(fp).to_bytes(),
                        "fingerprint": encode_fingerprint(fp),
                    }
                    for i, fp in zip(ids, fps, strict=True)
                ],
            )
    return time.perf_counter() - t


def column_bytes(engine: sa.Engine) -> tuple[int, int]:
    """Total bytes of the signature and fingerprint columns."""
    with engine.connect() as conn:
        fn = sa.func.octet_length if engine.dialect.name == "postgresql" else sa.func.length
        row = conn.execute(
            sa.select(
                sa.func.sum(fn(DedupSignature.__table__.c.signature)),
                sa.func.sum(fn(DedupSignature.__table__.c.fingerprint)),
            )
        ).one()
    return int(row[0] or 0), int(row[1] or 0)


def database_bytes(engine: sa.Engine, settings: Settings) -> int:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            return int(conn.execute(sa.text("select pg_database_size(current_database())")).scalar_one())
    return sum(p.stat().st_size for p in settings.home.glob("evidence.db*"))


def run(lessons: int, shards: int, database_url: str | None, out) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp), database_url=database_url)
        engine = make_engine(settings.resolved_database_url)
        init_db(engine)
        loaded = load(engine, 0, lessons)
        sig_b, fp_b = column_bytes(engine)
        db_b = database_bytes(engine, settings)
        t = time.perf_counter()
        built = build_all(settings, shards, on_ray=False)
        build_s = time.perf_counter() - t
        snap_b = sum(b.size_bytes for b in built)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        tail = lessons // 100  # committed after the snapshots: a shard host reads them on start
        load(engine, lessons, lessons + tail)
        t = time.perf_counter()
        host = ShardHost(settings, shards, 0, engine, compact_at=None)
        cold = time.perf_counter() - t
        assert len(host.index) >= (lessons + tail) // shards * 0.9
        engine.dispose()
    out.send(
        f"{lessons:>7,} | {loaded:6.0f} | {db_b / 2**30:6.2f} | {sig_b / lessons / 1024:6.0f} |"
        f" {fp_b / lessons / 1024:6.0f} | {snap_b / 2**30:6.2f} | {build_s:7.1f} |"
        f" {1000 * build_s / lessons:6.1f} | {rss / 2**30:5.2f} | {cold:5.1f} ({tail // shards} rows)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lessons", type=int, nargs="+", default=[2000, 5000, 10000])
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--database-url", help="default: SQLite in a temporary directory")
    args = parser.parse_args()
    if args.database_url:
        print("PostgreSQL: the tables are created in the given database; point it at an empty one")
    print(
        f"{args.shards} shards. lessons | load s | database GiB | signature KiB/lesson |"
        " fingerprint KiB/lesson | snapshots GiB | build s | build ms/lesson | builder peak RSS GiB |"
        " one shard host's cold start s (download, map, tail of ~1% more)"
    )
    ctx = multiprocessing.get_context("spawn")
    for lessons in args.lessons:  # each size in a fresh process, so its peak RSS is its own
        here, there = ctx.Pipe()
        p = ctx.Process(target=run, args=(lessons, args.shards, args.database_url, there))
        p.start()
        print(here.recv(), flush=True)
        p.join()


if __name__ == "__main__":
    main()
