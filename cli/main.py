"""``evidence``: process, inspect and serve screening of teachers' lesson recordings."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import Session

from cli import allowlist, assign, batch, cleanup, exit_codes, faces, index, keys, runs, serve, users
from cli.console import err
from cli.context import backends, regular_file, screen_now
from cli.summary import render_summary
from core.audit import Origin
from core.submissions import SubmissionConflict, submit_file
from models.submissions import Submission
from pipeline.errors import MediaError
from workers.runner import JobRunner

app = typer.Typer(
    name="evidence",
    help="Screen teachers' lesson recordings: validate, render, check presence, find duplicates.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

STATUS_EXIT = {
    "screened": exit_codes.OK,
    "rejected": exit_codes.MEDIA_REJECTED,
    "failed": exit_codes.INTERNAL_FAILURE,
}


def _print_report(report: dict) -> None:
    sys.stdout.write(json.dumps(report, ensure_ascii=False, indent=2) + "\n")


@app.command()
def process(
    video: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, readable=True, callback=regular_file, help="Video file"),
    ],
    teacher: Annotated[str | None, typer.Option("--teacher", help="Claimed teacher id")] = None,
    submission_id: Annotated[
        str | None, typer.Option("--submission-id", help="Re-run this submission (same file)")
    ] = None,
) -> None:
    """Run one file through the whole pipeline; print the screening report as JSON on stdout."""
    b = backends()
    with Session(b.engine) as session:
        try:
            sub = submit_file(
                session,
                b.store,
                video,
                teacher_id=teacher,
                submission_id=submission_id,
                max_bytes=b.settings.max_upload_bytes,
                origin=Origin.cli(),
            )
        except SubmissionConflict as exc:
            err.print(f"[red]error:[/] {exc}")
            raise typer.Exit(exit_codes.BAD_INPUT) from exc
        except MediaError as exc:  # refused before it was stored, as the API answers 413
            err.print(f"[red]error:[/] {exc.code}: {exc.message} ({exc.detail})", highlight=False)
            raise typer.Exit(exit_codes.MEDIA_REJECTED) from exc
    with err.status(f"screening {video.name} as {sub.id} …"):
        report = screen_now(b, sub.id)
    if report is None:
        err.print(f"[red]error:[/] {sub.id} is held by another worker; try `evidence show {sub.id}` later")
        raise typer.Exit(exit_codes.INTERNAL_FAILURE)
    _print_report(report)
    render_summary(err, report)
    raise typer.Exit(STATUS_EXIT.get(report["status"], exit_codes.INTERNAL_FAILURE))


@app.command()
def show(submission_id: Annotated[str, typer.Argument(help="Submission id")]) -> None:
    """Print the stored screening report of a submission."""
    b = backends()
    with Session(b.engine) as session:
        sub = session.get(Submission, submission_id)
        if sub is None:
            err.print(f"[red]error:[/] no submission {submission_id}")
            raise typer.Exit(exit_codes.NOT_FOUND)
        report = sub.report or {"submission_id": sub.id, "status": sub.status.value}
    _print_report(report)


@app.command()
def worker(
    until_empty: Annotated[bool, typer.Option(help="Exit once no job is left to claim")] = False,
) -> None:
    """Claim and process queued jobs until interrupted (SIGINT/SIGTERM release the leases)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    b = backends()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    runner = JobRunner(b.settings, b.engine)
    err.print(f"worker {runner.worker_id} polling {b.settings.resolved_database_url.split('@')[-1]}")
    runner.run_forever(stop, exit_when_idle=until_empty)


faces.register(app)
allowlist.register(app)
batch.register(app)
users.register(app)
serve.register(app)
assign.register(app)
index.register(app)
cleanup.register(app)
keys.register(app)
runs.register(app)

if __name__ == "__main__":
    app()
