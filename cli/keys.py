"""``evidence keys revoke``: revoke an API key (it is refused from the next request on)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli import exit_codes
from cli.console import err
from cli.context import backends
from core.accounts import revoke_api_key
from core.audit import Origin
from core.db import session_scope
from core.errors import NotFound


def register(app: typer.Typer) -> None:
    """Add the ``keys`` command group to the ``evidence`` app."""
    keys = typer.Typer(help="API keys.", no_args_is_help=True)
    keys.command("revoke")(revoke_command)
    app.add_typer(keys, name="keys")


def revoke_command(
    key: Annotated[str, typer.Argument(help="The key's id, or the whole key (evk_…)")],
) -> None:
    """Revoke an API key, named by its id or in full."""
    b = backends()
    try:
        with session_scope(b.engine) as session:
            row = revoke_api_key(session, key, Origin.cli())
    except NotFound:
        err.print("[red]error:[/] no such API key", highlight=False)
        raise typer.Exit(exit_codes.NOT_FOUND) from None
    err.print(f"API key {row.id} of user {row.user_id} revoked", highlight=False)
