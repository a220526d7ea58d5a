"""``evidence serve``: the API with a local worker pool (job runner and webhook dispatcher threads) and
the periodic cleanup run."""

from __future__ import annotations

import logging
import threading
from typing import Annotated

import ray
import typer
import uvicorn

from api.app import create_app
from api.observability import configure_logging
from cli.context import Backends, backends
from core.cleanup import run_cleanup
from workers.runner import JobRunner
from workers.webhook_dispatcher import WebhookDispatcher

log = logging.getLogger("evidence.serve")


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to the ``evidence`` app."""
    app.command("serve")(serve_command)


def serve_command(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    worker: Annotated[bool, typer.Option(help="Run a screening job runner in this process")] = True,
    dispatcher: Annotated[bool, typer.Option(help="Run the webhook dispatcher in this process")] = True,
) -> None:
    """Serve the API (OpenAPI at /docs) with a local job runner and webhook dispatcher."""
    configure_logging(stdlib=True)
    b = backends()
    stop = threading.Event()
    threads = []
    if worker:
        threads.append(threading.Thread(target=_run_jobs, args=(b, stop), name="job-runner", daemon=True))
    if dispatcher:
        sender = WebhookDispatcher(b.settings, b.engine)
        threads.append(
            threading.Thread(target=sender.run_forever, args=(stop,), name="webhooks", daemon=True)
        )
    if b.settings.cleanup_interval_hours > 0:
        threads.append(threading.Thread(target=_clean, args=(b, stop), name="cleanup", daemon=True))
    for t in threads:
        t.start()
    app = create_app(b.settings, b.engine)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False))
    try:
        server.run()
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
        if ray.is_initialized():
            ray.shutdown()


def _clean(b: Backends, stop: threading.Event) -> None:
    """The cleanup run, every ``cleanup_interval_hours`` (the first one an interval after start)."""
    while not stop.wait(b.settings.cleanup_interval_hours * 3600):
        try:
            run_cleanup(b.engine, b.store, b.settings)
        except Exception:
            log.exception("the cleanup run failed; retrying at the next interval")


def _run_jobs(b: Backends, stop: threading.Event) -> None:
    try:
        JobRunner(b.settings, b.engine).run_forever(stop)
    except Exception:
        log.exception("the job runner stopped")
