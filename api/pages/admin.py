"""The administrator's page ``/admin``: counts and rates of invalid, needs-review and duplicate
submissions one level down as charts that drill from province to city, county and school (the same
numbers as ``GET /v1/admin/stats``); the queue of flagged submissions; duplicate clusters with who
submitted first; webhook delivery health. All of one region inside the administrator's own."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from api.deps import SessionDep
from api.pages.guard import PageError, Reader, require
from api.pages.render import render
from core import admin, dashboard, regions
from core.access import administered_region
from core.accounts import ADMIN_DEPTH
from core.errors import NotFound
from core.pagination import TIME_ID_CURSOR

router = APIRouter(include_in_schema=False)
CHARTED = ("invalid", "needs_review", "duplicate")


@router.get("/admin", response_class=HTMLResponse)
def region_dashboard(
    request: Request,
    reader: Reader,
    session: SessionDep,
    region: str | None = None,
    after: str | None = None,
    clusters: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    """The dashboard of the administrator's region, or of ``?region=`` inside it (else not found); the
    flagged queue's page after ``?after=`` (the cursor of its "next page" link) and the clusters'
    page ``?clusters=``."""
    user = require(reader, *ADMIN_DEPTH)
    if after is not None and not re.fullmatch(TIME_ID_CURSOR, after):
        raise PageError(400, "bad_cursor")
    try:
        scope = administered_region(user, regions.normalize(region) if region else None)
    except (NotFound, regions.InvalidRegion):
        raise PageError(404, "not_found") from None
    stats = admin.region_stats(session, scope)
    by_teacher = stats.group_by == "teacher"
    chart = {
        "region": scope,
        "drill": not by_teacher,
        "keys": [g.key for g in stats.groups],
        "labels": [g.key if by_teacher else g.key.rsplit(".", 1)[-1] for g in stats.groups],
        "counts": {o: [g.by_overall.get(o, 0) for g in stats.groups] for o in CHARTED},
        "rates": {o: [g.rates.get(o, 0.0) for g in stats.groups] for o in CHARTED},
    }
    flagged, flagged_next = dashboard.flagged_submissions(session, scope, after)
    own = user.admin_scope or scope
    parts = scope.split(".")
    crumbs = [".".join(parts[:n]) for n in range(regions.depth(own), len(parts) + 1)]
    return render(
        request,
        "admin.html",
        scope=scope,
        crumbs=crumbs,
        stats=stats,
        by_teacher=by_teacher,
        chart=chart,
        charted=CHARTED,
        flagged=flagged,
        flagged_next=flagged_next,
        flagged_paged=after is not None,
        clusters=dashboard.duplicate_clusters(session, scope, own, page=clusters),
        health=dashboard.webhook_health(session, scope),
    )
