"""``evidence batch`` and ``evidence reprocess``: whole archives through the same pipeline."""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlmodel import Session

from cli import exit_codes
from cli.console import err
from cli.context import backends
from cli.run_display import BadRowPrinter, RunProgress, print_table, reason, write_summary
from core import archive_runs, jobs
from core.errors import DomainError
from workers import archive_run, batch
from workers.archive_sources import ArchiveSource, Unreadable

# how a run drains the queue (batch and reprocess)
EnqueueOnly = Annotated[bool, typer.Option(help="Only enqueue (runners elsewhere drain the queue)")]
DrainHere = Annotated[bool, typer.Option(help="Run a local runner even when runners elsewhere are at work")]


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    )


def _drain(ids: list[str], not_ingested: dict[str, int] | None = None) -> Counter:
    b = backends()
    with _progress() as progress:
        task = progress.add_task("screening", total=len(ids))
        counts = batch.drain(b.settings, b.engine, ids, lambda done: progress.update(task, completed=done))
    table = Table("outcome", "files", title="batch summary")
    for outcome, n in sorted({**counts, **(not_ingested or {})}.items()):
        table.add_row(outcome, str(n))
    err.print(table)
    return counts


def batch_command(
    paths: Annotated[
        list[Path] | None, typer.Argument(exists=True, help="Files or folders of an archive")
    ] = None,
    manifest: Annotated[
        str | None,
        typer.Option(
            "--manifest", help="CSV (a file or s3://bucket/key): path,teacher_id,school[,submission_id]"
        ),
    ] = None,
    prefix: Annotated[
        str | None,
        typer.Option(help="Where manifest paths live: s3://bucket/prefix/ or a folder (default: the CSV's)"),
    ] = None,
    teachers: Annotated[
        Path | None, typer.Option("--teachers", exists=True, help="CSV with columns file,teacher_id")
    ] = None,
    teacher_from_folder: Annotated[
        bool, typer.Option(help="Take the teacher id from each file's parent folder name")
    ] = False,
    any_extension: Annotated[bool, typer.Option(help="Ingest every file, not only video extensions")] = False,
    enqueue_only: EnqueueOnly = False,
    drain_here: DrainHere = False,
    dry_run: Annotated[bool, typer.Option(help="Check every row, store and queue nothing")] = False,
    summary: Annotated[
        Path | None, typer.Option(help="JSON summary file (default: EVIDENCE_HOME/runs/RUN.json)")
    ] = None,
) -> None:
    """Ingest an archive as new submissions and screen them all (progress on stderr). With
    ``--manifest``, an archive run: bad rows listed with their reason, resumable by running the same
    command again, a closing table and a JSON summary."""
    if manifest is not None:
        if paths or teachers or teacher_from_folder:
            err.print("[red]error:[/] --manifest takes no paths, --teachers or --teacher-from-folder")
            raise typer.Exit(exit_codes.USAGE)
        if not manifest.startswith("s3://"):
            if not Path(manifest).is_file():
                err.print(f"[red]error:[/] {reason('unreadable')} ({manifest})", highlight=False)
                raise typer.Exit(exit_codes.USAGE)
            manifest = str(Path(manifest).resolve())
        b = backends()
        source = ArchiveSource(prefix or manifest.rsplit("/", 1)[0] + "/", b.settings)
        spec = {"manifest": manifest, "prefix": prefix, "dry_run": dry_run}

        def enqueue(run: Any, printer: BadRowPrinter) -> Callable[[Callable[[], object]], None]:
            return lambda tick: archive_run.enqueue_manifest(
                b.settings,
                b.engine,
                b.store,
                run,
                manifest,
                source,
                dry_run=dry_run,
                on_bad=printer,
                tick=tick,
            )

        _archive_run(
            "batch",
            spec,
            enqueue,
            enqueue_only=enqueue_only,
            drain_here=drain_here,
            dry_run=dry_run,
            summary=summary,
        )
        return
    if not paths:
        err.print("[red]error:[/] give files or folders, or --manifest FILE.csv")
        raise typer.Exit(exit_codes.USAGE)
    b = backends()
    manifest: dict[Path, str] = {}
    if teachers is not None:
        try:
            manifest = batch.read_teacher_manifest(teachers)
        except ValueError as exc:
            err.print(f"[red]error:[/] {exc}")
            raise typer.Exit(exit_codes.BAD_INPUT) from exc

    def teacher_for(path: Path) -> str | None:
        return manifest.get(path) or (path.parent.name if teacher_from_folder else None)

    files = batch.find_videos(paths, any_extension=any_extension)
    if not files:
        err.print("[yellow]no video files found[/]")
        raise typer.Exit(exit_codes.NOT_FOUND)
    with _progress() as progress:
        task = progress.add_task("ingesting", total=len(files))
        ids, refused = batch.ingest(
            b.engine,
            b.store,
            files,
            teacher_for,
            lambda _: progress.advance(task),
            max_bytes=b.settings.max_upload_bytes,
        )
    for item in refused:
        err.print(f"[yellow]not ingested:[/] {item.path}: {item.code}: {item.message}", highlight=False)
    refused_by_code = Counter(f"not ingested ({r.code})" for r in refused)
    counts = _drain(ids, dict(refused_by_code))
    raise typer.Exit(exit_codes.INTERNAL_FAILURE if counts.get("failed") else exit_codes.OK)


def reprocess_command(
    submission_ids: Annotated[list[str] | None, typer.Argument(help="Submissions to run again")] = None,
    stale: Annotated[
        bool, typer.Option(help="Every submission whose results are not at the current versions, or failed")
    ] = False,
    all_: Annotated[bool, typer.Option("--all", help="Every finished submission")] = False,
    stages: Annotated[
        str | None,
        typer.Option(help="Comma-separated stages to recompute even when current, e.g. presence,keyframes"),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Count and list what would run, queue nothing")] = False,
    enqueue_only: EnqueueOnly = False,
    drain_here: DrainHere = False,
    summary: Annotated[
        Path | None, typer.Option(help="JSON summary file (default: EVIDENCE_HOME/runs/RUN.json)")
    ] = None,
) -> None:
    """Run submissions through the pipeline again, as a resumable archive run; unchanged stages are
    reused, stale ones (and ``--stages``) recomputed."""
    forced = tuple(dict.fromkeys(s.strip() for s in (stages or "").split(",") if s.strip()))
    if unknown := [s for s in forced if s not in archive_run.STAGES]:
        err.print(
            f"[red]error:[/] {reason('unknown_stage')}: {', '.join(unknown)}"
            f" (stages: {', '.join(archive_run.STAGES)})"
        )
        raise typer.Exit(exit_codes.USAGE)
    ids = tuple(dict.fromkeys(submission_ids or []))
    if not (ids or stale or all_):
        err.print("nothing to reprocess: name submissions, or give --stale or --all")
        return
    b = backends()
    if missing := batch.missing_submissions(b.engine, ids):
        err.print(f"[red]error:[/] no submission {missing[0]}")
        raise typer.Exit(exit_codes.NOT_FOUND)
    selection = archive_run.Selection(ids=ids, stale=stale, all=all_, stages=forced)

    def enqueue(run: Any, _printer: BadRowPrinter) -> Callable[[Callable[[], object]], None]:
        return lambda tick: archive_run.enqueue_selection(
            b.settings, b.engine, run, selection, dry_run=dry_run, tick=tick
        )

    spec = {**selection.spec(), "dry_run": dry_run}
    _archive_run(
        "reprocess",
        spec,
        enqueue,
        enqueue_only=enqueue_only,
        drain_here=drain_here,
        dry_run=dry_run,
        summary=summary,
    )


def _interrupted(*_: object) -> None:
    raise KeyboardInterrupt


def _archive_run(
    kind: str,
    spec: dict[str, Any],
    enqueue: Callable[[Any, BadRowPrinter], Callable[[Callable[[], object]], None]],
    *,
    enqueue_only: bool,
    drain_here: bool,
    dry_run: bool,
    summary: Path | None,
) -> None:
    """Start or resume the run, decide who drains the queue, show progress, close with the table."""
    b = backends()
    with Session(b.engine) as session:
        run, resumed = archive_runs.resume_or_start(session, kind, spec)
    err.print(
        f"{'resuming' if resumed else 'starting'} run {run.id} / {'继续' if resumed else '开始'}运行 {run.id}"
    )
    here = not (enqueue_only or dry_run)
    if here and not drain_here:
        watch_s = b.settings.heartbeat_seconds + b.settings.poll_seconds
        if others := jobs.runners_at_work(b.engine, watch_s, time.sleep):
            err.print(f"runners at work elsewhere ({len(others)}): only enqueueing; they drain the queue")
            here = False
    printer = BadRowPrinter()
    signal.signal(signal.SIGTERM, _interrupted)  # a pod being stopped: leases released as for Ctrl-C
    state = "interrupted"
    counts = None
    try:
        with RunProgress() as progress:
            counts = archive_run.execute(
                b.settings,
                b.engine,
                run.id,
                enqueue(run, printer),
                drain_here=here,
                wait=not (enqueue_only or dry_run),
                on_progress=progress,
            )
        state = "complete" if counts.complete else "enqueued"
    except DomainError as exc:  # a manifest without the required columns
        err.print(f"[red]error:[/] {reason(exc.code)} ({exc.detail})", highlight=False)
        state = "bad_input"
    except Unreadable as exc:  # the manifest itself
        err.print(f"[red]error:[/] {reason('unreadable')} ({exc})", highlight=False)
        state = "bad_input"
    except KeyboardInterrupt:
        err.print(
            "[yellow]interrupted: run the same command again to resume / 已中断：再次运行同一命令即可继续[/]"
        )
    finally:
        with Session(b.engine) as session:
            counts = archive_runs.counts(session, run.id)
        print_table(counts, dry_run=dry_run)
        path = write_summary(
            b.engine, run.id, counts, summary, "dry_run" if dry_run else state, b.settings.home
        )
        err.print(f"summary: {path}", highlight=False)
    if state == "interrupted":
        raise typer.Exit(130)
    if state == "bad_input":
        raise typer.Exit(exit_codes.BAD_INPUT)
    raise typer.Exit(exit_codes.INTERNAL_FAILURE if counts.failed else exit_codes.OK)


def register(app: typer.Typer) -> None:
    """Add the batch commands to the ``evidence`` app."""
    app.command("batch")(batch_command)
    app.command("reprocess")(reprocess_command)
