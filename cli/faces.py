"""``evidence enroll`` and ``evidence forget``: an administrator's face gallery commands."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import Session

from cli import exit_codes
from cli.console import err
from cli.context import backends
from core.audit import Origin, record
from core.db import session_scope
from core.enrolment import TeacherNotFound, enroll, forget
from models.teachers import Teacher
from pipeline.enrolment_photo import EnrolmentPhotoError


def register(app: typer.Typer) -> None:
    """Add the ``enroll`` and ``forget`` commands to the ``evidence`` app."""
    app.command("enroll")(enroll_command)
    app.command("forget")(forget_command)


def _audit(session: Session, action: str, teacher_id: str, detail: dict) -> None:
    """Enrolment changes from the command line are audited like the API's (actor ``cli:<os user>``)."""
    teacher = session.get(Teacher, teacher_id)
    school = teacher.school_code if teacher else None
    record(session, Origin.cli(), action, "teacher", teacher_id, region=school, detail=detail)


def enroll_command(
    teacher_id: Annotated[str, typer.Argument(help="Teacher id")],
    photos: Annotated[list[Path], typer.Argument(help="Authoritative photos, one face each")],
    school: Annotated[str | None, typer.Option("--school", help="School code")] = None,
    subject: Annotated[str | None, typer.Option("--subject", help="Subject taught")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Teacher's name")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who enrols (default: the OS user)")] = None,
) -> None:
    """Enrol a teacher's face from archive photos, each holding exactly one clear face (exit 4 if not)."""
    b = backends()
    try:
        with session_scope(b.engine) as session:
            enroll(
                session,
                b.store,
                teacher_id,
                photos,
                school_code=school,
                subject=subject,
                name=name,
                enrolled_by=by or getpass.getuser(),
            )
            _audit(session, "teacher.enroll", teacher_id, {"photos": len(photos)})
    except EnrolmentPhotoError as exc:
        err.print(f"[red]error:[/] photo {exc.photo}: {exc.message}", highlight=False)
        raise typer.Exit(exit_codes.BAD_INPUT) from exc
    typer.echo(f"enrolled {len(photos)} photo(s) for teacher {teacher_id}")


def forget_command(teacher_id: Annotated[str, typer.Argument(help="Teacher id")]) -> None:
    """Delete a teacher's face photos and encodings for good (exit 5 if the teacher is unknown)."""
    b = backends()
    try:
        with session_scope(b.engine) as session:
            count = forget(session, b.store, teacher_id)
            _audit(session, "teacher.forget", teacher_id, {"deleted_photos": count})
    except TeacherNotFound as exc:
        err.print(f"[red]error:[/] no teacher {teacher_id}", highlight=False)
        raise typer.Exit(exit_codes.NOT_FOUND) from exc
    typer.echo(f"deleted {count} face photo(s) and encodings of teacher {teacher_id}")
