"""The FastAPI application: ``create_app(settings)``; ``uvicorn --factory api.app:create_app``."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import sqlalchemy as sa
from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from api import errors, pages
from api.deps import single_valued_query
from api.form_stream import BodyLimits
from api.observability import Metrics, RequestContext, configure_logging
from api.routes import (
    accounts,
    admin,
    assignments,
    audit,
    events,
    reviews,
    submissions,
    teachers,
    uploads,
)
from api.upload_slots import UploadSlots
from core.db import init_db, make_engine
from core.settings import Settings, get_settings
from core.storage import open_blob_store

API_POOL = {"pool_size": 20, "max_overflow": 20, "pool_timeout": 30}  # one per busy request thread


class Health(BaseModel):
    status: str


def create_app(settings: Settings | None = None, engine: sa.Engine | None = None) -> FastAPI:
    """The API on ``settings`` (default: from the environment); the database is migrated at startup.
    Pass ``engine`` to share one with other components of the process."""
    settings = settings or get_settings()
    configure_logging()
    own_engine = engine is None
    if engine is None:
        url = settings.resolved_database_url
        engine = make_engine(url, **API_POOL)
    metrics = Metrics(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.home.mkdir(parents=True, exist_ok=True)
        await run_in_threadpool(init_db, engine)
        app.state.store = await run_in_threadpool(open_blob_store, settings)
        app.state.body_limits = BodyLimits(
            settings.upload_read_timeout_s, anyio.CapacityLimiter(settings.upload_io_threads)
        )
        yield
        if own_engine:
            engine.dispose()

    app = FastAPI(
        title="evidence",
        version="1",
        summary="Screening of teachers' lesson recordings: uploads, reports, events.",
        lifespan=lifespan,
        dependencies=[Depends(single_valued_query)],
    )
    app.state.settings, app.state.engine = settings, engine
    app.state.upload_slots = UploadSlots(settings.uploads_max_concurrent, settings.uploads_max_per_user)
    errors.install(app)
    for module in (teachers, submissions, uploads, admin, accounts, audit, events, assignments, reviews):
        app.include_router(module.router)
    pages.install(app)

    @app.get("/healthz", response_model=Health, tags=["ops"], responses=errors.responses(503))
    def healthz() -> Health:
        """Liveness and database reachability."""
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            raise errors.ApiError(503, "unavailable") from None
        return Health(status="ok")

    @app.get(
        "/metrics",
        tags=["ops"],
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}}, **errors.responses(401)},
    )
    def prometheus(request: Request) -> Response:
        """Prometheus metrics; with ``EVIDENCE_METRICS_TOKEN`` set, only for ``Authorization: Bearer
        <that token>``."""
        if settings.metrics_token is not None:
            given = request.headers.get("authorization", "").removeprefix("Bearer ").encode()
            if not hmac.compare_digest(given, settings.metrics_token.get_secret_value().encode()):
                raise errors.ApiError(401, "unauthenticated", headers={"WWW-Authenticate": "Bearer"})
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(RequestContext, metrics=metrics)
    _publish_limits(app, settings)
    return app


def _publish_limits(app: FastAPI, settings: Settings) -> None:
    """Put this deployment's upload limit into the OpenAPI schema."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = generate()
            size = schema["components"]["schemas"]["UploadCreate"]["properties"]["size_bytes"]
            size["maximum"] = settings.max_upload_bytes
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
