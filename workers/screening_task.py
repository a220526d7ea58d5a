"""The decode-bound Ray task: one video in (by storage key), stage outputs out (small JSON, artifact URIs)."""

from __future__ import annotations

import shutil
import time
import uuid
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


def run_screening(submission_id: str, blob_key: str, settings: Settings, plan: AnalyserPlan) -> dict:
    """Download, validate, decode once, analyse, upload artifacts. Media problems come back as a
    ``rejected`` outcome (final); anything else raises."""
    cv2.setNumThreads(settings.task_cpus)  # analysers share the task's CPUs with ffmpeg
    store = open_blob_store(settings)
    workdir = settings.jobs_dir / f"{submission_id}-{uuid.uuid4().hex[:8]}"
    workdir.mkdir(parents=True)
    started = time.perf_counter()
    try:
        src = store.get_file(blob_key, workdir / "upload.bin")
        host = plan.host()
        try:
            outcome = process_media(src, workdir, settings.media_limits, host)
        except MediaError as err:
            return {"status": "rejected", "error": err.as_dict(), "versions": dict(STAGE_VERSIONS)}
        stages = {name: upload_artifacts(output.data, store) for name, output in outcome.outputs.items()}
        r = outcome.rendition
        rendition = {
            "uri": upload_artifacts(r.path, store),
            "mode": r.mode,
            "width": r.width,
            "height": r.height,
        }
        timings = {stage: round(seconds, 3) for stage, seconds in outcome.timings.items()}
        timings["task"] = round(time.perf_counter() - started, 3)
        return {
            "status": "screened",
            "media": outcome.media,
            "rendition": rendition,
            "poster": {"uri": upload_artifacts(outcome.poster_path, store) if outcome.poster_path else None},
            "stages": stages,
            "versions": plan.all_versions(),
            "timings": timings,
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_rescreen(
    submission_id: str, blob_key: str, settings: Settings, plan: AnalyserPlan, rerun: Rerun
) -> dict:
    """Compute again only the analysers ``rerun`` names, on the original upload, decoding only what
    they need (``pipeline.media_pass.rescreen_media``); the rendition and the other stages stay as
    stored. Media problems come back as a ``rejected`` outcome, as in a whole screening."""
    cv2.setNumThreads(settings.task_cpus)
    store = open_blob_store(settings)
    workdir = settings.jobs_dir / f"{submission_id}-{uuid.uuid4().hex[:8]}"
    workdir.mkdir(parents=True)
    started = time.perf_counter()
    try:
        src = store.get_file(blob_key, workdir / "upload.bin")
        try:
            outcome = rescreen_media(src, workdir, settings.media_limits, lambda: plan.host(rerun))
        except MediaError as err:
            return {"status": "rejected", "error": err.as_dict(), "versions": dict(STAGE_VERSIONS)}
        timings = {stage: round(seconds, 3) for stage, seconds in outcome.timings.items()}
        timings["task"] = round(time.perf_counter() - started, 3)
        return {
            "status": "rescreened",
            "stages": {name: upload_artifacts(out.data, store) for name, out in outcome.outputs.items()},
            "decode": {
                "path": outcome.path.name,
                "reason": outcome.path.reason,
                "frames_decoded": outcome.frames_decoded,
            },
            "timings": timings,
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


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
