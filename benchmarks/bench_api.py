"""API load: 20 concurrent users, mixed reads and creates, against a real server on SQLite and local
storage — with processing paused (the baseline), then while one transcode runs beside it.

Each user waits 0.5-1.5 s between requests (as locust users do); a capacity phase drops the waits to
find the most requests/s. Prints requests/s, p50/p95 latency, errors and the server's CPU per request
per phase, and the transcode phase as ratios of the paused one.
Aim: p95 < 150 ms and 0 errors with processing paused.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.accounts import create_user, issue_token  # noqa: E402
from core.db import init_db, make_engine, session_scope  # noqa: E402
from core.outbox import submission_changed  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.storage import open_blob_store  # noqa: E402
from models.accounts import Role  # noqa: E402
from models.submissions import Submission, SubmissionMeta, SubmissionStatus  # noqa: E402
from models.teachers import Teacher  # noqa: E402

USERS = 20
PHASE_S = float(os.environ.get("BENCH_API_SECONDS", "15"))
SUBMISSIONS = 200
UPLOAD_BYTES = 256 * 1024
THINK_S = (0.5, 1.5)
JWT_SECRET = "bench-" + "b" * 40


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0
    server_cpu_s: float = 0.0
    by_kind: dict[str, list[float]] = field(default_factory=dict)

    def p(self, q: float) -> float:
        return (
            statistics.quantiles(self.latencies, n=100)[int(q) - 1] * 1000 if len(self.latencies) > 1 else 0.0
        )

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0


def seed(settings: Settings) -> tuple[dict[str, str], list[str]]:
    """Teachers in 4 schools, an administrator, a teacher and the service; screened submissions."""
    engine = make_engine(settings.resolved_database_url)
    init_db(engine)
    store = open_blob_store(settings)
    rendition = store.uri(store.put_bytes(b"\x00\x00\x00\x18ftypisom" + os.urandom(64 * 1024)))
    frame = store.uri(store.put_bytes(b"\xff\xd8\xff\xe0" + os.urandom(8 * 1024)))
    ids = []
    with session_scope(engine) as session:
        for school in range(4):
            for t in range(10):
                session.add(
                    Teacher(id=f"t{school}_{t}", school_code=f"sc.cd.wh.s{school:03d}", subject="math")
                )
    rng = random.Random(1)
    for i in range(SUBMISSIONS):
        with session_scope(engine) as session:
            key = store.put_bytes(f"seed {i}".encode())
            sub = Submission(
                teacher_id=f"t{i % 4}_{i % 10}",
                blob_key=key,
                sha256=key.removeprefix("sha256/"),
                size_bytes=7,
                status=SubmissionStatus.screened,
                report={
                    "status": "screened",
                    "rendition": {"uri": rendition},
                    "presence": {"verdict": rng.choice(["valid", "needs_review", "invalid_no_face"])},
                    "keyframes": [{"t": float(k), "uri": frame} for k in range(16)],
                    "contact_sheet": {"uri": frame},
                    "duplicates": [],
                },
            )
            session.add(sub)
            session.flush()
            session.add(SubmissionMeta(submission_id=sub.id, micro_capabilities=["A1"]))
            submission_changed(session, sub)
            ids.append(sub.id)
    tokens = {}
    with session_scope(engine) as session:
        for name, roles, region, teacher in (
            ("admin", {Role.county_admin}, "sc.cd.wh", None),
            ("teacher", {Role.teacher}, None, "t0_0"),
            ("service", {Role.service}, None, None),
        ):
            user = create_user(session, roles, region=region, teacher_id=teacher)
            tokens[name] = issue_token(settings, user.id, ttl_s=3600)
    engine.dispose()
    return tokens, ids


async def user_loop(
    http: httpx.AsyncClient, tokens: dict, ids: list[str], phase: Phase, until: float, think: bool
) -> None:
    rng = random.Random()
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    teacher = {"Authorization": f"Bearer {tokens['teacher']}"}
    service = {"Authorization": f"Bearer {tokens['service']}"}
    body = os.urandom(UPLOAD_BYTES)
    while time.monotonic() < until:
        roll = rng.random()
        sub = rng.choice(ids)
        if roll < 0.35:
            kind, call = "GET submission", http.get(f"/v1/submissions/{sub}", headers=service)
        elif roll < 0.50:
            kind, call = "GET keyframes", http.get(f"/v1/submissions/{sub}/keyframes", headers=admin)
        elif roll < 0.65:
            kind, call = "GET admin list", http.get("/v1/admin/submissions?limit=50", headers=admin)
        elif roll < 0.75:
            after = rng.randrange(SUBMISSIONS)
            kind, call = "GET events", http.get(f"/v1/events?after={after}&limit=20", headers=service)
        elif roll < 0.85:
            kind, call = "GET stats", http.get("/v1/admin/stats", headers=admin)
        else:
            kind = "POST submission"
            files = {"file": ("lesson.mp4", body[: rng.randrange(1, UPLOAD_BYTES)], "video/mp4")}
            call = http.post(
                "/v1/submissions",
                files=files,
                data={"teacher_id": "t0_0", "micro_capabilities": "A1"},
                headers=teacher,
            )
        started = time.perf_counter()
        try:
            resp = await call
            ok = resp.status_code < 400
        except httpx.HTTPError:
            ok = False
        phase.latencies.append(time.perf_counter() - started)
        phase.by_kind.setdefault(kind, []).append(phase.latencies[-1])
        phase.errors += not ok
        if think:
            await asyncio.sleep(rng.uniform(*THINK_S))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_phase(
    url: str,
    tokens: dict,
    ids: list[str],
    name: str,
    server_pid: int,
    seconds: float = PHASE_S,
    think: bool = True,
) -> Phase:
    phase = Phase(name)
    cpu_before = cpu_seconds(server_pid)
    limits = httpx.Limits(max_connections=USERS, max_keepalive_connections=USERS)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
        started = time.monotonic()
        until = started + seconds
        await asyncio.gather(*(user_loop(http, tokens, ids, phase, until, think) for _ in range(USERS)))
        phase.elapsed = time.monotonic() - started
    phase.server_cpu_s = cpu_seconds(server_pid) - cpu_before
    return phase


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_transcode(workdir: Path) -> subprocess.Popen:
    """One review-rendition transcode as a worker runs it (libx264 veryfast, 720p, one thread)."""
    src = workdir / "source.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=1920x1080:r=30:d=20",
         "-c:v", "libx264", "-preset", "ultrafast", "-threads", "1", str(src)],
        check=True,
    )  # fmt: skip
    return subprocess.Popen(
        ["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(src), "-vf", "scale=-2:720",
         "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-threads", "1", "-f", "mp4",
         str(workdir / "out.mp4")],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip


def report(phase: Phase, base: Phase | None = None) -> None:
    line = (
        f"{phase.name:<22} {len(phase.latencies):6d} req  {phase.rps:7.1f} req/s  "
        f"p50 {phase.p(50):6.1f} ms  p95 {phase.p(95):6.1f} ms  errors {phase.errors}  "
        f"server CPU {phase.server_cpu_s / max(1, len(phase.latencies)) * 1000:.1f} ms/req"
    )
    if base is not None:
        line += f"   (vs paused: req/s x{phase.rps / base.rps:.2f}, p95 x{phase.p(95) / base.p(95):.2f})"
    print(line, flush=True)
    for kind, latencies in sorted(phase.by_kind.items()):
        p95 = statistics.quantiles(latencies, n=100)[94] * 1000 if len(latencies) > 1 else 0.0
        print(f"    {kind:<18} {len(latencies):5d} req  p95 {p95:6.1f} ms", flush=True)


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="bench-api-"))
    settings = Settings(home=home, jwt_secret=JWT_SECRET)
    server = None
    transcode = None
    try:
        tokens, ids = seed(settings)
        port = free_port()
        env = {**os.environ, "EVIDENCE_HOME": str(home), "EVIDENCE_JWT_SECRET": JWT_SECRET}
        for name in ("DATABASE_URL", "EVIDENCE_STORAGE"):
            env.pop(name, None)
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--host", "127.0.0.1",
             "--port", str(port), "--no-access-log", "--log-level", "warning"],
            env=env, cwd=ROOT, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.2)
        print(f"{USERS} users, {PHASE_S:.0f} s per phase, SQLite + local storage, {SUBMISSIONS} submissions")
        asyncio.run(run_phase(url, tokens, ids, "warm-up", server.pid, seconds=3))
        paused = asyncio.run(run_phase(url, tokens, ids, "processing paused", server.pid))
        report(paused)
        capacity = asyncio.run(
            run_phase(url, tokens, ids, "capacity (no waits)", server.pid, seconds=PHASE_S / 2, think=False)
        )
        report(capacity)
        transcode = start_transcode(home)
        busy = asyncio.run(run_phase(url, tokens, ids, "one transcode running", server.pid))
        report(busy, paused)
        verdict = "met" if paused.p(95) < 150 and paused.errors == 0 else "NOT met"
        print(f"aim (paused: p95 < 150 ms, 0 errors): {verdict}")
        return 0
    finally:
        for proc in (transcode, server):
            if proc is not None:
                proc.terminate()
                proc.wait(30)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
