"""``evidence batch`` and ``evidence reprocess``: whole archives through the same pipeline."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli import exit_codes
from cli.console import err
from cli.context import backends
from workers import batch


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
    paths: Annotated[list[Path], typer.Argument(exists=True, help="Files or folders of an archive")],
    teachers: Annotated[
        Path | None, typer.Option("--teachers", exists=True, help="CSV with columns file,teacher_id")
    ] = None,
    teacher_from_folder: Annotated[
        bool, typer.Option(help="Take the teacher id from each file's parent folder name")
    ] = False,
    any_extension: Annotated[bool, typer.Option(help="Ingest every file, not only video extensions")] = False,
) -> None:
    """Ingest an archive as new submissions and screen them all (progress on stderr)."""
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
) -> None:
    """Run submissions through the pipeline again; unchanged stages are reused, stale ones recomputed."""
    b = backends()
    ids = list(dict.fromkeys(submission_ids or []))
    if stale:
        named = set(ids)
        ids += [i for i in batch.stale_submissions(b.engine, b.settings) if i not in named]
    if not ids:
        err.print("nothing to reprocess")
        return
    try:
        batch.requeue(b.engine, ids)
    except KeyError as exc:
        err.print(f"[red]error:[/] no submission {exc.args[0]}")
        raise typer.Exit(exit_codes.NOT_FOUND) from exc
    counts = _drain(ids)
    raise typer.Exit(exit_codes.INTERNAL_FAILURE if counts.get("failed") else exit_codes.OK)


def register(app: typer.Typer) -> None:
    """Add the batch commands to the ``evidence`` app."""
    app.command("batch")(batch_command)
    app.command("reprocess")(reprocess_command)
