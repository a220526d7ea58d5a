"""``evidence runs``: archive runs as the database counts them, from any machine that reaches it."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.table import Table
from sqlmodel import Session, col, select

from cli import exit_codes
from cli.console import err
from cli.context import backends
from cli.run_display import RunProgress, print_table
from core import archive_runs
from models.archive_runs import ArchiveRun

runs_app = typer.Typer(
    help="Archive runs (evidence batch --manifest, evidence reprocess).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add the ``runs`` commands to the ``evidence`` app."""
    app.add_typer(runs_app, name="runs")


@runs_app.command("list")
def list_command(limit: Annotated[int, typer.Option(help="Most recent runs first")] = 20) -> None:
    """Recent runs: kind, state, rows and what their queued lessons became."""
    b = backends()
    table = Table("run", "kind", "started", "state", "rows", "queued", "finished", "bad")
    with Session(b.engine) as session:
        runs = session.exec(select(ArchiveRun).order_by(col(ArchiveRun.created_at).desc()).limit(limit)).all()
        for run in runs:
            c = archive_runs.counts(session, run.id)
            state = "finished" if run.finished_at else ("draining" if c.input_done else "reading rows")
            table.add_row(
                run.id,
                run.kind,
                run.created_at.isoformat(timespec="seconds"),
                state,
                str(c.rows),
                str(c.queued),
                str(c.finished),
                str(c.bad),
            )
    err.print(table)


@runs_app.command("show")
def show_command(
    run_id: str,
    watch: Annotated[
        bool, typer.Option(help="Follow the progress until every queued lesson has ended")
    ] = False,
) -> None:
    """A run's outcome table; with ``--watch``, its progress bar (rate and ETA from the database) first."""
    b = backends()
    with Session(b.engine) as session:
        if session.get(ArchiveRun, run_id) is None:
            err.print(f"[red]error:[/] no run {run_id}")
            raise typer.Exit(exit_codes.NOT_FOUND)
        c = archive_runs.counts(session, run_id)
    if watch:
        with RunProgress() as progress:
            while True:
                with Session(b.engine) as session:
                    c = archive_runs.counts(session, run_id)
                progress(c)
                if c.complete:
                    break
                time.sleep(b.settings.poll_seconds * 2)
    print_table(c)
