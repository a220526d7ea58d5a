"""Confinement of ffmpeg children: wall clock, CPU, memory and file-size limits become MediaErrors."""

from __future__ import annotations

import pytest

from pipeline.errors import MediaError
from pipeline.ffmpeg_run import FFMPEG_ARGS, Confined, Confinement, run
from pipeline.limits import MediaLimits
from pipeline.validate import validate

GiB = 1024**3


def lavfi(source: str, *out: str) -> list[str]:
    return [*FFMPEG_ARGS, "-v", "error", "-f", "lavfi", "-i", source, *out]


def test_wall_clock_timeout_kills_the_child(job_dir):
    argv = [
        *FFMPEG_ARGS,
        "-v",
        "error",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=64x64:d=60",
        "-f",
        "null",
        "-",
    ]
    conf = Confinement(timeout_s=1.0, cpu_s=120, memory_bytes=4 * GiB, file_bytes=GiB)
    with pytest.raises(MediaError) as err, Confined(argv, job_dir, conf, stdout_pipe=False) as child:
        child.wait()
    assert err.value.code == "processing_timeout"
    assert child.proc.returncode is not None


def test_cpu_limit(job_dir):
    argv = lavfi("testsrc2=s=1280x720:d=600", "-c:v", "libx264", "-preset", "medium", "-f", "null", "-")
    conf = Confinement(timeout_s=120, cpu_s=1, memory_bytes=4 * GiB, file_bytes=GiB)
    with pytest.raises(MediaError) as err:
        run(argv, job_dir, conf)
    assert err.value.code == "processing_timeout"


def test_memory_limit(job_dir):
    argv = lavfi("color=s=8192x8192", "-frames:v", "2", "-pix_fmt", "rgba", "-f", "null", "-")
    conf = Confinement(timeout_s=60, cpu_s=60, memory_bytes=700 * 1024**2, file_bytes=GiB)
    with pytest.raises(MediaError) as err:
        run(argv, job_dir, conf)
    assert err.value.code == "resource_limit"


def test_file_size_limit(job_dir):
    argv = lavfi("testsrc2=s=320x240:d=10", "-f", "rawvideo", "-y", str(job_dir / "out.raw"))
    conf = Confinement(timeout_s=60, cpu_s=60, memory_bytes=4 * GiB, file_bytes=1024**2)
    with pytest.raises(MediaError) as err:
        run(argv, job_dir, conf)
    assert err.value.code == "resource_limit"
    assert (job_dir / "out.raw").stat().st_size <= 1024**2


def test_children_run_in_the_job_directory(job_dir):
    argv = lavfi("testsrc2=s=64x64:d=1", "-y", "relative.mp4")
    rc, _, _ = run(argv, job_dir, Confinement(timeout_s=60, cpu_s=60, memory_bytes=4 * GiB, file_bytes=GiB))
    assert rc == 0 and (job_dir / "relative.mp4").stat().st_size > 0


def test_our_own_bad_command_line_is_not_blamed_on_the_file(job_dir):
    with pytest.raises(RuntimeError, match="usage error"):
        run([*FFMPEG_ARGS, "-no-such-option", "1"], job_dir, Confinement.for_probe(MediaLimits()))


def test_probe_timeout_rejects_as_processing_timeout(hostile_files, job_dir):
    with pytest.raises(MediaError) as err:
        validate(hostile_files("valid"), job_dir, MediaLimits(probe_timeout_s=0.001))
    assert err.value.code == "processing_timeout"
