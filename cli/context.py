"""Settings, database and blob store for a CLI process, opened once."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import typer
from sqlalchemy import Engine
from sqlmodel import Session

from core import jobs
from core.db import init_db, make_engine
from core.settings import Settings, get_settings
from core.storage import BlobStore, open_blob_store
from models.submissions import Submission
from workers.runner import JobRunner


def regular_file(path: Path) -> Path:
    """Typer callback: only a regular file can be uploaded (a pipe or a device would block or never end)."""
    if not path.is_file():
        raise typer.BadParameter(f"{path} is not a regular file (a pipe or a device cannot be uploaded)")
    return path


@dataclass(frozen=True)
class Backends:
    settings: Settings
    engine: Engine
    store: BlobStore


@lru_cache
def backends() -> Backends:
    """Open the configured database (migrated to head) and blob store."""
    settings = get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    init_db(engine)
    return Backends(settings, engine, open_blob_store(settings))


def screen_now(b: Backends, submission_id: str) -> dict | None:
    """Run this submission's own job here and now; its report, or None when another worker holds it."""
    with Session(b.engine) as session:
        job_id = jobs.enqueue(session, submission_id).id  # the submission's active job
        session.commit()
    JobRunner(b.settings, b.engine).run_once(job_id=job_id)
    with Session(b.engine) as session:
        return session.get(Submission, submission_id).report
