"""Structured JSON logs with request ids, and Prometheus metrics."""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlmodel import Session

from core import jobs as job_queue
from core import webhooks

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
log = structlog.get_logger("evidence.api")


_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]
_configured: str | None = None


def configure_logging(*, stdlib: bool = False, level: int = logging.INFO) -> None:
    """Log JSON lines to stderr with the bound context (request id, user id). With ``stdlib`` (a
    server process), the standard library's loggers (uvicorn, the job runner) go the same way.
    The first stdlib configuration wins; a plain one never replaces it."""
    global _configured
    if _configured == "stdlib" or (_configured == "plain" and not stdlib):
        return
    if not stdlib:
        structlog.configure(
            processors=[*_SHARED, structlog.processors.format_exc_info, structlog.processors.JSONRenderer()],
            logger_factory=structlog.PrintLoggerFactory(sys.stderr),
            cache_logger_on_first_use=False,
        )
        _configured = "plain"
        return
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*_SHARED, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(ensure_ascii=False),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # the middleware logs each request
    _configured = "stdlib"


class Metrics:
    """The API's metrics, in their own registry (several apps may live in one process)."""

    def __init__(self, engine: sa.Engine):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "evidence_http_requests", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "evidence_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.registry.register(_QueueCollector(engine))


class _QueueCollector(Collector):
    """Jobs and webhook deliveries by status, read from the database at scrape time."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        jobs = GaugeMetricFamily(
            "evidence_jobs",
            "Screening jobs by status and lane (interactive, archive)",
            labels=["status", "lane"],
        )
        deliveries = GaugeMetricFamily(
            "evidence_webhook_deliveries", "Webhook deliveries by status", labels=["status"]
        )
        try:
            with Session(self.engine) as session:
                for (status, lane), n in job_queue.counts_by_status(session).items():
                    jobs.add_metric([status, lane], n)
                for status, n in webhooks.counts_by_status(session).items():
                    deliveries.add_metric([status], n)
        except sa.exc.SQLAlchemyError:
            log.warning("metrics: database unavailable")
        yield jobs
        yield deliveries

    def describe(self) -> list:
        return []


class RequestContext:
    """ASGI middleware: a request id (``X-Request-ID`` in, or a new one) bound to every log line and
    returned in the response; one access log line and the metrics per request."""

    def __init__(self, app: Any, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                elapsed = time.perf_counter() - started
                route = getattr(scope.get("route"), "path", "unmatched")
                self.metrics.requests.labels(scope["method"], route, str(status)).inc()
                self.metrics.latency.labels(scope["method"], route).observe(elapsed)
                log.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    route=route,
                    status=status,
                    duration_ms=round(elapsed * 1000, 1),
                    user_id=state.get("user_id"),
                )
