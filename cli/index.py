"""``evidence index``: build and publish the duplicate index's shard snapshots, and show their state."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlmodel import Session

from cli.console import err
from cli.context import backends
from core import dedup_signatures
from workers.dedup_indexer import build_all
from workers.ray_runtime import ensure_ray

index_app = typer.Typer(
    help="The duplicate index: shard snapshots built from the database.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add the ``index`` commands to the ``evidence`` app."""
    app.add_typer(index_app, name="index")


@index_app.command("build")
def build_command(
    shards: Annotated[int | None, typer.Option(help="Shards (default: EVIDENCE_DEDUP_SHARDS)")] = None,
    on_ray: Annotated[bool, typer.Option("--ray/--here", help="Build the shards as Ray tasks")] = False,
) -> None:
    """Build every shard's snapshot from the signatures committed so far and publish it; shard hosts
    swap it in and read only what was committed after it."""
    b = backends()
    n = shards or b.settings.dedup_shards
    if on_ray:
        ensure_ray(b.settings)
    with err.status(f"building {n} shard snapshot(s) …"):
        built = build_all(b.settings, n, on_ray=on_ray)
    table = Table("shard", "entries", "up to seq", "MiB")
    for s in built:
        table.add_row(f"{s.shard}/{n}", str(s.entries), str(s.seq), f"{s.size_bytes / 2**20:.1f}")
    err.print(table)


@index_app.command("status")
def status_command(
    shards: Annotated[int | None, typer.Option(help="Shards (default: EVIDENCE_DEDUP_SHARDS)")] = None,
) -> None:
    """The latest snapshot of each shard and how many signatures were committed after it."""
    b = backends()
    n = shards or b.settings.dedup_shards
    table = Table("shard", "snapshot seq", "entries", "MiB", "committed since", "built at")
    with Session(b.engine) as session:
        top = dedup_signatures.watermark(session)
        for k in range(n):
            snap = dedup_signatures.latest_snapshot(session, n, k)
            since = dedup_signatures.count(
                session, shards=n, shard=k, after=snap.seq if snap else 0, upto=top
            )
            table.add_row(
                f"{k}/{n}",
                str(snap.seq) if snap else "-",
                str(snap.entries) if snap else "-",
                f"{snap.size_bytes / 2**20:.1f}" if snap else "-",
                str(since),
                snap.created_at.isoformat(timespec="seconds") if snap else "-",
            )
    err.print(table)
