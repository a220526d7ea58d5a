"""Run ffprobe/ffmpeg as confined subprocesses: empty job directory, rlimits, wall-clock timeout.

Every failure that is the file's fault becomes a ``MediaError`` (``processing_timeout`` or
``resource_limit``); the caller maps other non-zero exits to its own codes.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import MediaError
from pipeline.limits import MediaLimits

# The only demuxers ffmpeg may open, on ffprobe and on ffmpeg alike (nested demuxers included:
# this is what stops an HLS playlist or a concat script hidden behind an accepted extension).
FORMAT_WHITELIST = "mov,matroska,avi,flv,mpegts,asf,mpeg,rm,dv"
PROTOCOL_WHITELIST = "file,pipe"
FFMPEG_ARGS = ["ffmpeg", "-nostdin", "-hide_banner"]
FFPROBE_ARGS = ["ffprobe", "-hide_banner"]  # ffprobe never reads stdin
_OUT_OF_MEMORY = ("Cannot allocate memory", "Could not allocate", "Out of memory", "std::bad_alloc")
_USAGE_ERRORS = ("Option not found", "Unrecognized option", "Error splitting the argument list")
STDERR_KEEP = 64 * 1024  # bytes of stderr kept for diagnosis


@dataclass(frozen=True)
class Confinement:
    """Resource limits applied to one child process."""

    timeout_s: float
    cpu_s: int
    memory_bytes: int
    file_bytes: int

    @classmethod
    def for_probe(cls, limits: MediaLimits) -> Confinement:
        return cls(
            timeout_s=limits.probe_timeout_s,
            cpu_s=int(limits.probe_timeout_s * 2) + 1,
            memory_bytes=limits.memory_bytes,
            file_bytes=64 * 1024**2,
        )

    @classmethod
    def for_decode(cls, limits: MediaLimits, duration_s: float, size_bytes: int) -> Confinement:
        timeout = limits.decode_timeout_s(duration_s)
        # Largest legitimate output file: a stream copy of the upload, or a 720p transcode
        # (well under 1.5 MB per second of video), or the 8 kHz PCM track.
        file_bytes = 2 * size_bytes + int(1.5 * 1024**2 * duration_s) + 64 * 1024**2
        return cls(
            timeout_s=timeout,
            cpu_s=int(timeout * max(1, limits.threads) * 2) + 1,
            memory_bytes=limits.memory_bytes,
            file_bytes=file_bytes,
        )

    def preexec(self) -> None:
        """Runs in the child between fork and exec."""
        resource.setrlimit(resource.RLIMIT_AS, (self.memory_bytes, self.memory_bytes))
        resource.setrlimit(resource.RLIMIT_CPU, (self.cpu_s, self.cpu_s + 5))
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.file_bytes, self.file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class StderrTail:
    """Drains a child's stderr in a thread (no pipe deadlock), keeping the last ``STDERR_KEEP`` bytes.

    With ``on_line``, every complete line is passed to it first and kept only when it returns False
    (so a chatty log can be parsed as it streams without pushing the diagnosis out of the tail)."""

    def __init__(self, stream, on_line: Callable[[str], bool] | None = None) -> None:
        self._stream = stream
        self._on_line = on_line
        self._buf = bytearray()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        pending = b""
        while chunk := self._stream.read(8192):
            if self._on_line is None:
                self._keep(chunk)
                continue
            *lines, pending = (pending + chunk).split(b"\n")
            if len(pending) > STDERR_KEEP:  # no line is that long: do not buffer without bound
                lines.append(pending)
                pending = b""
            for line in lines:
                self._line(line)
        if pending:
            self._line(pending)

    def _line(self, raw: bytes) -> None:
        if not self._on_line(raw.decode("utf-8", "replace").rstrip("\r")):
            self._keep(raw + b"\n")

    def _keep(self, data: bytes) -> None:
        self._buf += data
        if len(self._buf) > 2 * STDERR_KEEP:
            del self._buf[:-STDERR_KEEP]

    def text(self) -> str:
        self._thread.join(timeout=5)
        return bytes(self._buf[-STDERR_KEEP:]).decode("utf-8", "replace")


class Confined:
    """A running confined child: ``stdout`` is a raw pipe when requested, stderr is drained (each
    line offered to ``on_line`` first, see ``StderrTail``).

    A watchdog kills the whole process group at the deadline; ``wait`` then raises
    ``processing_timeout``."""

    def __init__(
        self,
        argv: Sequence[str],
        workdir: Path,
        conf: Confinement,
        *,
        stdout_pipe: bool,
        on_line: Callable[[str], bool] | None = None,
    ):
        self.argv = list(argv)
        self.conf = conf
        self.timed_out = False
        self.cpu_s = 0.0
        self.proc = subprocess.Popen(
            self.argv,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdout_pipe else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            bufsize=0,
            start_new_session=True,
            preexec_fn=conf.preexec,
            close_fds=True,
        )
        self.stdout = self.proc.stdout
        self._stderr = StderrTail(self.proc.stderr, on_line)
        self._watchdog = threading.Timer(conf.timeout_s, self._on_deadline)
        self._watchdog.daemon = True
        self._watchdog.start()

    def _on_deadline(self) -> None:
        self.timed_out = True
        self.kill()

    def kill(self) -> None:
        """Kill the child's whole process group (idempotent; never reaps, ``wait`` does)."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def wait(self) -> tuple[int, str]:
        """Wait for exit; returns (returncode, stderr tail) or raises a confinement ``MediaError``.
        Sets ``cpu_s`` (user + system seconds of the child)."""
        try:
            _, status, usage = os.wait4(self.proc.pid, 0)
            rc = self.proc.returncode = os.waitstatus_to_exitcode(status)
            self.cpu_s = usage.ru_utime + usage.ru_stime
        finally:
            self._watchdog.cancel()
            if self.stdout is not None:
                self.stdout.close()
        err = self._stderr.text()
        # ffmpeg catches SIGXCPU and exits "normally": the CPU time used tells.
        over_cpu = self.cpu_s >= self.conf.cpu_s - 0.05
        check_confinement(rc, err, timed_out=self.timed_out or over_cpu)
        return rc, err

    def __enter__(self) -> Confined:
        return self

    def __exit__(self, *exc) -> None:
        self.kill()
        self._watchdog.cancel()
        if self.proc.returncode is None:
            self.proc.wait()
        if self.stdout is not None:
            self.stdout.close()


def check_confinement(rc: int, stderr: str, *, timed_out: bool) -> None:
    """Raise the ``MediaError`` for a child stopped by the timeout or a resource limit, and
    ``RuntimeError`` for our own bad command line (never the file's fault)."""
    if rc != 0 and any(u in stderr for u in _USAGE_ERRORS):
        raise RuntimeError(f"ffmpeg usage error: {_last_line(stderr)}")
    if timed_out or rc in (-signal.SIGXCPU, -signal.SIGKILL):
        raise MediaError("processing_timeout", _last_line(stderr))
    if rc == -signal.SIGXFSZ:
        raise MediaError("resource_limit", "output file size limit reached")
    if rc != 0 and (
        "Cannot allocate memory" in stderr or "std::bad_alloc" in stderr or rc == -signal.SIGABRT
    ):
        raise MediaError("resource_limit", _last_line(stderr))


def run(argv: Sequence[str], workdir: Path, conf: Confinement) -> tuple[int, bytes, str]:
    """Run to completion capturing stdout; returns (returncode, stdout, stderr tail)."""
    with Confined(argv, workdir, conf, stdout_pipe=True) as child:
        out = child.stdout.read()
        rc, err = child.wait()
    return rc, out, err


def _last_line(text: str) -> str | None:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else None


def input_url(path: Path) -> str:
    """An absolute ``file:`` URL, so no file name is ever read as a protocol or an option."""
    return "file:" + str(Path(path).resolve())
