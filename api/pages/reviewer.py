"""The reviewer's pages: ``/review`` lists their own assignments; ``/review/{assignment_id}`` is the
double-blind packet (the same as ``GET /v1/reviews/{id}``) with the rendition in a player, the presence
timeline and keyframes that seek it, duplicate matches at their aligned times, the verdict with its
reasons, and the score form that posts to ``/v1/reviews/{id}/decision`` (the same events)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.audit import read_packet
from api.deps import EngineDep, SessionDep
from api.pages.guard import PageError, Reader, require
from api.pages.render import render
from core.errors import NotFound
from core.review import listings
from models.accounts import Role
from models.submissions import Overall

router = APIRouter(include_in_schema=False)
LIST_SIZE = 200


def _lane(track: dict[str, Any]) -> str:
    """The colour class of a presence track."""
    if track.get("still_picture"):
        return "picture"
    label = track.get("label")
    return {"colleague": "other", "too_small": "uncertain"}.get(label, label or "uncertain")


def _spans(items: list[dict[str, Any]], duration: float, start: str, end: str) -> list[dict[str, Any]]:
    """Stretches of a video as percentages of its length (for drawing) with their times (for seeking)."""
    spans = []
    for item in items:
        a, b = float(item.get(start) or 0), float(item.get(end) or 0)
        if duration > 0 and b > a:
            spans.append(
                {**item, "a": a, "b": b, "left": 100 * a / duration, "width": 100 * (b - a) / duration}
            )
    return spans


@router.get("/review", response_class=HTMLResponse)
def my_assignments(request: Request, reader: Reader, session: SessionDep) -> HTMLResponse:
    """The reviewer's own assignments, newest first."""
    user = require(reader, Role.reviewer, Role.teacher)
    page = listings.assignments(session, user, None, LIST_SIZE, None)
    return render(request, "reviews.html", assignments=page.data)


@router.get("/review/{assignment_id}", response_class=HTMLResponse)
def review_packet(
    assignment_id: str, request: Request, reader: Reader, session: SessionDep, engine: EngineDep
) -> HTMLResponse:
    """One assignment's blind packet and score form; another reviewer's assignment is not found."""
    user = require(reader, Role.reviewer, Role.teacher)
    try:
        packet = read_packet(session, engine, request, user, assignment_id, "page")
    except NotFound:
        raise PageError(404, "not_found") from None
    evidence = packet.evidence
    duration = float((evidence.get("media") or {}).get("duration_s") or 0)
    presence = evidence.get("presence") or {}
    timeline = [{**t, "lane": _lane(t)} for t in presence.get("timeline") or []]
    matches = [
        {**m, "spans": _spans(m.get("segments") or [], duration, "query_start", "query_end")}
        for m in evidence.get("duplicates") or []
    ]
    return render(
        request,
        "review.html",
        packet=packet,
        evidence=evidence,
        duration=duration,
        presence=presence,
        timeline=_spans(timeline, duration, "start", "end"),
        stretches=_spans(presence.get("segments") or [], duration, "start", "end"),
        matches=matches,
        overrides=list(Overall),
    )
