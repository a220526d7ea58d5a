"""Audio-landmark inverted file: memory-mapped snapshot vs the previous in-memory one, for one shard.

    .venv/bin/python benchmarks/bench_dedup_landmarks.py --lessons 4000

Both hold the same CSR arrays (offsets over the 2^23 keys, video slots in key order), built from the
synthetic lessons of bench_dedup_scale.py. ``before``: the whole file read into memory (np.load of an
.npz) and, per query, the rarest posting lists read within a budget of 300,000 postings; ``now``:
``DedupIndex.load`` memory-maps the snapshot and reads every list but the crowded ones. Printed: load
time, resident growth after the load and after the queries (in a fresh process each; memory-mapped
pages count once touched), query p50 on a first (cold) and a second (warm) pass, and
the rank of the source among audio votes for 2-minute excerpts inside another 45-minute lesson.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_dedup_scale import CALIBRATION, LESSON_S, copy_of, inside, lesson

from pipeline.dedup import DedupIndex, Signature
from pipeline.dedup.index import probe_keys
from pipeline.dedup.landmarks import expand

BUDGET = 300_000


def rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096


def votes_before(offsets: np.ndarray, slots: np.ndarray, keys: np.ndarray, n: int) -> np.ndarray:
    lo, hi = offsets[keys].astype(np.int64), offsets[keys + 1].astype(np.int64)
    order = np.argsort(hi - lo, kind="stable")
    use = np.sort(order[np.cumsum((hi - lo)[order]) <= BUDGET])
    return np.bincount(slots[expand(lo[use], hi[use])].astype(np.int64), minlength=n)


def run(kind: str, root: Path, queries: list, sources: list[int], n: int, out) -> None:
    base = rss()
    t = time.perf_counter()
    if kind == "before":
        with np.load(root / "landmarks.npz") as z:
            offsets, slots = z["offsets"], z["slots"]
        search = lambda k: votes_before(offsets, slots, k, n)  # noqa: E731
    else:
        index = DedupIndex.load(root / "shard.idx")
        search = lambda k: np.bincount(index.landmarks.hits(k), minlength=n)  # noqa: E731
    load_s, loaded = time.perf_counter() - t, rss() - base
    p50 = []
    for _ in range(2):  # cold, then warm (mapped pages resident)
        lat, ranks = [], []
        for q, src in zip(queries, sources, strict=True):
            keys = probe_keys(q.audio.hashes)
            t = time.perf_counter()
            v = search(keys)
            lat.append(time.perf_counter() - t)
            ranks.append(int((v > v[src]).sum()) + 1)
        p50.append(float(np.median(lat)))
    out.send((load_s, loaded, rss() - base, p50, ranks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lessons", type=int, default=4000)
    parser.add_argument("--queries", type=int, default=40)
    args = parser.parse_args()
    n = args.lessons
    rng = np.random.default_rng(3)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        index = DedupIndex.build((f"L{i}", Signature.of(lesson(i)), False) for i in range(n))
        index.save(root / "shard.idx")
        np.savez(
            root / "landmarks.npz", offsets=index.landmarks.offsets, slots=np.asarray(index.landmarks.slots)
        )
        postings = len(index.landmarks)
        del index
        sources = [int(rng.integers(n)) for _ in range(args.queries)]
        queries = []
        for k, src in enumerate(sources):
            part = copy_of(
                lesson(src), float(rng.uniform(0, LESSON_S - 120)), 120.0, "reencode", CALIBRATION, rng
            )
            queries.append(inside(part, lesson(10 * n + k), float(rng.uniform(0, LESSON_S - 200))))
        print(f"{n:,} lessons, {postings:,} landmark postings; queries: 2-min excerpts inside 45-min lessons")
        ctx = multiprocessing.get_context("spawn")  # a fresh process: resident growth is its own
        for kind in ("before", "now"):
            here, there = ctx.Pipe()
            p = ctx.Process(target=run, args=(kind, root, queries, sources, n, there))
            p.start()
            load_s, loaded, after, p50, ranks = here.recv()
            p.join()
            print(
                f"  {kind:6s} load {load_s:6.2f} s, resident +{loaded / 2**20:5.0f} MiB after load,"
                f" +{after / 2**20:5.0f} MiB after queries; query p50 cold {1000 * p50[0]:5.1f} ms,"
                f" warm {1000 * p50[1]:5.1f} ms;"
                f" source ranked first {sum(r == 1 for r in ranks)}/{len(ranks)}, in the top 20"
                f" {sum(r <= 20 for r in ranks)}/{len(ranks)}"
            )


if __name__ == "__main__":
    main()
