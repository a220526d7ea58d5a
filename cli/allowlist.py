"""``evidence allowlist``: register known shared material (national courseware, school intros)."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import Session, select

from cli import exit_codes
from cli.console import err
from cli.context import backends, regular_file, screen_now
from core import duplicates
from core.audit import Origin, record
from core.submissions import submit_file
from models.dedup import AllowlistItem
from models.submissions import Submission, SubmissionStatus

allowlist_app = typer.Typer(
    help="Known shared material: matches with it are never flagged.", no_args_is_help=True
)


@allowlist_app.command("add")
def add(
    video: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, callback=regular_file)],
    title: Annotated[str, typer.Option(help="What the material is, e.g. 'national courseware, unit 3'")],
    by: Annotated[str | None, typer.Option("--by", help="Administrator registering it")] = None,
) -> None:
    """Screen the material and add it to the allowlist; prints its submission id."""
    b = backends()
    with Session(b.engine) as session:
        sub_id = submit_file(session, b.store, video, origin=Origin.cli()).id
        duplicates.allowlist(session, sub_id, title=title, added_by=by or getpass.getuser())
        record(session, Origin.cli(), "allowlist.add", "submission", sub_id, detail={"title": title})
        session.commit()
    with err.status(f"fingerprinting {video.name} …"):
        report = screen_now(b, sub_id)
    status = (report or {}).get("status", "held by another worker")
    if status != "screened":
        err.print(
            f"[red]error:[/] the material could not be screened ({status}); see `evidence show {sub_id}`"
        )
        raise typer.Exit(exit_codes.MEDIA_REJECTED)
    typer.echo(sub_id)


@allowlist_app.command("mark")
def mark(
    submission_id: Annotated[str, typer.Argument(help="A screened submission that is shared material")],
    title: Annotated[str, typer.Option(help="What the material is, e.g. 'national courseware, unit 3'")],
    by: Annotated[str | None, typer.Option("--by", help="Administrator registering it")] = None,
) -> None:
    """Register an already screened submission as shared material: its matches are withdrawn and
    every submission that matched it is re-checked now; prints the re-checked submission ids."""
    b = backends()
    with Session(b.engine) as session:
        sub = session.get(Submission, submission_id)
        if sub is None or sub.status != SubmissionStatus.screened:
            err.print(f"[red]error:[/] {submission_id} is not a screened submission")
            raise typer.Exit(exit_codes.BAD_INPUT)
        rechecked = duplicates.allowlist(
            session, submission_id, title=title, added_by=by or getpass.getuser()
        )
        detail = {"title": title, "rechecked": rechecked}
        record(session, Origin.cli(), "allowlist.add", "submission", submission_id, detail=detail)
        session.commit()
    for other_id in rechecked:
        with err.status(f"re-checking {other_id} …"):
            screen_now(b, other_id)
        typer.echo(other_id)


@allowlist_app.command("list")
def list_items() -> None:
    """Print the allowlist (submission id, title, who added it, when)."""
    b = backends()
    with Session(b.engine) as session:
        for item in session.exec(select(AllowlistItem).order_by(AllowlistItem.added_at)):
            typer.echo(f"{item.submission_id}\t{item.title}\t{item.added_by}\t{item.added_at:%Y-%m-%d %H:%M}")


def register(app: typer.Typer) -> None:
    """Add ``evidence allowlist add|list``."""
    app.add_typer(allowlist_app, name="allowlist")
