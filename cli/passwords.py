"""``evidence users set-password``: the password (and sign-in name) a person uses on the web pages."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cli import exit_codes
from cli.console import err
from cli.context import backends
from core.audit import Origin
from core.db import session_scope
from core.passwords import MAX_LENGTH, MIN_LENGTH, set_password


def set_password_command(
    user_id: Annotated[str, typer.Argument(help="The user (usr_…) from `evidence users create`")],
    login: Annotated[
        str | None,
        typer.Option("--login", help="Sign-in name (default: the one set before, else the user id)"),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of standard input")
    ] = False,
) -> None:
    """Set a user's password for the web pages (argon2id hash); ends every session they had."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    b = backends()
    try:
        with session_scope(b.engine) as session:
            row = set_password(session, user_id, password, Origin.cli(), login=login)
    except ValueError as exc:
        err.print(f"[red]error:[/] {exc} ({MIN_LENGTH}–{MAX_LENGTH} characters)", highlight=False)
        raise typer.Exit(exit_codes.BAD_INPUT) from exc
    err.print(f"password set for {user_id}; sign-in name: {row.login}", highlight=False)
