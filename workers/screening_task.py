"""The decode-bound Ray task: one video in (by storage key), stage outputs out (small JSON, artifact URIs)."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import ray

from core.settings import Settings
from core.storage import BlobStore, open_blob_store
from pipeline.errors import MediaError
from pipeline.media_pass import STAGE_VERSIONS, process_media, rescreen_media
from workers.analysers import AnalyserPlan, Rerun


def upload_artifacts(value: Any, store: BlobStore) -> Any:
    """Replace every ``Path`` inside a stage's data by the URI of the uploaded file."""
    if isinstance(value, Path):
        return store.uri(store.put_file(value))
    if isinstance(value, dict):
        return {k: upload_artifacts(v, store) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [upload_artifacts(v, store) for v in value]
    return value


@contextmanager
def _downloaded(
    settings: Settings, submission_id: str, blob_key: str
) -> Iterator[tuple[Path, Path, BlobStore]]:
    """The upload downloaded into a fresh per-job directory (removed afterwards): ``(file, directory,
    store)``. The analysers share the task's CPUs with ffmpeg."""
    cv2.setNumThreads(settings.task_cpus)
    store = open_blob_store(settings)
    workdir = settings.jobs_dir / f"{submission_id}-{uuid.uuid4().hex[:8]}"
    workdir.mkdir(parents=True)
    try:
        yield store.get_file(blob_key, workdir / "upload.bin"), workdir, store
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _rejected(err: MediaError) -> dict:
    return {"status": "rejected", "error": err.as_dict(), "versions": dict(STAGE_VERSIONS)}


def _timings(timings: dict[str, float], started: float) -> dict[str, float]:
    """Seconds by stage, and the whole task's as ``task``."""
    return {
        **{stage: round(s, 3) for stage, s in timings.items()},
        "task": round(time.perf_counter() - started, 3),
    }


def run_screening(submission_id: str, blob_key: str, settings: Settings, plan: AnalyserPlan) -> dict:
    """Download, validate, decode once, analyse, upload artifacts. Media problems come back as a
    ``rejected`` outcome (final); anything else raises."""
    started = time.perf_counter()
    with _downloaded(settings, submission_id, blob_key) as (src, workdir, store):
        try:
            outcome = process_media(src, workdir, settings.media_limits, plan.host())
        except MediaError as err:
            return _rejected(err)
        r = outcome.rendition
        return {
            "status": "screened",
            "media": outcome.media,
            "rendition": {
                "uri": upload_artifacts(r.path, store),
                "mode": r.mode,
                "width": r.width,
                "height": r.height,
            },
            "poster": {"uri": upload_artifacts(outcome.poster_path, store) if outcome.poster_path else None},
            "stages": {name: upload_artifacts(out.data, store) for name, out in outcome.outputs.items()},
            "versions": plan.all_versions(),
            "timings": _timings(outcome.timings, started),
        }


def run_rescreen(
    submission_id: str, blob_key: str, settings: Settings, plan: AnalyserPlan, rerun: Rerun
) -> dict:
    """Compute again only the analysers ``rerun`` names, on the original upload, decoding only what
    they need (``pipeline.media_pass.rescreen_media``); the rendition and the other stages stay as
    stored. Media problems come back as a ``rejected`` outcome, as in a whole screening."""
    started = time.perf_counter()
    with _downloaded(settings, submission_id, blob_key) as (src, workdir, store):
        try:
            outcome = rescreen_media(src, workdir, settings.media_limits, lambda: plan.host(rerun))
        except MediaError as err:
            return _rejected(err)
        return {
            "status": "rescreened",
            "stages": {name: upload_artifacts(out.data, store) for name, out in outcome.outputs.items()},
            "decode": {
                "path": outcome.path.name,
                "reason": outcome.path.reason,
                "frames_decoded": outcome.frames_decoded,
            },
            "timings": _timings(outcome.timings, started),
        }


@ray.remote(retry_exceptions=False)
def screen_submission(submission_id: str, blob_key: str, settings_data: dict, plan: AnalyserPlan) -> dict:
    """Ray entry point; retried by Ray only when the worker process dies (``max_retries``)."""
    return run_screening(submission_id, blob_key, Settings(**settings_data), plan)


@ray.remote(retry_exceptions=False)
def rescreen_submission(
    submission_id: str, blob_key: str, settings_data: dict, plan: AnalyserPlan, rerun: Rerun
) -> dict:
    """Ray entry point of a re-screening; retried by Ray only when the worker process dies."""
    return run_rescreen(submission_id, blob_key, Settings(**settings_data), plan, rerun)
