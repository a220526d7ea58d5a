"""Database engine, schema migrations (Alembic) and sessions for SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Execution option read by the SQLite "begin" hook: start the transaction with BEGIN IMMEDIATE.
SQLITE_IMMEDIATE = "evidence_sqlite_immediate"
_MIGRATION_LOCK_KEY = 7_411_020_001  # pg_advisory_xact_lock key: one migrator at a time


def psycopg_url(url: str) -> str:
    """Map a bare ``postgresql://`` or ``postgres://`` URL to the psycopg 3 driver."""
    for bare in ("postgresql://", "postgres://"):
        if url.startswith(bare):
            return "postgresql+psycopg://" + url[len(bare) :]
    return url


def make_engine(url: str, **kwargs: Any) -> sa.Engine:
    """An engine for ``url``: SQLite in WAL mode with foreign keys and SQLAlchemy-controlled BEGIN
    (so a transaction can take the write lock up front), or PostgreSQL through psycopg 3."""
    url = psycopg_url(url)
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return sa.create_engine(url, pool_pre_ping=True, **kwargs)
    if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, **kwargs)
    sa.event.listen(engine, "connect", _sqlite_on_connect)
    sa.event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Stop pysqlite from issuing its own (late) BEGIN; _sqlite_on_begin emits it instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    _enable_wal(cursor)
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _enable_wal(cursor: sqlite3.Cursor) -> None:
    # Switching a fresh file to WAL needs an exclusive lock and SQLite does not run the busy
    # handler for it, so connections opened together on a new database must retry by hand.
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_on_begin(connection: sa.Connection) -> None:
    immediate = connection.get_execution_options().get(SQLITE_IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def db_now(session: Session) -> datetime:
    """The lease clock: PostgreSQL's transaction time (workers on many machines), or UTC now on SQLite
    (always one machine)."""
    if session.get_bind().dialect.name == "postgresql":
        return session.scalar(sa.select(sa.func.now())).astimezone(UTC)
    return datetime.now(UTC)


def insert_for(session: Session, table: type) -> Any:
    """An INSERT for ``table`` in the session's dialect (with ``on_conflict_do_…``)."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


@contextmanager
def session_scope(engine: sa.Engine, *, immediate: bool = True) -> Iterator[Session]:
    """A unit of work: commits on success, rolls back on error; objects stay usable afterwards.

    On SQLite the transaction starts with ``BEGIN IMMEDIATE`` (write lock taken up front, waiting up
    to the busy timeout), so a read-then-write never fails on a stale snapshot. Pass
    ``immediate=False`` for read-only work. No effect on PostgreSQL.
    """
    with Session(engine, expire_on_commit=False) as session:
        if immediate and engine.dialect.name == "sqlite":
            session.connection(execution_options={SQLITE_IMMEDIATE: True})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(url: str) -> Config:
    """Alembic configuration built in code, pointing at the migrations shipped in ``core``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option("sqlalchemy.url", psycopg_url(url).replace("%", "%%"))
    return config


def init_db(engine: sa.Engine) -> None:
    """Bring the schema to the newest revision (safe to call from several processes at once)."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        if sqlite:  # batch migrations recreate tables; SQLite cannot toggle this inside a transaction
            connection.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")
            connection.execution_options(**{SQLITE_IMMEDIATE: True})
        try:
            with connection.begin():
                if not sqlite:
                    connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK_KEY)))
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise RuntimeError("migration left rows that violate foreign keys")
        finally:
            if sqlite:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys = ON")
