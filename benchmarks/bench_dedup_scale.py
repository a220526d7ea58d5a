"""Scale of the duplicate index, sharded: synthetic 45-minute lessons bulk-built into shard snapshots,
one process per shard serving searches from its memory-mapped snapshot, queries fanned out to all
shards and merged; copies calibrated on real transforms.

    .venv/bin/python benchmarks/bench_dedup_scale.py --lessons 2000 4000 8000 --shards 8
    .venv/bin/python benchmarks/bench_dedup_scale.py --calibration calib.json   # from bench_dedup_transforms

Lessons: one run of distinct frames per 1.8 s (0.55/s, measured on generated lessons) cutting between
40 scenes of the lesson's room (rooms shared by 25 lessons), 7.1 landmarks/s with skewed keys (anchor
bins and steps bunched like speech). Copies: every frame of the copied stretch is off by a distance
drawn from the transform's measured distribution (``bench_dedup_transforms.py``: re-encode, crop, logo,
grey, speed 0.8/1.25, excerpts; deciles below), the measured share of landmarks survives, and a speed
change rescales time. Queries: full copies; 5- and 2-minute excerpts submitted alone; and 2-minute
excerpts inside another, new 45-minute lesson (the partial copy that a budget on reads used to lose).
Recall: the source among the merged top 20 candidates.

Printed per size: build time (bulk, from arrays), snapshot bytes and the peak RSS of all shard
processes per lesson-hour, cold start (load of every snapshot), fan-out + merge latency p50/p99
(verification of the top candidate separately), recall per query kind.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.dedup import (
    AudioFingerprint,
    DedupIndex,
    Fingerprint,
    Signature,
    VisualFingerprint,
    merge,
    verify,
)
from pipeline.dedup.audio import pack_hash

LESSON_S = 45 * 60
RUN_S = 1.8  # one run of distinct frames per 1.8 s
LANDMARKS_PER_S = 7.1
# measured (bench_dedup_transforms.py, 2026-12): deciles of per-frame distances to the aligned original
# run, and the share of indexed landmarks surviving
CALIBRATION = {
    "reencode": ([0, 2, 4, 10, 14, 18, 22, 24, 30, 56], 0.735),
    "crop": ([78, 90, 98, 100, 104, 108, 112, 114, 118, 124], 0.735),
    "logo": ([6, 14, 18, 31, 40, 44, 48, 52, 102, 124], 0.735),
    "grey": ([0, 0, 2, 2, 2, 4, 4, 6, 8, 36], 0.735),
    "speed0.8": ([2, 4, 12, 16, 20, 26, 32, 49, 88, 119], 0.042),
    "speed1.25": ([0, 4, 10, 14, 18, 24, 31, 40, 88, 118], 0.035),
    "excerpt2m": ([6, 10, 12, 14, 14, 16, 18, 20, 21, 24], 0.24),
    "excerpt5m": ([2, 4, 6, 6, 8, 8, 10, 12, 14, 20], 0.416),
}
SPEED = {"speed0.8": 0.8, "speed1.25": 1.25}


def load_calibration(path: Path | None) -> dict[str, tuple[list[int], float]]:
    if path is None:
        return CALIBRATION
    data = json.loads(path.read_text())
    return {
        k: (
            np.percentile(v["aligned"], np.arange(5, 100, 10)).round().astype(int).tolist(),
            v["landmarks_surviving"],
        )
        for k, v in data.items()
    }


def _flip(hashes: np.ndarray, p_num: int, rng: np.random.Generator) -> np.ndarray:
    """``hashes`` with each bit flipped with probability 1 / 2**p_num (ANDs of random bytes)."""
    mask = rng.integers(0, 256, hashes.shape, dtype=np.uint8)
    for _ in range(p_num - 1):
        mask &= rng.integers(0, 256, hashes.shape, dtype=np.uint8)
    return hashes ^ mask


def lesson(i: int) -> Fingerprint:
    """Synthetic lesson ``i`` (deterministic)."""
    rng = np.random.default_rng(1_000_003 + i)
    room = np.random.default_rng(i // 25).integers(0, 256, 32, dtype=np.uint8)
    scenes = _flip(np.broadcast_to(room, (40, 32)), 2, rng)  # a quarter of the bits off the room: 64
    n = int(LESSON_S / RUN_S)
    cut = np.sort(rng.integers(0, 40, n))
    hashes = _flip(scenes[cut], 4, rng)  # frames ~1/16 of bits off their scene
    starts = (np.arange(n) * RUN_S + rng.uniform(0, 0.5, n)).astype(np.float32)
    visual = VisualFingerprint(
        starts,
        starts + 1.0,
        hashes,
        _flip(hashes, 1, rng),
        np.full(n, 90, np.uint8),
        0.5,
        2 * LESSON_S,
        2 * LESSON_S,
    )
    m = int(LANDMARKS_PER_S * LESSON_S)
    f1 = np.clip(rng.normal(120, 70, m), 10, 459).astype(np.int64)
    df = np.clip(rng.normal(0, 35, m), -100, 100).astype(np.int64)
    dtb = rng.integers(0, 33, m)
    audio = AudioFingerprint(
        pack_hash(f1, df, dtb),
        np.sort(rng.uniform(0, LESSON_S, m)).astype(np.float32),
        LESSON_S,
        LESSON_S,
        True,
    )
    return Fingerprint(visual, audio)


def copy_of(
    src: Fingerprint, start: float, length: float, transform: str, cal: dict, rng: np.random.Generator
) -> Fingerprint:
    """[start, start + length) of ``src`` through ``transform`` (calibrated), re-timed from 0."""
    deciles, surviving = cal[transform]
    speed = SPEED.get(transform, 1.0)
    v, a = src.visual, src.audio
    keep = (v.starts >= start) & (v.starts < start + length)
    n = int(keep.sum())
    d = np.array(deciles)[rng.integers(0, 10, n)]
    bits = np.zeros((n, 256), np.uint8)
    for row, k in zip(bits, d, strict=True):
        row[rng.choice(256, int(k), replace=False)] = 1
    hashes = v.hashes[keep] ^ np.packbits(bits, axis=1)
    starts = ((v.starts[keep] - start) / speed).astype(np.float32)
    visual = VisualFingerprint(
        starts, starts + 1.0, hashes, _flip(hashes, 1, rng), v.quality[keep], 0.5, n, n
    )
    lm = (a.times >= start) & (a.times < start + length) & (rng.random(len(a.times)) < surviving)
    audio = AudioFingerprint(
        a.hashes[lm], ((a.times[lm] - start) / speed).astype(np.float32), length / speed, length, True
    )
    return Fingerprint(visual, audio)


def inside(part: Fingerprint, host: Fingerprint, at: float) -> Fingerprint:
    """``part`` pasted into ``host`` at ``at`` seconds (host's stretch replaced)."""
    hv, pv, ha, pa = host.visual, part.visual, host.audio, part.audio
    length = part.duration_s
    hk = (hv.starts < at) | (hv.starts >= at + length)
    ak = (ha.times < at) | (ha.times >= at + length)
    starts = np.concatenate([hv.starts[hk], pv.starts + at])
    order = np.argsort(starts, kind="stable")
    cat = lambda x, y: np.concatenate([x, y])[order]  # noqa: E731
    visual = VisualFingerprint(
        starts[order], cat(hv.ends[hk], pv.ends + at), cat(hv.hashes[hk], pv.hashes),
        cat(hv.mirrors[hk], pv.mirrors), cat(hv.quality[hk], pv.quality), 0.5, hv.samples, hv.hashed,
    )  # fmt: skip
    t = np.concatenate([ha.times[ak], pa.times + at])
    o = np.argsort(t, kind="stable")
    audio = AudioFingerprint(np.concatenate([ha.hashes[ak], pa.hashes])[o], t[o], LESSON_S, LESSON_S, True)
    return Fingerprint(visual, audio)


def build_shard(lessons: int, shards: int, shard: int, root: str) -> tuple[float, float, int]:
    """Simulate shard ``shard``'s lessons, bulk-build and save its snapshot: (simulation seconds, build
    and save seconds, snapshot bytes)."""
    t = time.perf_counter()
    members = list(range(shard, lessons, shards))  # by a hash of the id, in effect
    sigs = [Signature.of(lesson(i)) for i in members]
    frames = np.concatenate([x.frames for x in sigs])
    landmarks = np.concatenate([x.landmarks for x in sigs])
    frame_counts = np.array([len(x.frames) for x in sigs])
    landmark_counts = np.array([len(x.landmarks) for x in sigs])
    del sigs
    simulated = time.perf_counter() - t
    t = time.perf_counter()
    index = DedupIndex.build_arrays(
        [f"L{i}" for i in members],
        np.zeros(len(members), bool),
        frame_counts,
        frames,
        landmark_counts,
        landmarks,
    )
    path = Path(root) / f"shard{shard}.idx"
    index.save(path)
    return simulated, time.perf_counter() - t, path.stat().st_size


def build_shards(lessons: int, shards: int, root: Path, jobs: int) -> tuple[float, int]:
    """Every shard's snapshot, ``jobs`` shards at a time, kept in ``root`` for a later run: (build
    seconds summed over the shards, without the simulation; bytes)."""
    done = root / "built.json"
    if done.exists():
        built = json.loads(done.read_text())
        return built["build_s"], built["bytes"]
    root.mkdir(parents=True, exist_ok=True)
    with multiprocessing.get_context("spawn").Pool(jobs, maxtasksperchild=1) as pool:
        parts = pool.starmap(build_shard, [(lessons, shards, s, str(root)) for s in range(shards)])
    build_s, size = sum(p[1] for p in parts), sum(p[2] for p in parts)
    done.write_text(json.dumps({"build_s": build_s, "bytes": size}))
    return build_s, size


def serve(path: Path, conn) -> None:
    """A shard process: load the snapshot, answer searches (with their CPU time) until told to stop."""
    bare = int(Path("/proc/self/statm").read_text().split()[1]) * 4096  # the interpreter and imports
    t = time.perf_counter()
    index = DedupIndex.load(path)
    conn.send((time.perf_counter() - t, bare))
    while (fp := conn.recv()) is not None:
        t = time.process_time()  # CPU time: what the search costs on a core of its own
        result = index.search(fp)
        conn.send((result, time.process_time() - t))
    status = Path("/proc/self/status").read_text()  # VmHWM: this process's peak (ru_maxrss spans exec)
    conn.send(int(status.split("VmHWM:")[1].split()[0]) * 1024)


def percentile_ms(times: list[float], q: float) -> float:
    return float(np.percentile(np.array(times) * 1000, q))


def run_size(lessons: int, shards: int, queries: int, cal: dict, jobs: int, keep: Path | None) -> None:
    hours = lessons * LESSON_S / 3600
    with tempfile.TemporaryDirectory() as tmp:
        root = (keep or Path(tmp)) / f"{lessons}x{shards}"
        build_s, size = build_shards(lessons, shards, root, jobs)
        ctx = multiprocessing.get_context("spawn")
        pipes, procs = [], []
        t = time.perf_counter()
        for s in range(shards):
            here, there = ctx.Pipe()
            p = ctx.Process(target=serve, args=(root / f"shard{s}.idx", there))
            p.start()
            pipes.append(here)
            procs.append(p)
        loads = [c.recv() for c in pipes]
        cold = time.perf_counter() - t

        rng = np.random.default_rng(7)
        transforms = list(cal)
        lat, path, found, asked, verify_s = [], [], {}, {}, []
        for k in range(queries):
            i = int(rng.integers(lessons))
            src = lesson(i)
            tr = transforms[k % len(transforms)]
            kind = ("full", "5-min", "2-min", "2-min inside a lesson")[k // len(transforms) % 4]
            if kind == "full":
                q = copy_of(src, 0, LESSON_S, tr, cal, rng)
            else:
                length = 300.0 if kind == "5-min" else 120.0
                q = copy_of(src, float(rng.uniform(0, LESSON_S - length)), length, tr, cal, rng)
                if kind.endswith("lesson"):
                    q = inside(q, lesson(10 * lessons + k), float(rng.uniform(0, LESSON_S - 200)))
            t = time.perf_counter()
            for c in pipes:
                c.send(q)
            answers = [c.recv() for c in pipes]
            m = time.perf_counter()
            merged = merge([result for result, _ in answers])
            lat.append(time.perf_counter() - t)
            path.append(max(took for _, took in answers) + time.perf_counter() - m)
            key = f"{kind}, {'crop' if tr == 'crop' else 'other transforms'}"
            asked[key] = asked.get(key, 0) + 1
            found[key] = found.get(key, 0) + any(c.video_id == f"L{i}" for c in merged.candidates)
            if k < 8 and merged.candidates:
                t = time.perf_counter()
                verify(q, lesson(int(merged.candidates[0].video_id[1:])))
                verify_s.append(time.perf_counter() - t)
        for c in pipes:
            c.send(None)
        rss = sum(c.recv() - bare for c, (_, bare) in zip(pipes, loads, strict=True))
        for p in procs:
            p.join()
    print(
        f"\n{lessons:,} lessons ({hours:,.0f} lesson-hours) in {shards} shards: build {build_s:.0f} s"
        f" ({1000 * build_s / lessons:.0f} ms per lesson); cold start {cold:.1f} s"
        f" (slowest snapshot load {max(load for load, _ in loads):.2f} s)"
    )
    print(
        f"  memory per lesson-hour: snapshot {size / hours / 1024:.0f} KiB, peak RSS of the shard processes"
        f" {rss / hours / 1024:.0f} KiB (growth over a bare interpreter: pages {queries} queries touched)"
    )
    print(
        f"  fan-out + merge: p50 {percentile_ms(lat, 50):.0f} ms, p99 {percentile_ms(lat, 99):.0f} ms;"
        f" verification of the top candidate p50 {percentile_ms(verify_s, 50):.0f} ms"
    )
    print(
        f"  with a core per shard (slowest shard's search CPU time + merge):"
        f" p50 {percentile_ms(path, 50):.0f} ms,"
        f" p99 {percentile_ms(path, 99):.0f} ms"
    )
    for key in sorted(asked):
        print(f"  recall {key}: {found[key]}/{asked[key]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lessons", type=int, nargs="+", default=[2000, 4000, 8000])
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--queries", type=int, default=96)
    parser.add_argument("--calibration", type=Path, help="JSON written by bench_dedup_transforms.py --out")
    parser.add_argument("--jobs", type=int, default=2, help="shards built at once")
    parser.add_argument("--keep", type=Path, help="keep the snapshots here and reuse them on the next run")
    args = parser.parse_args()
    cal = load_calibration(args.calibration)
    print("copies calibrated on real transforms (per-frame distance deciles, landmarks surviving):")
    for name, (deciles, surviving) in cal.items():
        print(f"  {name:10s} {deciles}  {surviving:.0%}")
    for lessons in args.lessons:
        run_size(lessons, args.shards, args.queries, cal, args.jobs, args.keep)


if __name__ == "__main__":
    main()
