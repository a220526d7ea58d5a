"""Archive manifests: a CSV of ``path, teacher_id, school[, submission_id]``, read one row at a time (a
province's manifest never sits in memory), and the checks a row must pass against the teachers on record."""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from sqlmodel import Session, col, select

from core.errors import DomainError
from models.common import ID_PATTERN
from models.teachers import Teacher

REQUIRED = ("path", "teacher_id", "school")
_ID = re.compile(ID_PATTERN)


@dataclass(frozen=True)
class ManifestRow:
    """One data row; ``row`` counts data rows from 1 (the header is row 0)."""

    row: int
    path: str
    teacher_id: str
    school: str
    submission_id: str | None = None

    @property
    def row_key(self) -> str:
        """The same file for the same teacher is the same row, whatever else the row says."""
        return hashlib.sha256(f"{self.path}\0{self.teacher_id}".encode()).hexdigest()[:32]


def read_manifest(path: Path, *, after: int = 0) -> Iterator[ManifestRow]:
    """The rows of a manifest file after row ``after`` (a resumed run skips what it has read)."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        yield from read_rows(fh, str(path), after=after)


def read_rows(fh: TextIO, name: str, *, after: int = 0) -> Iterator[ManifestRow]:
    """The rows of an open manifest after row ``after``, streamed. Raises
    ``DomainError("invalid_manifest")`` when the header lacks a required column."""
    reader = csv.DictReader(fh)
    names = {(n or "").strip() for n in reader.fieldnames or ()}
    if missing := [c for c in REQUIRED if c not in names]:
        raise DomainError("invalid_manifest", f"{name}: missing column(s) {', '.join(missing)}")
    for number, raw in enumerate(reader, start=1):
        if number <= after:
            continue
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        yield ManifestRow(
            number, row["path"], row["teacher_id"], row["school"], row.get("submission_id") or None
        )


def row_problems(session: Session, rows: Iterable[ManifestRow]) -> dict[int, tuple[str, str]]:
    """Rows that cannot be screened as claimed, by row number: ``(code, detail)`` for an unknown
    teacher, a school that is not the teacher's, a malformed submission id or an empty path (one query
    for the whole batch)."""
    rows = list(rows)
    wanted = {r.teacher_id for r in rows if r.teacher_id}
    schools = dict(
        session.exec(select(Teacher.id, Teacher.school_code).where(col(Teacher.id).in_(wanted))).all()
    )
    problems: dict[int, tuple[str, str]] = {}
    for r in rows:
        if not r.path:
            problems[r.row] = ("unreadable", "the path is empty")
        elif r.teacher_id not in schools:
            problems[r.row] = ("unknown_teacher", f"teacher {r.teacher_id!r}")
        elif schools[r.teacher_id] != r.school:
            problems[r.row] = (
                "school_mismatch",
                f"row says {r.school!r}, teacher {r.teacher_id} is at {schools[r.teacher_id]!r}",
            )
        elif r.submission_id is not None and not _ID.match(r.submission_id):
            problems[r.row] = ("invalid_submission_id", repr(r.submission_id))
    return problems
