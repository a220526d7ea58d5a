"""What an archive run shows: bad rows with their reason (zh-CN and English), a progress bar whose rate
and ETA come from database counts, the closing table and the JSON summary file."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine
from sqlmodel import Session

from cli.console import err
from core import archive_runs
from core.archive_runs import RunCounts
from core.errors import MESSAGES
from models.archive_runs import ArchiveRun
from workers.archive_run import BadRow

SHOWN_BAD_ROWS = 100  # on screen; all of them are in the CSV next to the summary


def reason(code: str) -> str:
    """A problem code with its message in Chinese and English."""
    en, zh = MESSAGES.get(code, MESSAGES["internal_error"])
    return f"{code}: {zh} / {en}"


class BadRowPrinter:
    """Prints the first bad rows as they are found, then only counts them."""

    def __init__(self) -> None:
        self.seen = 0

    def __call__(self, bad: BadRow) -> None:
        self.seen += 1
        if self.seen <= SHOWN_BAD_ROWS:
            err.print(
                f"[yellow]row {bad.row}[/] {bad.source}: {reason(bad.problem)} ({bad.detail})",
                highlight=False,
            )
        elif self.seen == SHOWN_BAD_ROWS + 1:
            err.print("[yellow]… more bad rows: see the CSV named in the summary[/]")


class RunProgress:
    """A progress bar over the jobs the run queued; rate and ETA from the finished count over time."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=err,
        )
        self.task = self.progress.add_task("screening", total=None, rate="")
        self.started = time.monotonic()
        self.first: int | None = None

    def __enter__(self) -> RunProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, c: RunCounts) -> None:
        if self.first is None:
            self.first = c.finished  # a resumed run: rate counts only what this driver saw finish
        elapsed = time.monotonic() - self.started
        rate = (c.finished - self.first) / elapsed * 60 if elapsed > 0 else 0.0
        eta = f"ETA {_duration(c.remaining / rate * 60)}" if rate > 0 and c.input_done else "ETA -"
        reading = "" if c.input_done else f" (reading rows: {c.rows})"
        self.progress.update(
            self.task,
            total=c.queued or None,
            completed=c.finished,
            description=f"screening{reading}",
            rate=f"{rate:.1f}/min {eta}",
        )


def _duration(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def print_table(c: RunCounts, *, dry_run: bool = False) -> None:
    """The closing table of a run."""
    table = Table("outcome", "lessons", title="archive run summary")
    rows: list[tuple[str, int]] = (
        [("valid rows (dry run)", c.valid)]
        if dry_run
        else [
            ("screened", c.screened),
            ("rejected", c.rejected),
            ("failed", c.failed),
            ("skipped (already current)", c.skipped),
            ("duplicates found", c.duplicates),
            ("invalid found", c.invalid),
        ]
    )
    rows.append(("bad manifest rows", c.bad))
    if not dry_run and c.remaining:
        rows.append(("still queued or running", c.remaining))
    for label, n in rows:
        table.add_row(label, str(n))
    err.print(table)


def write_summary(
    engine: Engine, run_id: str, c: RunCounts, path: Path | None, state: str, home: Path
) -> Path:
    """The run's JSON summary (and its bad rows as CSV beside it); returns the JSON's path."""
    path = path or home / "runs" / f"{run_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    bad_csv = path.with_suffix(".bad-rows.csv")
    with Session(engine) as session, bad_csv.open("w", newline="", encoding="utf-8") as fh:
        run = session.get(ArchiveRun, run_id)
        writer = csv.writer(fh)
        writer.writerow(["row", "source", "problem", "message_zh", "message", "detail"])
        for item in archive_runs.bad_rows(session, run_id):
            en, zh = MESSAGES.get(item.problem or "", MESSAGES["internal_error"])
            writer.writerow([item.row, item.source, item.problem, zh, en, item.detail])
        summary: dict[str, Any] = {
            "run_id": run_id,
            "kind": run.kind,
            "spec": run.spec,
            "state": state,
            "created_at": run.created_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "counts": c.as_dict(),
            "bad_rows_csv": str(bad_csv),
        }
    path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
