"""``evidence users``: create an API user with roles (its token printed last), disable or enable one,
and issue a fresh token for an existing user."""

from __future__ import annotations

from typing import Annotated

import typer

from cli import exit_codes
from cli.console import err
from cli.context import backends
from cli.passwords import set_password_command
from core.accounts import create_api_key, create_user, fresh_token, issue_token, set_disabled
from core.audit import Origin
from core.db import session_scope
from core.errors import NotFound
from models.accounts import Role

Hours = Annotated[
    float | None,
    typer.Option("--hours", min=0.01, help="Token lifetime in hours (default: EVIDENCE_JWT_HOURS, 12)"),
]


def register(app: typer.Typer) -> None:
    """Add the ``users`` command group to the ``evidence`` app."""
    users = typer.Typer(help="API users, their roles and tokens.", no_args_is_help=True)
    users.command("create")(create_command)
    users.command("disable")(disable_command)
    users.command("enable")(enable_command)
    users.command("token")(token_command)
    users.command("set-password")(set_password_command)
    app.add_typer(users, name="users")


def create_command(
    role: Annotated[list[Role], typer.Option("--role", help="A role; repeat for several")],
    teacher: Annotated[str | None, typer.Option("--teacher", help="The teacher this user is")] = None,
    region: Annotated[
        str | None, typer.Option("--region", help="Region code province.city.county.school (administrators)")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Display name")] = None,
    hours: Hours = None,
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
    typer.echo(token or issue_token(b.settings, user.id, None if hours is None else hours * 3600))


def _set_disabled(user_id: str, disabled: bool) -> None:
    b = backends()
    try:
        with session_scope(b.engine) as session:
            set_disabled(session, user_id, disabled, Origin.cli())
    except NotFound:
        err.print(f"[red]error:[/] no user {user_id}", highlight=False)
        raise typer.Exit(exit_codes.NOT_FOUND) from None
    err.print(f"user {user_id} {'disabled' if disabled else 'enabled'}", highlight=False)


def disable_command(user_id: Annotated[str, typer.Argument(help="User id (usr_…)")]) -> None:
    """Disable a user: every token, session and API key of theirs is refused from the next request on;
    their tokens and sessions for good."""
    _set_disabled(user_id, True)


def enable_command(user_id: Annotated[str, typer.Argument(help="User id (usr_…)")]) -> None:
    """Enable a disabled user again: their unrevoked API keys work again, tokens and sessions from
    before the disable do not (issue a fresh token)."""
    _set_disabled(user_id, False)


def token_command(
    user_id: Annotated[str, typer.Argument(help="User id (usr_…)")], hours: Hours = None
) -> None:
    """Print a fresh bearer token (a JWT) for an existing, enabled user."""
    b = backends()
    try:
        with session_scope(b.engine) as session:
            token = fresh_token(session, b.settings, user_id, hours)
    except NotFound:
        err.print(f"[red]error:[/] no user {user_id}", highlight=False)
        raise typer.Exit(exit_codes.NOT_FOUND) from None
    except ValueError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(exit_codes.BAD_INPUT) from exc
    typer.echo(token)
