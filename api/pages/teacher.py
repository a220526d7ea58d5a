"""The teacher's page ``/me``: upload a lesson (resumable, through ``/v1/uploads``), each submission's
screening in plain words with what to do, and resubmitting."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.deps import SessionDep, SettingsDep
from api.pages.guard import PageError, Reader, require
from api.pages.render import render
from core.teacher_view import own_submissions, screening
from models.accounts import Role
from models.submissions import MICRO_CAPABILITIES

router = APIRouter(include_in_schema=False)


@router.get("/me", response_class=HTMLResponse)
def my_submissions(
    request: Request, reader: Reader, session: SessionDep, settings: SettingsDep, resubmit: str | None = None
) -> HTMLResponse:
    """The teacher's own submissions, newest first, and the upload form (``?resubmit=ID`` to replace one)."""
    user = require(reader, Role.teacher)
    if user.teacher_id is None:
        raise PageError(403, "not_a_teacher")
    cards = [screening(found, settings.media_limits) for found in own_submissions(session, user)]
    replacing = next((c for c in cards if c.id == resubmit), None)
    return render(
        request,
        "me.html",
        cards=cards,
        replacing=replacing,
        capabilities=MICRO_CAPABILITIES,
        teacher_id=user.teacher_id,
        waiting=[c.id for c in cards if c.status in ("queued", "processing")],
    )
