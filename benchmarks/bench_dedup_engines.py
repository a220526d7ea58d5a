"""Frame-index engines compared at the search radius recall needs: per-frame recall, memory, build time
and query latency, on one OpenMP thread (one shard actor's share of a machine).

    .venv/bin/python benchmarks/bench_dedup_engines.py --lessons 1000 4000 12500

Hashes are synthetic, one per run of distinct frames (0.55/s measured, ~1,485 per 45-minute lesson),
correlated like real ones (``--model scenes``: a lesson cuts between 40 scenes of its room; ``lesson``:
all of a lesson's frames alike). A query is a batch of 1,485 indexed frames (one 45-minute lesson's
worth) with exactly ``d`` bits flipped; recall at ``d`` is the share whose source frame the engine
returns within the radius (by construction 1.0 for the exact IndexBinaryFlat, the latency reference).
Latency is the best of 3 (the machine is shared); memory the resident-set growth while the engine is
built and held, in a forked child (the hashes it copies included).
"""

from __future__ import annotations

import argparse
import gc
import itertools
import multiprocessing
import sys
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.dedup.frames import SLICE_BITS, SLICES, FrameIndex

FRAMES_PER_LESSON = 1485  # 45 min at every run of distinct frames (0.55/s measured)
DISTANCES = (8, 16, 24, 31, 40, 48, 56, 64, 72)
QUERY_FRAMES = 1485


def rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096


def synthetic_hashes(lessons: int, model: str, seed: int = 0) -> np.ndarray:
    """(lessons x FRAMES_PER_LESSON, 32) packed hashes. ``lesson``: room ^ 15% = lesson, lesson ^ 16% =
    frame (every frame of a lesson alike: the easy case for clustering). ``scenes``: a lesson cuts
    between 40 scenes (room ^ 30%: shots, slides) and a frame is its scene ^ 8%."""
    rng = np.random.default_rng(seed)
    rooms = rng.integers(0, 2, (max(1, lessons // 25), 256), dtype=np.uint8)
    out = np.empty((lessons * FRAMES_PER_LESSON, 32), np.uint8)
    for i in range(lessons):
        room = rooms[i % len(rooms)]
        if model == "lesson":
            centre = (room ^ (rng.random(256) < 0.15))[None, :]
            noise = 0.16
        else:
            scenes = room[None, :] ^ (rng.random((40, 256)) < 0.30)
            centre = scenes[np.sort(rng.integers(0, 40, FRAMES_PER_LESSON))]
            noise = 0.08
        bits = centre ^ (rng.random((FRAMES_PER_LESSON, 256)) < noise)
        out[i * FRAMES_PER_LESSON : (i + 1) * FRAMES_PER_LESSON] = np.packbits(bits.astype(np.uint8), axis=1)
    return out


def flipped(hashes: np.ndarray, d: int, rng: np.random.Generator) -> np.ndarray:
    bits = np.unpackbits(hashes, axis=1)
    for row in bits:
        row[rng.choice(256, d, replace=False)] ^= 1
    return np.packbits(bits, axis=1)


def range_hits(index: faiss.IndexBinary, q: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """(query row, id) of every indexed hash within ``radius`` (FAISS's radius is exclusive)."""
    lims, _, ids = index.range_search(q, radius + 1)
    return np.repeat(np.arange(len(q)), np.diff(lims).astype(np.int64)), ids


def multi_index(hashes: np.ndarray) -> tuple[Callable, list]:
    """The engine kept (pipeline.dedup.frames): 16 bit-sampled 20-bit keys, CSR postings."""
    index = FrameIndex.build(hashes.copy(), np.arange(len(hashes)))  # FAISS copies them too

    def search(q: np.ndarray, radius: int, _variant: object) -> tuple[np.ndarray, np.ndarray]:
        qi, ids, _, _ = index.within(q, radius)
        return qi, ids

    return search, [""]


def faiss_engine(make: Callable[[], faiss.IndexBinary], hashes: np.ndarray, nprobes: tuple[int, ...] = ()):
    """A FAISS index of ``hashes``; IVF indexes (``nprobes`` given) are trained on a sample first and
    searched at each nprobe."""
    index = make()
    if nprobes:
        size = min(len(hashes), 50 * index.nlist)
        index.cp.niter = 10
        index.train(hashes[np.random.default_rng(1).choice(len(hashes), size, replace=False)])
    index.add(hashes)

    def search(q: np.ndarray, radius: int, nprobe: int | str) -> tuple[np.ndarray, np.ndarray]:
        if nprobes:
            index.nprobe = nprobe
        return range_hits(index, q, radius)

    return search, list(nprobes) or [""]


def engines(n: int) -> dict[str, Callable[[np.ndarray], tuple[Callable, object]]]:
    nlist = 1 << max(8, round(np.log2(2 * np.sqrt(n))))

    def ivf(nprobes: tuple[int, ...]):
        return lambda h: faiss_engine(
            lambda: faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(256), 256, nlist), h, nprobes
        )

    def mih(nhash: int, nflip: int):
        def make() -> faiss.IndexBinary:
            index = faiss.IndexBinaryMultiHash(256, nhash, 256 // nhash)
            index.nflip = nflip
            return index

        return lambda h: faiss_engine(make, h)

    def bhash(b: int, nflip: int):
        def make() -> faiss.IndexBinary:
            index = faiss.IndexBinaryHash(256, b)
            index.nflip = nflip
            return index

        return lambda h: faiss_engine(make, h)

    return {
        f"multi-index {SLICES}x{SLICE_BITS} bits (pipeline.dedup.frames)": multi_index,
        "IndexBinaryFlat (exact)": lambda h: faiss_engine(lambda: faiss.IndexBinaryFlat(256), h),
        "IndexBinaryMultiHash 16x16 nflip=1": mih(16, 1),
        "IndexBinaryMultiHash 8x32 nflip=1": mih(8, 1),
        "IndexBinaryHash b=24 nflip=2": bhash(24, 2),
        f"IndexBinaryIVF nlist={nlist} nprobe=": ivf((4, 8, 16, 32, 64)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lessons", type=int, nargs="+", default=[1000, 4000])
    parser.add_argument("--radius", type=int, nargs="+", default=[31, 48, 64, 72])
    parser.add_argument("--model", choices=["scenes", "lesson"], default="scenes")
    parser.add_argument("--skip", nargs="*", default=None, help="substrings of engine names to skip")
    parser.add_argument("--only", nargs="*", default=None, help="substrings of engine names to run")
    args = parser.parse_args()
    faiss.omp_set_num_threads(1)
    for lessons in args.lessons:
        hashes = synthetic_hashes(lessons, args.model)
        n = len(hashes)
        rng = np.random.default_rng(2)
        src = rng.choice(n, QUERY_FRAMES, replace=False)
        queries = {d: flipped(hashes[src], d, rng) for d in DISTANCES}
        hours = lessons * 0.75
        print(f"\n{args.model} model, {lessons:,} lessons = {n:,} frames = {hours:,.0f} lesson-hours", end="")
        print(f"; query: {QUERY_FRAMES} frames")
        head = (
            f"{'engine':44s} {'radius':>6s} {'B/frame':>8s} {'KiB/l-h':>8s} {'build s':>8s} {'query ms':>9s}"
        )
        print(head + "  recall at d=" + " ".join(f"{d:>4d}" for d in DISTANCES))
        for name, build in engines(n).items():
            if args.only and not any(s in name for s in args.only):
                continue
            if args.skip and any(s in name for s in args.skip):
                continue
            queries_used = 100 if "Flat" in name else QUERY_FRAMES  # exact: a sample is enough
            gc.collect()
            child = multiprocessing.get_context("fork").Process(
                target=measure, args=(name, build, hashes, queries, src[:queries_used], args.radius)
            )
            child.start()
            child.join()
        del hashes


def measure(name, build, hashes, queries, src, radii) -> None:
    """In a forked child (so memory is the engine's own): build, then search at each radius."""
    n = len(hashes)
    before = rss()
    t = time.perf_counter()
    search, variants = build(hashes)
    build_s = time.perf_counter() - t
    per_frame = max(0, rss() - before) / n
    for radius, variant in itertools.product(radii, variants):
        lat, recall = [], []
        for d in DISTANCES:
            q = queries[d][: len(src)]
            times = []
            for _ in range(3):  # best of 3: the machine is shared
                t = time.perf_counter()
                qi, ids = search(q, radius, variant)
                times.append(time.perf_counter() - t)
            lat.append(min(times))
            hit = np.zeros(len(q), bool)
            hit[qi[ids == src[qi]]] = True
            recall.append(hit.mean())
        ms = 1000 * float(np.median(lat)) * QUERY_FRAMES / len(src)
        kib = per_frame * FRAMES_PER_LESSON / 0.75 / 1024
        print(
            f"{name + str(variant):44s} {radius:6d} {per_frame:8.1f} {kib:8.1f} {build_s:8.1f} {ms:9.1f}  "
            + " ".join(f"{r:4.2f}" for r in recall),
            flush=True,
        )


if __name__ == "__main__":
    main()
