"""Connect to Ray: a capped local instance by default, a cluster when ``RAY_ADDRESS`` is set."""

from __future__ import annotations

import os

import ray

from core.settings import Settings


def ensure_ray(settings: Settings) -> None:
    """Start (or join) Ray once per process. Local instances get a capped object store."""
    if ray.is_initialized():
        return
    if settings.ray_address:
        ray.init(address=settings.ray_address, log_to_driver=False)
        return
    # Local clusters listen on this machine only; token auth adds nothing for a single-user local instance
    # and its token file would be shared by parallel test sessions.
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(
        object_store_memory=settings.ray_object_store_bytes,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )


def cluster_task_slots(settings: Settings) -> int:
    """How many decode-bound tasks the cluster can run at once."""
    cpus = int(ray.cluster_resources().get("CPU", 1))
    return max(1, cpus // max(1, settings.task_cpus))
