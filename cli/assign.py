"""``evidence assign peer|school|spot-check``: draw review assignments (audited)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated

import typer
from sqlmodel import Session

from cli import exit_codes
from cli.console import err
from cli.context import backends
from core.audit import Origin
from core.db import session_scope
from core.regions import InvalidRegion
from core.review.assign import Drawn, assign_peers, assign_school_review, draw_spot_check
from core.review.errors import ReviewError
from core.settings import Settings
from models.review import MAX_SEED, SpotLevel

Seed = Annotated[
    int | None, typer.Option("--seed", min=0, max=MAX_SEED, help="Reproduce a draw (default: random)")
]


def register(app: typer.Typer) -> None:
    """Add the ``assign`` command group to the ``evidence`` app."""
    assign = typer.Typer(
        help="Review assignments: peer review, school review and spot checks.", no_args_is_help=True
    )
    assign.command("peer")(peer_command)
    assign.command("school")(school_command)
    assign.command("spot-check")(spot_check_command)
    app.add_typer(assign, name="assign")


def _report(drawn: Drawn) -> None:
    b = drawn.batch
    err.print(
        f"batch {b.id}: {b.assigned} assignment(s) of {b.population} submission(s) in {b.region} "
        f"({b.kind.value}, seed {b.seed})",
        highlight=False,
    )
    rows = [
        {
            "assignment_id": a.id,
            "submission_id": a.submission_id,
            "reviewer_id": a.reviewer_id,
            "reason": a.reason,
        }
        for a in drawn.assignments
    ]
    typer.echo(
        json.dumps({"batch_id": b.id, "seed": b.seed, "detail": b.detail, "assignments": rows}, indent=2)
    )


def _fail(exc: Exception) -> typer.Exit:
    err.print(f"[red]error:[/] {exc}", highlight=False)
    detail = getattr(exc, "detail", None)
    for item in detail if isinstance(detail, list) else []:
        err.print(f"  {item}", highlight=False)
    return typer.Exit(exit_codes.BAD_INPUT)


def _draw(draw: Callable[[Session, Settings], Drawn]) -> None:
    """Run one draw in its own transaction and print it; review and region errors exit 4."""
    b = backends()
    try:
        with session_scope(b.engine) as session:
            drawn = draw(session, b.settings)
    except (ReviewError, InvalidRegion) as exc:
        raise _fail(exc) from exc
    _report(drawn)


def peer_command(
    region: Annotated[str, typer.Option("--region", help="A school or county code")],
    seed: Seed = None,
) -> None:
    """Give each screened submission of a school or county to peers of its subject group."""
    _draw(
        lambda session, settings: assign_peers(
            session,
            region=region,
            per_submission=settings.peer_reviewers_per_submission,
            origin=Origin.cli(),
            seed=seed,
        )
    )


def school_command(
    region: Annotated[str, typer.Option("--region", help="A school, or a unit covering its schools")],
    seed: Seed = None,
) -> None:
    """100% school review: each screened submission to one reviewer of its own school."""
    _draw(lambda session, _: assign_school_review(session, region=region, origin=Origin.cli(), seed=seed))


def spot_check_command(
    level: Annotated[SpotLevel, typer.Option("--level", help="county, city or province")],
    region: Annotated[str, typer.Option("--region", help="A region code at that level")],
    rate: Annotated[
        float | None, typer.Option("--rate", min=0.0001, max=1.0, help="Default: the level's configured rate")
    ] = None,
    seed: Seed = None,
) -> None:
    """Draw a stratified spot-check sample, each to a reviewer outside the submission's own unit."""
    _draw(
        lambda session, settings: draw_spot_check(
            session,
            level=level,
            region=region,
            rate=rate if rate is not None else settings.spot_check_rates[level.value],
            flagged_factor=settings.review_flagged_factor,
            origin=Origin.cli(),
            seed=seed,
        )
    )
