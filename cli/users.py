"""``evidence users create``: an API user with roles, and a token for it (printed last)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli import exit_codes
from cli.console import err
from cli.context import backends
from cli.passwords import set_password_command
from core.accounts import create_api_key, create_user, issue_token
from core.db import session_scope
from models.accounts import Role


def register(app: typer.Typer) -> None:
    """Add the ``users`` command group to the ``evidence`` app."""
    users = typer.Typer(help="API users, their roles and tokens.", no_args_is_help=True)
    users.command("create")(create_command)
    users.command("set-password")(set_password_command)
    app.add_typer(users, name="users")


def create_command(
    role: Annotated[list[Role], typer.Option("--role", help="A role; repeat for several")],
    teacher: Annotated[str | None, typer.Option("--teacher", help="The teacher this user is")] = None,
    region: Annotated[
        str | None, typer.Option("--region", help="Region code province.city.county.school (administrators)")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Display name")] = None,
    days: Annotated[float, typer.Option("--days", min=0.001, help="Token lifetime in days")] = 30.0,
    api_key: Annotated[bool, typer.Option("--api-key", help="Print an API key instead of a JWT")] = False,
) -> None:
    """Create a user; prints a bearer token (a JWT, or with --api-key an API key) as the last line."""
    b = backends()
    try:
        with session_scope(b.engine) as session:
            user = create_user(session, set(role), name=name, region=region, teacher_id=teacher)
            token = create_api_key(session, user.id) if api_key else None
    except ValueError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(exit_codes.BAD_INPUT) from exc
    roles = ", ".join(sorted(r.value for r in role))
    err.print(f"created user {user.id} ({roles}; region {user.region or '-'})", highlight=False)
    typer.echo(token or issue_token(b.settings, user.id, ttl_s=days * 86400))
