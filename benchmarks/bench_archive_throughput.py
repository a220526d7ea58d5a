"""Archive-run throughput on this machine: lessons per core-hour on a remux/transcode mix, a first
screening against a re-screening of presence and keyframes (`reprocess --all --stages
presence,keyframes`) and one of the fingerprints (`--stages fingerprint_visual,fingerprint_audio`,
which also matches again), and the same runs with 1 and 2 Ray workers (scaling efficiency). The
presence verdict and teacher seconds of every lesson are printed after the first screening and
after the re-screening, with the decode path the re-screening took.

Lessons: a synthetic speaking teacher (tests/synth_lessons.py) made the way phones record (H.264
High, 1 s GOP, 30 fps, AAC): half 1080p at 10 Mb/s (transcoded to the 720p review copy), half 720p at
4 Mb/s (remuxed). Each configuration runs in a fresh process with its own local Ray (num_cpus = the
workers) on SQLite and a local store, through the archive-run code the CLI uses. CPU is every process
of that tree (driver, Ray, its workers, their ffmpeg children) read from /proc, so it is the whole
cost of a screening, duplicate search included, and none of the other jobs on the machine.

    .venv/bin/python benchmarks/bench_archive_throughput.py [--lessons 4] [--seconds 60]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TICK = os.sysconf("SC_CLK_TCK")
# first screening; re-screening presence + keyframes; re-screening the fingerprints (and matching again)
RUNS = ("first", "rescreen", "fingerprints")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of the process and its waited-for children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), sum(int(f) for f in fields[11:15]) / TICK


def tree_cpu(root: int) -> dict[int, float]:
    """CPU seconds of ``root`` and all its descendants, by pid."""
    table = {int(p): s for p in os.listdir("/proc") if p.isdigit() and (s := _stat(int(p)))}
    members, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _) in table.items():
            if ppid == parent and pid not in members:
                members.add(pid)
                frontier.append(pid)
    return {pid: table[pid][1] for pid in members if pid in table}


def cpu_since(before: dict[int, float], root: int) -> float:
    after = tree_cpu(root)
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


def make_lessons(folder: Path, n: int, seconds: int) -> list[tuple[Path, str]]:
    from tests.synth_lessons import FACES, Appearance, Lesson, render_lesson

    base = render_lesson(
        Lesson(
            seconds,
            1280,
            720,
            fps=10,
            appearances=(Appearance(FACES / "obama/ref1.jpg", 0, seconds, face_px=150),),
        ),
        folder / "base.mp4",
    )
    made = []
    for i in range(n):
        transcode = i % 2 == 0
        size, rate = ("1920:1080", "10M") if transcode else ("1280:720", "4M")
        out = folder / f"lesson{i}.mp4"
        subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(base),
             "-f", "lavfi", "-i", f"sine=f={200 + 40 * i}:d={seconds}:sample_rate=48000",
             "-vf", f"scale={size},fps=30,hue=h={7 * i}", "-map", "0:v", "-map", "1:a",
             "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-g", "30", "-b:v", rate,
             "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-shortest", str(out)],
            check=True,
        )  # fmt: skip
        made.append((out, "transcode" if transcode else "remux"))
    return made


def run_config(workers: int, folder: Path, lessons: int) -> dict:
    """One configuration in this (fresh) process: a first screening, then a re-screening."""
    import ray
    from sqlmodel import Session, select

    from core import archive_runs
    from core.db import init_db, make_engine
    from core.enrolment import enroll
    from core.settings import Settings
    from core.storage import open_blob_store
    from models.submissions import Submission
    from tests.synth_lessons import FACES
    from workers import archive_run
    from workers.archive_sources import ArchiveSource

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=workers, object_store_memory=300 * 2**20, include_dashboard=False, log_to_driver=False)
    settings = Settings(home=folder / f"home-{workers}", poll_seconds=0.2)
    engine = make_engine(settings.resolved_database_url)
    init_db(engine)
    store = open_blob_store(settings)
    with Session(engine) as session:
        for i in range(lessons):  # one teacher per school: no colleague has the same face
            school = f"sc.cd.wh.s{i:03d}"
            enroll(
                session, store, f"t{i}", [FACES / "obama/ref2.jpg"], school_code=school, enrolled_by="bench"
            )
        session.commit()
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "teacher_id", "school"])
        w.writerows([f"lesson{i}.mp4", f"t{i}", f"sc.cd.wh.s{i:03d}"] for i in range(lessons))
    ray.get([ray.remote(lambda: None).remote() for _ in range(workers)])  # workers up before timing

    def timed(kind: str, spec: dict, enqueue) -> dict:
        with Session(engine) as session:
            run, _ = archive_runs.resume_or_start(session, kind, spec)
        before, t0 = tree_cpu(os.getpid()), time.perf_counter()
        counts = archive_run.execute(
            settings, engine, run.id, lambda tick: enqueue(run, tick), drain_here=True, poll_s=0.2
        )
        return {
            "wall_s": time.perf_counter() - t0,
            "cpu_s": cpu_since(before, os.getpid()),
            "counts": counts.as_dict(),
        }

    first = timed(
        "batch",
        {"manifest": str(manifest)},
        lambda run, tick: archive_run.enqueue_manifest(
            settings, engine, store, run, str(manifest), ArchiveSource(folder, settings), tick=tick
        ),
    )

    def reprocess(stages: tuple[str, ...]) -> dict:
        selection = archive_run.Selection(all=True, stages=stages)
        return timed(
            "reprocess",
            selection.spec(),
            lambda run, tick: archive_run.enqueue_selection(settings, engine, run, selection, tick=tick),
        )

    def presence() -> list[dict]:
        with Session(engine) as session:
            reports = [s.report for s in session.exec(select(Submission).order_by(Submission.id)).all()]
        return [
            {
                "verdict": (r.get("presence") or {}).get("verdict", r["status"]),
                "teacher_s": (r.get("presence") or {}).get("teacher_seconds"),
                "mode": (r.get("rendition") or {}).get("mode", "-"),
                "path": (r.get("rescreen") or {}).get("path", "whole screening"),
            }
            for r in reports
        ]

    screened = presence()
    again = reprocess(("presence", "keyframes"))
    rescreened = presence()
    fingerprints = reprocess(("fingerprint_visual", "fingerprint_audio"))
    ray.shutdown()
    return {
        "workers": workers,
        "first": first,
        "rescreen": again,
        "fingerprints": fingerprints,
        "screened": screened,
        "rescreened": rescreened,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lessons", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--config", type=int, help=argparse.SUPPRESS)  # internal: one configuration
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.config:
        print(json.dumps(run_config(args.config, args.folder, args.lessons)))
        return
    folder = Path(tempfile.mkdtemp(prefix="bench-archive-"))
    try:
        made = make_lessons(folder, args.lessons, args.seconds)
        minutes = args.lessons * args.seconds / 60
        print(f"{args.lessons} lessons of {args.seconds} s ({', '.join(m for _, m in made)}); "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip
        results = []
        for workers in (1, 2):
            out = subprocess.run(
                [sys.executable, __file__, "--config", str(workers), "--folder", str(folder),
                 "--lessons", str(args.lessons)],
                check=True, capture_output=True, text=True, cwd=ROOT,
            )  # fmt: skip
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print("| Ray workers | run | wall s | CPU s | CPU-s per video-minute | lessons per core-hour (these) "
              "| lessons per hour (wall) |")  # fmt: skip
        print("|---|---|---|---|---|---|---|")
        for r in results:
            for name in RUNS:
                m = r[name]
                per_min, per_core_hour = m["cpu_s"] / minutes, args.lessons / (m["cpu_s"] / 3600)
                print(f"| {r['workers']} | {name} | {m['wall_s']:.1f} | {m['cpu_s']:.1f} | {per_min:.1f} "
                      f"| {per_core_hour:.0f} | {args.lessons / (m['wall_s'] / 3600):.0f} |")  # fmt: skip
        for name in RUNS:
            one, two = (r[name]["wall_s"] for r in results)
            print(
                f"scaling 1 -> 2 workers, {name}: {one / two:.2f}x throughput, efficiency {one / two / 2:.0%}"
            )
        print("| Ray workers | lesson | rendition | first: verdict, teacher s | again: verdict, teacher s "
              "| re-screen decode |")  # fmt: skip
        print("|---|---|---|---|---|---|")
        for r in results:
            for i, (a, b) in enumerate(zip(r["screened"], r["rescreened"], strict=True)):
                print(f"| {r['workers']} | {i} | {a['mode']} | {a['verdict']}, {a['teacher_s']} "
                      f"| {b['verdict']}, {b['teacher_s']} | {b['path']} |")  # fmt: skip
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
