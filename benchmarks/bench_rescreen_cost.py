"""CPU seconds per video-minute of a first screening and of re-screenings, on a 3-minute 1080p30
phone lesson (H.264 High, 1 s GOP, 10 Mbps; ``phone_lesson.py``), each as a ratio against plain
ffmpeg baselines measured in the same run. CPU is ``getrusage`` of this process and its children
(ffmpeg's time counts), the product's settings: a 2 fps frame stream, faces at 1 fps, one thread.

- first screening: ``process_media`` with every analyser (teacher enrolled), against a bare ffmpeg
  transcode of the same file to the same rendition (aim <= 1.15x);
- re-screening presence + keyframes (rendition reused, only those stale): ``rescreen_media``, aim
  <= 4.5 CPU-s per video-minute, against a full and a keyframe-only decode;
- re-screening the fingerprints (they read every frame of the full decode), reported apart.

    .venv/bin/python benchmarks/bench_rescreen_cost.py [--quick]

``--quick`` uses a 36-second version of the lesson (a smoke run; the figures are the full one's).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_rendition import baseline_argv  # noqa: E402
from benchmarks.phone_lesson import enrolment_frame, phone_lesson  # noqa: E402
from pipeline.analysis.host import build_host  # noqa: E402
from pipeline.analysis.registry import ANALYSERS  # noqa: E402
from pipeline.analysis.stream import FrameStream  # noqa: E402
from pipeline.dedup import AudioFingerprinter, VisualFingerprinter  # noqa: E402
from pipeline.enrolment_photo import encode_enrolment_photo  # noqa: E402
from pipeline.keyframes import KeyframeAnalyser  # noqa: E402
from pipeline.limits import MediaLimits  # noqa: E402
from pipeline.media_pass import process_media, rescreen_media  # noqa: E402
from pipeline.presence import EnrolledFaces, PresenceAnalyser  # noqa: E402
from pipeline.rendition import plan_rendition  # noqa: E402
from pipeline.validate import validate  # noqa: E402

LIMITS = MediaLimits(analysis_fps=2.0, threads=1)
STREAM = FrameStream.of(LIMITS, 1.0)


def cpu_seconds(fn: Callable[[], object]) -> tuple[float, object]:
    """CPU seconds (user + system, this process and its children) spent in ``fn()``, and its result."""

    def now() -> float:
        usage = (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
        return sum(u.ru_utime + u.ru_stime for u in usage)

    before = now()
    result = fn()
    return now() - before, result


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    src = phone_lesson(0.2 if args.quick else 1.0)
    root = Path(tempfile.mkdtemp(prefix="bench_rescreen_"))
    faces = EnrolledFaces("T", (encode_enrolment_photo(enrolment_frame(root / "enrol.png")),))  # loads models
    inputs = {"enrolled_faces": faces}
    info = validate(src, root, LIMITS)
    minutes = info.duration_s / 60
    plan = plan_rendition(info)
    rows: list[tuple[str, float, str]] = []

    def job(name: str) -> Path:
        path = root / name
        path.mkdir()
        return path

    transcode, _ = cpu_seconds(
        lambda: subprocess.run(baseline_argv(src, plan, 1, root / "bare.mp4"), check=True)
    )
    full, _ = cpu_seconds(lambda: ffmpeg("-threads", "1", "-i", str(src), "-map", "0:v", "-f", "null", "-"))
    keys, _ = cpu_seconds(
        lambda: ffmpeg(
            "-threads", "1", "-skip_frame", "nokey", "-i", str(src), "-map", "0:v", "-f", "null", "-"
        )
    )
    rows += [
        (f"bare ffmpeg transcode to the rendition ({plan.mode} {plan.width}x{plan.height})", transcode, ""),
        ("ffmpeg: decode every frame", full, ""),
        ("ffmpeg: decode keyframes only", keys, ""),
    ]

    first_cpu, first = cpu_seconds(
        lambda: process_media(src, job("first"), LIMITS, build_host(ANALYSERS, inputs, STREAM))
    )
    timings = ", ".join(f"{k} {v / minutes:.2f}" for k, v in first.timings.items())
    rows.append(
        (
            "first screening (transcode path, every analyser)",
            first_cpu,
            f"{first_cpu / transcode:.3f}x bare transcode (aim <= 1.15); wall s/min: {timings}",
        )
    )

    sampled = [PresenceAnalyser, KeyframeAnalyser]
    again_cpu, again = cpu_seconds(
        lambda: rescreen_media(src, job("again"), LIMITS, lambda: build_host(sampled, inputs, STREAM))
    )
    timings = ", ".join(f"{k} {v / minutes:.2f}" for k, v in again.timings.items())
    rows.append(
        (
            f"re-screen presence + keyframes ({again.path.name} decode)",
            again_cpu,
            f"{again_cpu / full:.2f}x full decode, {again_cpu / keys:.2f}x keyframe decode "
            f"(aim <= 4.5/min); wall s/min: {timings}",
        )
    )

    fp = [VisualFingerprinter, AudioFingerprinter]
    fp_cpu, fp_out = cpu_seconds(
        lambda: rescreen_media(src, job("fp"), LIMITS, lambda: build_host(fp, {}, STREAM))
    )
    rows.append(
        (
            f"re-screen fingerprints alone ({fp_out.path.name} decode)",
            fp_cpu,
            f"{fp_cpu / full:.2f}x full decode",
        )
    )

    p1, p2 = first.outputs["presence"].data, again.outputs["presence"].data
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"{src.name}: {info.duration_s:.0f} s {info.width}x{info.height} {info.video_codec} {info.fps:g} fps;"
        " "
        f"presence {p1['verdict']} {p1['teacher_seconds']:g} s (first) / {p2['verdict']} "
        f"{p2['teacher_seconds']:g} s (re-screen); load average {load}"
    )
    print("| what | CPU-s | CPU-s per video-minute | ratio / notes |\n|---|---|---|---|")
    for name, cpu, note in rows:
        print(f"| {name} | {cpu:.1f} | {cpu / minutes:.2f} | {note} |")


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"({time.perf_counter() - started:.0f} s)")
