"""API under stalled uploads: 200 multipart uploads that send their headers and 64 KiB, then stall,
while 20 users read submissions and lists and a probe polls /healthz, against a real uvicorn on
SQLite and local storage.

Prints p50/p95 of reads and of /healthz, errors (a non-2xx answer or a time-out), how the stalled
uploads fared (accepted and hanging, or refused, and how fast), and the server's memory. Runs this
tree and, unless ``BENCH_BASELINE=0``, the code this branch started from (``git merge-base HEAD
main``, unpacked with ``git archive``) in the same run, for a before/after comparison.
Aim: p95 < 150 ms and 0 errors while the stalled uploads are open; refusals within 1 s.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
STALLED = int(os.environ.get("BENCH_STALLED", "200"))
USERS = 20
PHASE_S = float(os.environ.get("BENCH_API_SECONDS", "15"))
TIMEOUT_S = 5.0  # a read or probe slower than this is an error
THINK_S = (0.5, 1.5)  # between a user's requests, as in bench_api.py
TEACHERS = 40
SUBMISSIONS = 200
JWT_SECRET = "bench-" + "b" * 40
BOUNDARY = "benchstall"


def seed(home: Path) -> dict:
    """Teachers in 4 schools (a user each), an administrator and the service; screened submissions.
    Runs with the code of the tree under test (``BENCH_CODE_ROOT``)."""
    sys.path.insert(0, os.environ.get("BENCH_CODE_ROOT", str(ROOT)))
    from core.accounts import create_user, issue_token
    from core.db import init_db, make_engine, session_scope
    from core.settings import Settings
    from core.storage import open_blob_store
    from models.accounts import Role
    from models.submissions import Submission, SubmissionMeta, SubmissionStatus
    from models.teachers import Teacher

    settings = Settings(home=home, jwt_secret=JWT_SECRET)
    engine = make_engine(settings.resolved_database_url)
    init_db(engine)
    store = open_blob_store(settings)
    frame = store.uri(store.put_bytes(b"\xff\xd8\xff\xe0" + os.urandom(8 * 1024)))
    teachers = [f"t{i % 4}_{i // 4}" for i in range(TEACHERS)]
    with session_scope(engine) as session:
        for t in teachers:
            session.add(Teacher(id=t, school_code=f"sc.cd.wh.s{t[1]}", subject="math"))
    ids = []
    with session_scope(engine) as session:
        for i in range(SUBMISSIONS):
            key = store.put_bytes(f"seed {i}".encode())
            sub = Submission(
                teacher_id=teachers[i % TEACHERS],
                blob_key=key,
                sha256=key.removeprefix("sha256/"),
                size_bytes=7,
                status=SubmissionStatus.screened,
                report={
                    "status": "screened",
                    "presence": {"verdict": "valid"},
                    "keyframes": [{"t": float(k), "uri": frame} for k in range(16)],
                    "duplicates": [],
                },
            )
            session.add(sub)
            session.flush()
            session.add(SubmissionMeta(submission_id=sub.id, micro_capabilities=["A1"]))
            ids.append(sub.id)
    tokens = {}
    with session_scope(engine) as session:
        for name, roles, region, teacher in (
            ("admin", {Role.county_admin}, "sc.cd.wh", None),
            ("service", {Role.service}, None, None),
            *((t, {Role.teacher}, None, t) for t in teachers),
        ):
            user = create_user(session, roles, region=region, teacher_id=teacher)
            tokens[name] = issue_token(settings, user.id, ttl_s=3600)
    engine.dispose()
    return {"tokens": tokens, "ids": ids, "teachers": teachers}


@dataclass
class Result:
    name: str
    reads: list[float] = field(default_factory=list)
    probes: list[float] = field(default_factory=list)
    read_errors: int = 0
    probe_errors: int = 0
    refused: dict[int, list[float]] = field(default_factory=dict)  # status -> seconds to the answer
    hanging: int = 0
    rss_idle_mb: float = 0.0
    rss_stalled_mb: float = 0.0
    peak_mb: float = 0.0


def pct(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] * 1000 if values else 0.0
    return statistics.quantiles(values, n=100)[q - 1] * 1000


def memory_mb(pid: int, field_name: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


async def stall(port: int, token: str, teacher: str, result: Result, stop: asyncio.Event) -> None:
    """One upload that sends its start and then nothing; records a refusal and how long it took."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="teacher_id"\r\n\r\n{teacher}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="micro_capabilities"\r\n\r\nA1\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="lesson.mp4"\r\n\r\n'
    ).encode() + b"\x00" * 65536
    request = (
        f"POST /v1/submissions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {4 * 1024**3}\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.perf_counter()
    writer.write(request + head)
    await writer.drain()
    answer = asyncio.ensure_future(reader.readline())
    waiter = asyncio.ensure_future(stop.wait())
    await asyncio.wait({answer, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if answer.done() and answer.result():
        status = int(answer.result().split()[1])
        result.refused.setdefault(status, []).append(time.perf_counter() - started)
    else:
        result.hanging += 1
        await stop.wait()
    answer.cancel()
    waiter.cancel()
    writer.close()


async def reader_loop(http: httpx.AsyncClient, data: dict, result: Result, until: float) -> None:
    rng = random.Random()
    admin = {"Authorization": f"Bearer {data['tokens']['admin']}"}
    service = {"Authorization": f"Bearer {data['tokens']['service']}"}
    while time.monotonic() < until:
        roll, sub = rng.random(), rng.choice(data["ids"])
        if roll < 0.4:
            call = http.get(f"/v1/submissions/{sub}", headers=service)
        elif roll < 0.6:
            call = http.get(f"/v1/submissions/{sub}/keyframes", headers=admin)
        elif roll < 0.85:
            call = http.get("/v1/admin/submissions?limit=50", headers=admin)
        else:
            call = http.get("/v1/admin/stats", headers=admin)
        started = time.perf_counter()
        try:
            ok = (await call).status_code < 300
        except httpx.HTTPError:
            ok = False
        result.reads.append(time.perf_counter() - started)
        result.read_errors += not ok
        await asyncio.sleep(rng.uniform(*THINK_S))


async def probe_loop(http: httpx.AsyncClient, result: Result, until: float) -> None:
    while time.monotonic() < until:
        started = time.perf_counter()
        try:
            ok = (await http.get("/healthz")).status_code == 200
        except httpx.HTTPError:
            ok = False
        result.probes.append(time.perf_counter() - started)
        result.probe_errors += not ok
        await asyncio.sleep(0.2)


async def load(port: int, pid: int, data: dict, result: Result) -> None:
    stop = asyncio.Event()
    teachers = data["teachers"]
    stallers = [
        asyncio.create_task(
            stall(
                port, data["tokens"][teachers[i % len(teachers)]], teachers[i % len(teachers)], result, stop
            )
        )
        for i in range(STALLED)
    ]
    await asyncio.sleep(2.0)  # every stalled upload has sent its start
    result.rss_stalled_mb = memory_mb(pid, "VmRSS")
    limits = httpx.Limits(max_connections=USERS + 1, max_keepalive_connections=USERS + 1)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", timeout=TIMEOUT_S, limits=limits
    ) as http:
        until = time.monotonic() + PHASE_S
        await asyncio.gather(
            probe_loop(http, result, until), *(reader_loop(http, data, result, until) for _ in range(USERS))
        )
    result.peak_mb = memory_mb(pid, "VmHWM")
    stop.set()
    await asyncio.gather(*stallers, return_exceptions=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(name: str, tree: Path) -> Result:
    home = Path(tempfile.mkdtemp(prefix="bench-load-"))
    env = {
        **os.environ,
        "EVIDENCE_HOME": str(home),
        "EVIDENCE_JWT_SECRET": JWT_SECRET,
        "BENCH_CODE_ROOT": str(tree),
    }
    for var in ("DATABASE_URL", "EVIDENCE_STORAGE"):
        env.pop(var, None)
    server = None
    try:
        seeded = subprocess.run(
            [sys.executable, __file__, "--seed", str(home)],
            env=env,
            cwd=tree,
            capture_output=True,
            text=True,
            check=True,
        )
        data = json.loads(seeded.stdout.strip().splitlines()[-1])
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--host", "127.0.0.1",
             "--port", str(port), "--no-access-log", "--log-level", "critical"],
            env=env, cwd=tree, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.2)
        result = Result(name)
        result.rss_idle_mb = memory_mb(server.pid, "VmRSS")
        asyncio.run(load(port, server.pid, data, result))
        return result
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        shutil.rmtree(home, ignore_errors=True)


def baseline_tree() -> Path | None:
    """The code this branch started from, unpacked into a temp folder (None when git cannot)."""
    try:
        rev = subprocess.run(
            ["git", "-C", str(ROOT), "merge-base", "HEAD", "main"], capture_output=True, text=True, check=True
        ).stdout.strip()
        folder = Path(tempfile.mkdtemp(prefix="bench-baseline-"))
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(folder, filter="data")
        return folder
    except (subprocess.CalledProcessError, FileNotFoundError):
        return None


def report(r: Result) -> None:
    refused = ", ".join(
        f"{n} x {status} (max {max(times) * 1000:.0f} ms)"
        for status, times in sorted(r.refused.items())
        for n in [len(times)]
    )
    print(
        f"{r.name:<9} reads {len(r.reads):5d}  p50 {pct(r.reads, 50):7.1f} ms  "
        f"p95 {pct(r.reads, 95):7.1f} ms  "
        f"errors {r.read_errors:4d} | /healthz {len(r.probes):4d}  p50 {pct(r.probes, 50):7.1f} ms  "
        f"p95 {pct(r.probes, 95):7.1f} ms  errors {r.probe_errors:3d}",
        flush=True,
    )
    print(
        f"{'':<9} stalled uploads: {r.hanging} hanging, refused: {refused or 'none'} | server RSS "
        f"{r.rss_idle_mb:.0f} MiB idle, {r.rss_stalled_mb:.0f} MiB stalled, peak {r.peak_mb:.0f} MiB",
        flush=True,
    )


def main() -> int:
    print(
        f"{STALLED} stalled uploads, {USERS} readers + a /healthz probe for {PHASE_S:.0f} s, "
        f"time-out {TIMEOUT_S:.0f} s, SQLite + local storage, load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    after = run("this tree", ROOT)
    report(after)
    tree = baseline_tree() if os.environ.get("BENCH_BASELINE", "1") != "0" else None
    if tree is not None:
        try:
            before = run("baseline", tree)
        finally:
            shutil.rmtree(tree, ignore_errors=True)
        report(before)
    slow_refusals = sum(t > 1.0 for times in after.refused.values() for t in times)
    met = (
        pct(after.reads, 95) < 150
        and pct(after.probes, 95) < 150
        and after.read_errors + after.probe_errors == 0
        and slow_refusals == 0
    )
    print(f"aim (p95 < 150 ms, 0 errors, refusals within 1 s): {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--seed":
        print(json.dumps(seed(Path(sys.argv[2]))))
        raise SystemExit(0)
    raise SystemExit(main())
