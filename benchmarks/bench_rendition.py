"""Seconds per minute of video for the remux and transcode paths of ``process_media`` (validate +
the one decode: rendition, 1 fps analysis frames, 8 kHz audio, poster), each as a ratio against
plain ffmpeg doing only the same remux/transcode on the same file in the same run. The HDR row is a
phone's 10-bit HEVC PQ version of the same lesson (tone-mapped to SDR on the way).

    .venv/bin/python benchmarks/bench_rendition.py [--seconds 60] [--threads 1] [--repeat 1]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import ffmpeg as ffmpeg_python

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.limits import MediaLimits  # noqa: E402
from pipeline.media_pass import process_media  # noqa: E402
from pipeline.rendition import RenditionPlan, plan_rendition  # noqa: E402
from pipeline.validate import validate  # noqa: E402


def make_lesson(path: Path, seconds: int, width: int, height: int) -> Path:
    """A lesson-like clip: a mostly static slide (SMPTE bars) with a moving test card inset, a tone."""
    inset_w, inset_h = width // 3, height // 3
    graph = (
        f"smptebars=s={width}x{height}:r=30:d={seconds}[bg];"
        f"testsrc2=s={inset_w}x{inset_h}:r=30:d={seconds}[fg];"
        f"[bg][fg]overlay=x='(W-w)*(0.5+0.4*sin(t/3))':y=(H-h)/2[v]"
    )
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-filter_complex", graph,
         "-f", "lavfi", "-i", f"sine=f=220:d={seconds}:sample_rate=48000",
         "-map", "[v]", "-map", "0:a", "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high",
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", str(path)],
        check=True,
    )  # fmt: skip
    return path


def as_hdr(src: Path, dst: Path) -> Path:
    """The lesson as a phone's HDR recording: 10-bit HEVC, BT.2020, PQ."""
    graph = "zscale=tin=bt709:min=bt709:pin=bt709:t=smpte2084:m=bt2020nc:p=bt2020:npl=203,format=yuv420p10le"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), "-vf", graph,
         "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error",
         "-color_primaries", "bt2020", "-color_trc", "smpte2084", "-colorspace", "bt2020nc",
         "-c:a", "copy", str(dst)],
        check=True,
    )  # fmt: skip
    return dst


def baseline_argv(src: Path, plan: RenditionPlan, threads: int, out: Path) -> list[str]:
    """Plain ffmpeg doing only the rendition ``plan`` describes (same codec settings, no frames/audio)."""
    inp = ffmpeg_python.input(str(src), threads=threads)
    video = inp["v:0"]
    for name, kwargs in plan.video_filters:
        video = video.filter(name, **kwargs)
    streams = [video, inp["a:0"]] if plan.audio else [video]
    node = ffmpeg_python.output(*streams, str(out), **plan.output_kwargs(threads))
    return ["ffmpeg", "-nostdin", "-v", "error", "-y", *node.compile()[1:]]


def measure(fn: Callable[..., object], *args: object) -> tuple[float, float]:
    """Run ``fn(*args)``; (wall seconds, CPU seconds of this process and its children)."""
    before_c, before_s = (
        resource.getrusage(resource.RUSAGE_CHILDREN),
        resource.getrusage(resource.RUSAGE_SELF),
    )
    t0 = time.perf_counter()
    fn(*args)
    wall = time.perf_counter() - t0
    after_c, after_s = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
    cpu = sum(
        getattr(a, f) - getattr(b, f)
        for a, b in ((after_c, before_c), (after_s, before_s))
        for f in ("ru_utime", "ru_stime")
    )
    return wall, cpu


def run_baseline(argv: list[str]) -> None:
    subprocess.run(argv, check=True)


def run_ours(src: Path, job: Path, limits: MediaLimits, mode: str) -> None:
    outcome = process_media(src, job, limits)
    assert outcome.rendition.mode == mode, outcome.plan.reason


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--threads", type=int, default=1, help="ffmpeg -threads (the Ray task's num_cpus)")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    limits = MediaLimits(threads=args.threads)
    root = Path(tempfile.mkdtemp(prefix="bench_rendition_"))
    try:
        rows = []
        cases = (
            ("remux 720p", (1280, 720)),
            ("transcode 1080p→720p", (1920, 1080)),
            ("HDR 1080p→720p", None),
        )
        for label, size in cases:
            if size is None:
                src, h = as_hdr(root / "lesson_1080p.mp4", root / "lesson_hdr.mp4"), "hdr"
            else:
                (w, h) = size
                src = make_lesson(root / f"lesson_{h}p.mp4", args.seconds, w, h)
            jobs = root / "jobs"
            jobs.mkdir(exist_ok=True)
            plan = plan_rendition(validate(src, jobs, limits))
            ours, base = [], []
            for i in range(args.repeat):
                base.append(
                    measure(run_baseline, baseline_argv(src, plan, args.threads, root / "baseline.mp4"))
                )
                job = jobs / f"{h}_{i}"
                job.mkdir()
                ours.append(measure(run_ours, src, job, limits, plan.mode))
            ours_wall, ours_cpu = min(ours)
            base_wall, base_cpu = min(base)
            rows.append((label, args.seconds, ours_wall, base_wall, ours_cpu, base_cpu))
        minutes = args.seconds / 60
        header = f"{'path':<22}{'video s':>8}{'ours s':>9}{'ffmpeg s':>10}{'ours s/min':>12}"
        header += f"{'ffmpeg s/min':>14}{'ratio':>7}{'ours CPU s':>12}{'ffmpeg CPU s':>14}"
        print(f"threads={args.threads}  repeat={args.repeat} (best of)  ratio = ours / plain ffmpeg")
        print(header)
        for label, secs, ow, bw, oc, bc in rows:
            print(
                f"{label:<22}{secs:>8}{ow:>9.2f}{bw:>10.2f}{ow / minutes:>12.2f}{bw / minutes:>14.2f}"
                f"{ow / bw:>7.2f}{oc:>12.2f}{bc:>14.2f}"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
