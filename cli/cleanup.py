"""``evidence cleanup``: expire stale resumable uploads and collect orphan blobs (``core.cleanup``)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cli.context import backends
from core.cleanup import run_cleanup


def register(app: typer.Typer) -> None:
    """Add the ``cleanup`` command to the ``evidence`` app."""
    app.command("cleanup")(cleanup_command)


def cleanup_command(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would go (expired uploads are not counted)")
    ] = False,
) -> None:
    """Expire resumable uploads past their deadline, drop parts no open upload owns, and delete blobs
    that nothing refers to and that are older than 24 h; prints the counts as JSON."""
    b = backends()
    report = run_cleanup(b.engine, b.store, b.settings, dry_run=dry_run)
    typer.echo(json.dumps({"dry_run": dry_run, **report.as_dict()}))
