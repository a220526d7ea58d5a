"""Alembic environment: the schema is ``SQLModel.metadata``; batch mode on SQLite.

Programmatic callers (``core.db.init_db``) hand over a connection in ``config.attributes``;
the ``alembic`` command line connects to ``sqlalchemy.url`` or, when empty, to the configured
database (``DATABASE_URL`` / ``EVIDENCE_HOME``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context
from sqlmodel import SQLModel

import models  # noqa: F401 — registers every table on SQLModel.metadata
from core.db import make_engine
from core.settings import Settings
from models.base import UTCDateTime

config = context.config
target_metadata = SQLModel.metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render our own types with plain SQLAlchemy ones, so migrations never import application code."""
    if type_ != "type":
        return False
    if isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if isinstance(obj, sa.JSON) and "postgresql" in getattr(obj, "_variant_mapping", {}):
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return 'sa.JSON().with_variant(postgresql.JSONB(), "postgresql")'
    return False


def _configure(**kwargs: Any) -> None:
    context.configure(target_metadata=target_metadata, render_item=render_item, **kwargs)


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or Settings().resolved_database_url


def run_offline() -> None:
    url = _url()
    _configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online(connection: sa.Connection) -> None:
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
elif (shared := config.attributes.get("connection")) is not None:
    run_online(shared)
else:
    engine = make_engine(_url())
    try:
        with engine.connect() as connection:
            run_online(connection)
    finally:
        engine.dispose()
