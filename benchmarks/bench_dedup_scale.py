"""Scale of the duplicate index: synthetic fingerprints for many 45-minute lessons, at the rates measured
on generated lessons, then query latency for 45-minute query lessons, memory and build time.

    .venv/bin/python benchmarks/bench_dedup_scale.py --lessons 2000     # first, small
    .venv/bin/python benchmarks/bench_dedup_scale.py --lessons 20000    # the target (15,000 lesson-hours)

Rates: a classroom lesson and a screencast (tests/synth_dedup.py) go through the real decode and both
fingerprinters; their runs/s, indexed frames/s and landmarks/s drive the simulation. Simulated frame
hashes are correlated like real ones (a school's rooms share a background, a lesson's frames share its
room); landmark hashes are drawn from the measured per-field distributions (anchor bin, frequency step,
time step), so posting lists are as uneven as real speech makes them.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.analysis.host import AnalyserHost
from pipeline.dedup import (
    AudioFingerprint,
    AudioFingerprinter,
    DedupIndex,
    Fingerprint,
    VisualFingerprint,
    VisualFingerprinter,
    verify,
)
from pipeline.dedup.audio import pack_hash
from pipeline.dedup.index import VISUAL_EVERY_S, indexed_landmarks, indexed_runs
from pipeline.limits import MediaLimits
from pipeline.media_pass import process_media
from tests.synth_dedup import LessonSpec, make_lesson

LESSON_S = 45 * 60


def measure_rates(workdir: Path) -> dict[str, float | np.ndarray]:
    """Fingerprint rates and landmark field distributions of generated 40-s lessons."""
    specs = [
        LessonSpec(seed=101, room=7, template=7, duration=40),
        LessonSpec(seed=102, room=8, template=8, duration=40, screencast=True),
    ]
    runs = indexed = landmarks = kept = seconds = 0.0
    fields: list[np.ndarray] = []
    for k, spec in enumerate(specs):
        path = make_lesson(spec, workdir / f"rate{k}.mp4")
        v, a = VisualFingerprinter(), AudioFingerprinter()
        job = workdir / f"job{k}"
        job.mkdir()
        out = process_media(path, job, MediaLimits(), AnalyserHost([v, a]))
        fp = Fingerprint.from_stage_data(out.outputs[v.stage].data, out.outputs[a.stage].data)
        seconds += fp.duration_s
        runs += len(fp.visual)
        indexed += len(indexed_runs(fp.visual))
        landmarks += len(fp.audio.hashes)
        kept += len(indexed_landmarks(fp.audio))
        h = fp.audio.hashes.astype(np.int64)
        fields.append(np.stack([h >> 14, ((h >> 6) & 0xFF) - 128, h & 0x3F], axis=1))
    return {
        "runs_per_s": runs / seconds,
        "indexed_frames_per_s": indexed / seconds,
        "landmarks_per_s": landmarks / seconds,
        "indexed_landmarks_per_s": kept / seconds,
        "fields": np.concatenate(fields),
    }


class Simulator:
    """Deterministic synthetic 45-minute lesson fingerprints."""

    def __init__(self, rates: dict, rooms: int, seed: int = 0):
        self.frame_rate = min(float(rates["runs_per_s"]), 1.0 / VISUAL_EVERY_S)  # what the index keeps
        self.landmark_rate = float(rates["landmarks_per_s"])
        self.fields = rates["fields"]
        base = np.random.default_rng(seed)
        self.rooms = base.integers(0, 2, (rooms, 256), dtype=np.uint8)

    def lesson(self, i: int) -> Fingerprint:
        rng = np.random.default_rng(1_000_003 + i)
        n = int(self.frame_rate * LESSON_S)
        room = self.rooms[i % len(self.rooms)]
        lesson = room ^ (rng.random(256) < 0.15)
        bits = lesson[None, :] ^ (rng.random((n, 256)) < 0.16)
        hashes = np.packbits(bits.astype(np.uint8), axis=1)
        starts = (np.arange(n) * (LESSON_S / n) + rng.uniform(0, 1, n)).astype(np.float32)
        visual = VisualFingerprint(
            starts,
            starts + 2.0,
            hashes,
            hashes[:, ::-1].copy(),
            np.full(n, 90, np.uint8),
            1.0,
            LESSON_S,
            LESSON_S,
        )
        m = int(self.landmark_rate * LESSON_S)
        f = self.fields[rng.integers(0, len(self.fields), (m, 3)), [0, 1, 2]]
        audio = AudioFingerprint(
            pack_hash(f[:, 0], f[:, 1], f[:, 2]),
            np.sort(rng.uniform(0, LESSON_S, m)).astype(np.float32),
            LESSON_S,
            LESSON_S,
            True,
        )
        return Fingerprint(visual, audio)

    def copy_of(self, i: int, seed: int) -> Fingerprint:
        """A re-encoded copy of lesson ``i``: frames a few bits off, 60% of the landmarks surviving."""
        rng = np.random.default_rng(seed)
        src = self.lesson(i)
        v = src.visual
        flips = np.packbits((rng.random((len(v), 256)) < 0.04).astype(np.uint8), axis=1)
        keep = rng.random(len(src.audio.hashes)) < 0.6
        visual = VisualFingerprint(
            v.starts, v.ends, v.hashes ^ flips, v.mirrors, v.quality, 1.0, v.samples, v.hashed
        )
        audio = AudioFingerprint(src.audio.hashes[keep], src.audio.times[keep], LESSON_S, LESSON_S, True)
        return Fingerprint(visual, audio)


def percentile_ms(times: list[float], q: float) -> float:
    return float(np.percentile(np.array(times) * 1000, q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lessons", type=int, default=20000)
    parser.add_argument("--queries", type=int, default=60)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        rates = measure_rates(Path(tmp))
    print("measured on generated lessons (classroom + screencast, 40 s each):")
    r = rates
    print(f"  runs of distinct frames {r['runs_per_s']:.3f}/s,", end=" ")
    print(f"indexed frames {r['indexed_frames_per_s']:.3f}/s (at most 1 per {VISUAL_EVERY_S:g} s)")
    print(f"  audio landmarks {r['landmarks_per_s']:.2f}/s, indexed {r['indexed_landmarks_per_s']:.2f}/s")

    sim = Simulator(rates, rooms=max(1, args.lessons // 25))
    hours = args.lessons * LESSON_S / 3600
    simulated = [0.0]

    def lessons():
        for i in range(args.lessons):
            t = time.perf_counter()
            fp = sim.lesson(i)
            simulated[0] += time.perf_counter() - t
            yield f"L{i}", fp, False

    t0 = time.perf_counter()
    index = DedupIndex.build(lessons())
    build_s = time.perf_counter() - t0 - simulated[0]  # indexing only, not the simulation
    sizes = index.nbytes()
    print(
        f"\nindexed {args.lessons} lessons x 45 min = {hours:,.0f} lesson-hours: build {build_s:.1f} s"
        f" ({len(index.v_hash):,} frames, {len(index.a_video):,} landmark postings)"
    )
    kib = {k: v / 1024 / hours for k, v in sizes.items()}
    print(
        f"memory per lesson-hour: visual {kib['visual']:.1f} KiB, audio {kib['audio']:.1f} KiB, "
        f"total {sum(kib.values()):.1f} KiB (aim <= 320); index total {sum(sizes.values()) / 2**20:.0f} MiB"
    )

    rng = np.random.default_rng(7)
    lat, found = [], 0
    n_copies = args.queries // 2
    for k in range(args.queries):
        if k < n_copies:
            src = int(rng.integers(args.lessons))
            query = sim.copy_of(src, seed=k)
        else:
            src, query = -1, sim.lesson(args.lessons + k)  # a new lesson, sharing rooms with indexed ones
        t = time.perf_counter()
        res = index.search(query)
        lat.append(time.perf_counter() - t)
        found += src >= 0 and bool(res.candidates) and res.candidates[0].video_id == f"L{src}"
    p50, p99 = percentile_ms(lat, 50), percentile_ms(lat, 99)
    print(f"\nquery (45-min lesson, retrieval): p50 {p50:.0f} ms, p99 {p99:.0f} ms", end=" ")
    print(f"over {args.queries} queries;", end=" ")
    print(f"copies ranked first: {found}/{n_copies}")
    add_lat, search_lat = [], []
    for k in range(20):  # new submissions arriving one by one: add, then search the next one
        fp = sim.lesson(2 * args.lessons + k)
        t = time.perf_counter()
        index.add(f"N{k}", fp)
        add_lat.append(time.perf_counter() - t)
        t = time.perf_counter()
        index.search(sim.lesson(3 * args.lessons + k))
        search_lat.append(time.perf_counter() - t)
    print(f"online: add p50 {percentile_ms(add_lat, 50):.0f} ms;", end=" ")
    s50, s99 = percentile_ms(search_lat, 50), percentile_ms(search_lat, 99)
    print(f"search with up to {len(add_lat)} lessons in the delta p50 {s50:.0f} ms, p99 {s99:.0f} ms")
    t = time.perf_counter()
    index.compact()
    print(f"compaction (full rebuild of the frozen part): {time.perf_counter() - t:.1f} s")
    src = sim.lesson(0)
    t = time.perf_counter()
    m = verify(sim.copy_of(0, seed=99), src)
    print(
        f"verification of one 45-min candidate: {1000 * (time.perf_counter() - t):.0f} ms "
        f"({m.kind if m else 'no match'})"
    )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
