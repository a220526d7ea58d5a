"""The job runner: claims jobs under a lease, runs them on Ray, heartbeats, and finishes them once."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field

import ray
from sqlalchemy import Engine
from sqlmodel import Session

from core import duplicates, jobs, outbox, stage_results
from core.db import session_scope
from core.duplicates import FINGERPRINT_STAGES, MATCHING, matching_version
from core.settings import Settings
from models.jobs import Job, JobStatus
from models.submissions import Submission, SubmissionStatus
from pipeline.dedup import VERSION as DEDUP_VERSION
from workers.analysers import AnalyserPlan, plan_for
from workers.dedup import DedupMatcher, Found
from workers.ray_runtime import cluster_task_slots, ensure_ray
from workers.report import build_report, failed_report, outcome_to_stages, stages_complete
from workers.screening_task import rescreen_submission, screen_submission

log = logging.getLogger(__name__)


@dataclass
class _InFlight:
    """A job whose Ray work is under way: its screening task, then its duplicate verification."""

    job_id: str
    submission_id: str
    sha256: str
    versions: dict[str, str]
    ref: ray.ObjectRef | None
    stored: dict[str, dict] = field(default_factory=dict)  # current results reused by this run
    matched: dict | None = None  # the stored outcome of matching, while the fingerprints stand
    stages: dict[str, dict] | None = None  # set once screened: every stage's data
    new_stages: dict[str, dict] = field(default_factory=dict)  # the stages computed by this run
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds, of this run
    rescreen: dict | None = None  # what a re-screening computed again and how it decoded


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class JobRunner:
    """Moves jobs from ``queued`` to a terminal state. Many runners may share one database."""

    def __init__(self, settings: Settings, engine: Engine, worker_id: str | None = None):
        self.settings = settings
        self.engine = engine
        self.worker_id = worker_id or default_worker_id()
        self.dedup = DedupMatcher(settings, engine)
        self._in_flight: dict[ray.ObjectRef, _InFlight] = {}
        self._last_beat = 0.0

    def run_once(self, job_id: str | None = None) -> str | None:
        """Claim one job (``job_id`` pins it) and drive it to the end. Returns the job id, or None."""
        job = self._claim(job_id)
        if job is None:
            return None
        self._start(job)
        while self._in_flight:
            self._step(timeout=self.settings.heartbeat_seconds)
        return job.id

    def run_forever(self, stop: threading.Event, *, exit_when_idle: bool = False) -> None:
        """Keep the cluster busy until ``stop`` is set (or, with ``exit_when_idle``, until nothing is left
        to claim); in-flight leases are released on the way out."""
        ensure_ray(self.settings)
        try:
            while not stop.is_set():
                # an autoscaling cluster grows only when tasks wait: then a fixed cap, else what fits now
                slots = self.settings.max_in_flight or cluster_task_slots(self.settings)
                while len(self._in_flight) < slots:
                    job = self._claim()
                    if job is None:
                        break
                    self._start(job)
                if self._in_flight:
                    self._step(timeout=self.settings.poll_seconds)
                elif exit_when_idle:
                    return
                else:
                    stop.wait(self.settings.poll_seconds)
        finally:
            for item in list(self._in_flight.values()):
                ray.cancel(item.ref, force=True)
                jobs.release(self.engine, item.job_id, self.worker_id)
            self._in_flight.clear()

    def _claim(self, job_id: str | None = None) -> Job | None:
        return jobs.claim(
            self.engine,
            self.worker_id,
            self.settings.lease_seconds,
            job_id=job_id,
            max_attempts=self.settings.max_attempts,
        )

    def _start(self, job: Job) -> None:
        with session_scope(self.engine) as session:
            sub = session.get(Submission, job.submission_id)
            sub.status = SubmissionStatus.processing
            session.add(sub)
            session.flush()
            plan: AnalyserPlan = plan_for(session, sub, self.settings)
            versions = plan.all_versions()
            lookup = {**versions, MATCHING: matching_version(versions)}
            stored = {
                stage: row.data for stage, row in stage_results.current(session, sub.id, lookup).items()
            }
            sha256, blob_key = sub.sha256, sub.blob_key
        matched = stored.pop(MATCHING, None)
        item = _InFlight(job.id, job.submission_id, sha256, versions, None, stored=stored, matched=matched)
        ensure_ray(self.settings)
        if stages_complete(stored, versions):
            self._screened(item, {})
            return
        options = {"num_cpus": self.settings.task_cpus, "max_retries": self.settings.task_max_retries}
        settings_data = self.settings.model_dump()
        rerun = plan.rerun_for(stored)
        if rerun is None:  # a whole screening: everything is computed again
            item.stored = {}
            item.ref = screen_submission.options(**options).remote(
                item.submission_id, blob_key, settings_data, plan
            )
        else:  # the rendition stands: only the analysers without a current result, on a lighter decode
            item.ref = rescreen_submission.options(**options).remote(
                item.submission_id, blob_key, settings_data, plan, rerun
            )
        self._in_flight[item.ref] = item

    def _screened(self, item: _InFlight, new_stages: dict[str, dict]) -> None:
        """Publish the screened submission's signature and start verifying its duplicate candidates;
        a rejected file, or one whose fingerprints and matching stand as stored, is finished at once."""
        item.new_stages = new_stages
        item.stages = stages = {**item.stored, **new_stages}
        if "error" in stages["validate"]:
            self._complete(item, None)
            return
        if item.matched is not None and not FINGERPRINT_STAGES & set(new_stages):
            self._complete(item, None)  # nothing matching reads has changed: its matches stand
            return
        try:
            request = self.dedup.prepare(item.submission_id, item.sha256, stages, item.versions)
            item.ref = self.dedup.launch(request)
        except Exception as exc:  # a bug in matching must not lose the screening: it is retried
            log.exception("duplicate matching failed for %s", item.submission_id)
            message = f"duplicate matching: {type(exc).__name__}: {exc}"
            self._fail(item.job_id, item.submission_id, item.sha256, message)
            return
        self._in_flight[item.ref] = item

    def _step(self, timeout: float) -> None:
        ready, _ = ray.wait(list(self._in_flight), num_returns=1, timeout=timeout)
        for ref in ready:
            item = self._in_flight.pop(ref)
            try:
                result = ray.get(ref)
            except Exception as exc:  # a bug or an infrastructure fault, not the teacher's file
                log.exception("job %s failed", item.job_id)
                self._fail(item.job_id, item.submission_id, item.sha256, f"{type(exc).__name__}: {exc}")
                continue
            if item.stages is None:  # screened: verify its duplicate candidates next
                item.timings = result.get("timings", {})
                item.rescreen = result.get("decode")
                self._screened(item, outcome_to_stages(result))
            else:
                self._complete(item, result)
        self._heartbeat()

    def _heartbeat(self) -> None:
        if time.monotonic() - self._last_beat < self.settings.heartbeat_seconds / 2:
            return
        self._last_beat = time.monotonic()
        for ref, item in list(self._in_flight.items()):
            if not jobs.heartbeat(self.engine, item.job_id, self.worker_id, self.settings.lease_seconds):
                log.warning("lost the lease of job %s; dropping it", item.job_id)
                ray.cancel(ref, force=True)
                del self._in_flight[ref]

    def _complete(self, item: _InFlight, found: Found | None) -> None:
        """Write the stage results, the report and the matches (both ways) with their events, in the
        transaction that finishes the job, only while the lease is held."""
        stages, new_stages, versions, timings = item.stages, item.new_stages, item.versions, item.timings
        submission_id = item.submission_id

        def write(session: Session) -> None:
            for stage, data in new_stages.items():
                version = versions.get(stage)
                if version is not None:
                    stage_results.put(session, submission_id, stage, version, data, timings.get(stage, 0.0))
            report = build_report(submission_id, item.sha256, stages, versions)
            changed: list[str] = []
            matched = item.matched
            if found is not None:
                keep = {m["other_id"] for m in found.matches}
                changed = duplicates.drop_matches(session, submission_id, keep=keep)
                changed += duplicates.write_matches(session, submission_id, found.matches)
                matched = {"notes": found.notes}
                stage_results.put(session, submission_id, MATCHING, matching_version(versions), matched, 0.0)
            if matched is not None and report["status"] == "screened":
                report["duplicates"] = duplicates.report_entries(session, submission_id)
                report["duplicate_notes"] = matched["notes"]
                report["versions"]["duplicates"] = DEDUP_VERSION
            if item.rescreen is not None and report["status"] == "screened":
                report["rescreen"] = {"stages": sorted(new_stages), **item.rescreen}
            sub = session.get(Submission, submission_id)
            sub.status = SubmissionStatus(report["status"])
            sub.error_code = (report["error"] or {}).get("code")
            sub.report = report
            session.add(sub)
            outbox.submission_changed(session, sub)  # the event commits with the report
            duplicates.refresh_reports(session, changed)  # earlier submissions learn of this copy

        if not jobs.finish(self.engine, item.job_id, self.worker_id, status=JobStatus.done, on_commit=write):
            log.warning("job %s finished after its lease was lost; result discarded", item.job_id)

    def _fail(self, job_id: str, submission_id: str, sha256: str, message: str) -> None:
        def write(session: Session) -> None:
            sub = session.get(Submission, submission_id)
            sub.status = SubmissionStatus.failed
            sub.error_code = "internal_error"
            sub.report = failed_report(submission_id, sha256, message)
            session.add(sub)
            outbox.submission_changed(session, sub)

        jobs.finish(
            self.engine, job_id, self.worker_id, status=JobStatus.failed, error=message, on_commit=write
        )
