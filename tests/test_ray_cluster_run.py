"""An archive run on a real Ray cluster, not a local instance: a head started with ``ray start --head``
and a second node joined with ``ray start --address`` on this machine, ``RAY_ADDRESS`` set, PostgreSQL
and the S3 server. The same lessons give the same results as the embedded run."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select

from core.enrolment import enroll
from models.submissions import Submission
from tests.test_archive_cli import cli_env
from tests.test_archive_runs import SCHOOL, SHARED, add_teachers, lessons, run_manifest, write_manifest

RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """Two Ray nodes of one CPU each; its own temp dir, so no other Ray on the machine finds it."""
    temp = tempfile.mkdtemp(prefix="rc", dir="/tmp")  # short: Ray's socket paths must fit
    port = _free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    common = ["--num-cpus=1", "--disable-usage-stats", f"--object-store-memory={300 * 2**20}"]
    address = f"127.0.0.1:{port}"
    try:
        subprocess.run(
            [RAY, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1", f"--temp-dir={temp}",
             "--include-dashboard=false", *common],
            env=env, check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        subprocess.run(
            [RAY, "start", f"--address={address}", "--node-ip-address=127.0.0.1", f"--temp-dir={temp}",
             *common],
            env=env, check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        yield address
    finally:
        _stop(temp)
        shutil.rmtree(temp, ignore_errors=True)


def _stop(temp: str) -> None:
    """End this cluster's processes, by id: those whose command line names its temp dir (never
    ``ray stop``, which ends every Ray on the machine)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if temp.encode() in cmdline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(pid), signal.SIGKILL)


def _outcomes(engine) -> dict[str, dict]:
    """Per lesson file: what a reviewer would compare (verdicts, teacher time, media, rendition)."""
    with Session(engine) as session:
        subs = session.exec(select(Submission)).all()
    out = {}
    for s in subs:
        r = s.report or {}
        p = r.get("presence") or {}
        out[s.filename] = {
            "status": s.status,
            "teacher": s.teacher_id,
            "verdict": p.get("verdict"),
            "teacher_seconds": round(p.get("teacher_seconds", 0)),
            "media": {k: v for k, v in (r.get("media") or {}).items()},
            "rendition": {k: (r.get("rendition") or {}).get(k) for k in ("mode", "width", "height")},
            "keyframes": len(r.get("keyframes") or []),
            "duplicates": sorted((d["kind"], d["verdict"]) for d in r.get("duplicates", [])),
        }
    return out


def _archive(folder: Path) -> Path:
    lessons(folder, 2)
    shutil.copy(SHARED / "clips/short_hamilton_clip.mp4", folder / "hamilton.mp4")
    return write_manifest(
        folder / "manifest.csv",
        [
            {"path": "hamilton.mp4", "teacher_id": "t1", "school": SCHOOL},
            {"path": "lesson0.mp4", "teacher_id": "t2", "school": SCHOOL},
            {"path": "lesson1.mp4", "teacher_id": "t2", "school": SCHOOL},
        ],
    )


def _teachers(stack) -> None:
    add_teachers(stack.engine, "t1", "t2")
    with Session(stack.engine) as session:
        enroll(
            session, stack.store, "t1", [SHARED / "faces/lin_manuel_miranda/ref1.png"], enrolled_by="admin"
        )
        session.commit()


def test_a_run_on_a_two_node_cluster_matches_the_embedded_run(
    ray_cluster, production_stack, embedded_stack, ray_local, s3_server, tmp_path
):
    manifest = _archive(tmp_path / "archive")
    _teachers(embedded_stack)
    embedded = run_manifest(embedded_stack, manifest, manifest.parent)
    assert embedded.screened == 3

    env_ray = {**os.environ, "RAY_ADDRESS": ray_cluster, "RAY_AUTH_MODE": "disabled"}
    alive = "import ray, json; ray.init(); print(json.dumps([n['Alive'] for n in ray.nodes()]))"
    nodes = subprocess.run(
        [sys.executable, "-c", alive],
        env=env_ray,
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert json.loads(nodes.stdout.strip().splitlines()[-1]) == [True, True]
    health = [RAY, "health-check", "--address", ray_cluster]  # the manifests' readiness check
    assert subprocess.run(health, env=env_ray, capture_output=True, timeout=60).returncode == 0

    stack = production_stack
    _teachers(stack)
    env = cli_env(
        stack.settings.home,
        DATABASE_URL=stack.settings.database_url,
        RAY_ADDRESS=ray_cluster,
        **s3_server.env(stack.settings.storage),
    )
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "batch", "--manifest", str(manifest)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "archive run summary" in done.stderr
    clustered = _outcomes(stack.engine)
    assert clustered == _outcomes(embedded_stack.engine)
    assert clustered["hamilton.mp4"]["verdict"] == "valid"
