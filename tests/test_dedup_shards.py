"""Shards of the duplicate index: hosted in process and as Ray actors, loaded from published snapshots,
swapped without a pause, restarted from their snapshot; leases keep beating while candidates are
verified."""

from __future__ import annotations

import contextlib
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import ray
from sqlmodel import Session

from core import duplicates
from core.submissions import submit_file
from models.jobs import Job, JobStatus
from tests.test_duplicates_pipeline import CLIPS, _reencoded_copy, _report, _screen
from workers.dedup_indexer import build_all
from workers.dedup_shard import ACTOR_NAMESPACE, ShardHost, actor_name
from workers.runner import JobRunner


def test_shard_actors_on_ray_find_copies_and_restart_from_their_snapshot(
    embedded_stack, ray_local, reencoded_trim
):
    stack = embedded_stack
    stack.settings = stack.settings.model_copy(
        update={"dedup_actors": True, "dedup_shards": 2, "dedup_shard_memory_bytes": 256 * 1024**2}
    )
    names = [actor_name(stack.settings, 2, k) for k in range(2)]
    try:
        original = _screen(stack, CLIPS / "testvideo.mp4", "t-1")
        copy = _screen(stack, reencoded_trim, "t-2")
        assert [d["submission_id"] for d in _report(stack, copy)["duplicates"]] == [original]
        assert [d["submission_id"] for d in _report(stack, original)["duplicates"]] == [copy]
        actors = [ray.get_actor(n, namespace=ACTOR_NAMESPACE) for n in names]
        assert sum(s["entries"] for s in ray.get([a.stats.remote() for a in actors])) == 2

        built = build_all(stack.settings, 2, on_ray=True)
        before = [s["pid"] for s in ray.get([a.stats.remote() for a in actors])]
        for actor in actors:  # the process dies; Ray starts the actor again, from the snapshot
            ray.kill(actor, no_restart=False)
        deadline = time.monotonic() + 120
        while True:  # the kill is asynchronous: a call right after it may still reach the old process
            stats = ray.get([a.stats.remote() for a in actors])
            if all(s["pid"] != p for s, p in zip(stats, before, strict=True)) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert [s["snapshot_seq"] for s in stats] == [b.seq for b in built]
        assert sorted(s["entries"] for s in stats) == sorted(b.entries for b in built)
        third = _screen(stack, reencoded_trim, "t-3")  # the same bytes again, and a near copy
        kinds = {d["submission_id"]: d["kind"] for d in _report(stack, third)["duplicates"]}
        assert kinds == {copy: "exact", original: "near"}
    finally:
        for name in names:
            with contextlib.suppress(ValueError):  # not started
                ray.kill(ray.get_actor(name, namespace=ACTOR_NAMESPACE), no_restart=True)


def test_a_newer_snapshot_is_swapped_in(embedded_stack, ray_local):
    stack = embedded_stack
    first = _screen(stack, CLIPS / "testvideo.mp4", "t-1")
    host = ShardHost(stack.settings, 1, 0, stack.engine)
    assert host.stats()["snapshot_seq"] == 0 and first in host.index
    assert not host.refresh()  # nothing published yet
    built = build_all(stack.settings, 1, on_ray=False)
    old = host.index
    assert host.refresh() and host.index is not old
    assert host.stats()["snapshot_seq"] == built[0].seq and first in host.index
    assert not host.refresh()  # already the latest


def test_leases_keep_beating_while_candidates_wait_to_be_verified(embedded_stack, ray_local):
    """A job in its verification phase is not lost however long verification waits: here the task asks
    for more CPUs than there are, so it never starts, and the runner keeps renewing the lease."""
    stack = embedded_stack
    done = _screen(stack, CLIPS / "testvideo.mp4", "t-1")  # screened: its stages are stored
    with Session(stack.engine) as session:  # screen it again: every stage is current, and a re-check
        duplicates.recheck(session, [done])  # of its matches is asked for
        submit_file(session, stack.store, CLIPS / "testvideo.mp4", submission_id=done)
    lease = {"lease_seconds": 1.0, "heartbeat_seconds": 0.2, "task_cpus": 64}
    runner = JobRunner(stack.settings.model_copy(update=lease), stack.engine)
    job = runner._claim()
    runner._start(job)  # straight to verification, which cannot be scheduled
    (item,) = runner._in_flight.values()
    assert item.stages is not None
    first_expiry = _lease(stack, job.id)
    while _lease(stack, job.id) <= first_expiry + timedelta(seconds=2):  # a hang fails the test's timeout
        runner._step(timeout=0.2)
    with Session(stack.engine) as session:
        held = session.get(Job, job.id)
        assert held.lease_owner == runner.worker_id and held.status == JobStatus.running
    assert runner._in_flight  # still waiting to verify, and still its job
    ray.cancel(item.ref, force=True)
    runner._in_flight.clear()


def _lease(stack, job_id: str) -> datetime:
    with Session(stack.engine) as session:
        return session.get(Job, job_id).lease_expires_at


@pytest.fixture(scope="module")
def reencoded_trim(tmp_path_factory) -> Path:
    return _reencoded_copy(tmp_path_factory.mktemp("copies") / "copy.mp4", 2, 18, "640:360", 30)
