"""Memory of an archive run against the manifest's size: peak RSS of `evidence batch --manifest` at 1k,
10k and 100k rows, each in a fresh process on a fresh SQLite home, with the growth from one size to
the next. Rows point at a few real clips (one teacher per row, one row in a hundred bad), so the run
does what a real one does per row: check the teacher and school, find duplicate rows, record the row.

Modes: `--dry-run` (rows checked and recorded, nothing stored or queued) for every size, and
`--enqueue-only` (files stored, submissions and jobs created, nothing screened) for the sizes given
with --enqueue. Aim: flat, i.e. the peak does not grow with the rows (a 100x longer manifest adds
well under 10 MiB).

    .venv/bin/python benchmarks/bench_archive_manifest.py [--rows 1000 10000 100000] [--enqueue 1000 10000]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from core.db import init_db, make_engine  # noqa: E402
from tests.fixtures.media import make_video  # noqa: E402

SCHOOL = "sc.cd.wh.s017"
CLIPS = 5


def _home(base: Path, rows: int, clips: list[Path]) -> tuple[Path, Path]:
    home = base / f"home-{rows}"
    home.mkdir()
    engine = make_engine(f"sqlite:///{home / 'evidence.db'}")
    init_db(engine)
    with engine.begin() as conn:  # the teachers the rows name, in one statement
        conn.execute(
            sa.text(
                "INSERT INTO teachers (id, school_code, subject, created_at) VALUES (:id, :s, 'math', :t)"
            ),
            [{"id": f"t{i:06d}", "s": SCHOOL, "t": "2026-01-01 00:00:00"} for i in range(rows)],
        )
    engine.dispose()
    manifest = base / f"manifest-{rows}.csv"
    with manifest.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "teacher_id", "school"])
        for i in range(rows):
            teacher = f"t{i:06d}" if i % 100 != 99 else f"unknown{i}"  # 1% unknown teachers
            w.writerow([clips[i % len(clips)].name, teacher, SCHOOL])
    return home, manifest


def _run(home: Path, manifest: Path, mode: str) -> tuple[float, float, int]:
    """Wall seconds, peak RSS MiB (the process's own maximum, from wait4) and the exit code."""
    env = {**os.environ, "EVIDENCE_HOME": str(home), "RAY_AUTH_MODE": "disabled"}
    for name in ("DATABASE_URL", "EVIDENCE_STORAGE", "RAY_ADDRESS"):
        env.pop(name, None)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "batch", "--manifest", str(manifest), mode],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - started, usage.ru_maxrss / 1024, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--enqueue", type=int, nargs="*", default=[1000, 10000])
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-manifest-"))
    try:
        clips = [
            make_video(base / f"clip{i}.mp4", seconds=2 + i, width=320, height=240, fps=15)
            for i in range(CLIPS)
        ]
        print(f"load average at start: {os.getloadavg()[0]:.1f} (2 cores)")
        print("| mode | rows | wall s | rows/s | peak RSS MiB | growth vs previous size |")
        print("|---|---|---|---|---|---|")
        for mode, sizes in (("--dry-run", args.rows), ("--enqueue-only", args.enqueue)):
            previous = None
            for rows in sizes:
                home, manifest = _home(base, rows, clips)
                wall, peak, code = _run(home, manifest, mode)
                assert code == 0, f"{mode} {rows}: exit {code}"
                growth = f"{peak - previous:+.1f} MiB" if previous is not None else "-"
                print(
                    f"| {mode} | {rows:,} | {wall:.1f} | {rows / wall:,.0f} | {peak:.1f} | {growth} |",
                    flush=True,
                )
                previous = peak
                shutil.rmtree(home)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
