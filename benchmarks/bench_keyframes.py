"""Keyframes: cut agreement with PySceneDetect, and CPU cost on top of the shared decode.

(a) Quality: our cut times vs PySceneDetect's ContentDetector (defaults) on the shared clips,
    a cut matching when within +-1 s (one-to-one); precision and recall take PySceneDetect as
    the reference. It misses gradual fades and dissolves by design; we report those as cuts.
(b) Speed: CPU seconds (this process + ffmpeg children) per video-minute, on testvideo.mp4
    looped to 2 minutes: the frame decode alone, the same decode feeding KeyframeAnalyser, and
    PySceneDetect plus an ffmpeg extraction of the same number of frames, all in this run.

Needs ``scenedetect-headless`` (benchmark-only; plain ``scenedetect`` replaces headless OpenCV).
Run: ``.venv/bin/python benchmarks/bench_keyframes.py``.
"""

from __future__ import annotations

import resource
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scenedetect import ContentDetector, detect

from pipeline.analysis.analyser import FinishContext
from pipeline.keyframes import KeyframeAnalyser
from pipeline.limits import MediaLimits
from pipeline.media_pass import iter_frames

DATA = Path(__file__).resolve().parents[2] / "shared/data/clips"
CLIPS = [DATA / "testvideo.mp4", DATA / "short_hamilton_clip.mp4"]
TOLERANCE_S = 1.0
LOOPS = 5


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (ffmpeg)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def measured(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, CPU seconds, wall seconds) of ``fn()``."""
    cpu, wall = cpu_seconds(), time.perf_counter()
    out = fn()
    return out, cpu_seconds() - cpu, time.perf_counter() - wall


def pyscenedetect_cuts(src: Path) -> list[float]:
    scenes = detect(str(src), ContentDetector())
    return [start.seconds for start, _ in scenes[1:]]


def keyframes(src: Path, workdir: Path) -> tuple[dict, float, float]:
    """Our stage over the shared frame stream: its data, the duration seen and the CPU seconds
    spent in the analyser itself (``process`` and ``finish``, all threads of this process)."""
    analyser = KeyframeAnalyser()
    last = 0.0
    spent = 0.0
    for frame in iter_frames(src, workdir, MediaLimits()):
        t0 = time.process_time()
        analyser.process(frame)
        spent += time.process_time() - t0
        last = frame.t
    duration = last + 1.0 / MediaLimits().analysis_fps
    t0 = time.process_time()
    data = analyser.finish(FinishContext(workdir=workdir, duration_s=duration, audio_path=None)).data
    return data, duration, spent + time.process_time() - t0


def decode_only(src: Path, workdir: Path) -> int:
    return sum(1 for _ in iter_frames(src, workdir, MediaLimits()))


def agreement(ours: list[float], ref: list[float]) -> tuple[int, float, float]:
    """(matches, precision, recall) of ``ours`` against ``ref``, one-to-one within TOLERANCE_S."""
    free = list(ref)
    matches = 0
    for t in ours:
        near = [r for r in free if abs(r - t) <= TOLERANCE_S]
        if near:
            free.remove(min(near, key=lambda r: abs(r - t)))
            matches += 1
    precision = matches / len(ours) if ours else 1.0
    recall = matches / len(ref) if ref else 1.0
    return matches, precision, recall


def extract_frames(src: Path, times: list[float], outdir: Path) -> None:
    """The baseline's frame extraction: one ffmpeg seek per frame, 480 px wide JPEG."""
    for n, t in enumerate(times):
        argv = ["ffmpeg", "-v", "error", "-y", "-ss", f"{t:.3f}", "-i", str(src), "-frames:v", "1"]
        subprocess.run([*argv, "-vf", "scale=480:-2", str(outdir / f"ref-{n:02d}.jpg")], check=True)


def quality(tmp: Path) -> None:
    print(f"(a) cut agreement with PySceneDetect ContentDetector, +-{TOLERANCE_S:.0f} s")
    for src in CLIPS:
        workdir = tmp / f"q-{src.stem}"
        workdir.mkdir()
        data, _, _ = keyframes(src, workdir)
        ref = pyscenedetect_cuts(src)
        matches, precision, recall = agreement(data["cuts"], ref)
        print(f"  {src.name}: ours {data['cuts']}")
        print(f"  {' ' * len(src.name)}  PySceneDetect {[round(r, 2) for r in ref]}")
        print(
            f"  {' ' * len(src.name)}  matched {matches}: precision {precision:.2f}, recall {recall:.2f}; "
            f"{len(data['keyframes'])} keyframes"
        )


def speed(tmp: Path) -> None:
    src = tmp / "looped.mp4"
    loop = ["-stream_loop", str(LOOPS - 1), "-i", str(CLIPS[0])]
    subprocess.run(["ffmpeg", "-v", "error", *loop, "-c", "copy", str(src)], check=True)
    for name in ("dec", "kf", "ref"):
        (tmp / name).mkdir()
    frames, dec_cpu, dec_wall = measured(lambda: decode_only(src, tmp / "dec"))
    (data, duration, own_cpu), kf_cpu, kf_wall = measured(lambda: keyframes(src, tmp / "kf"))
    times = [k["t"] for k in data["keyframes"]]
    _, psd_cpu, psd_wall = measured(lambda: pyscenedetect_cuts(src))
    _, ext_cpu, ext_wall = measured(lambda: extract_frames(src, times, tmp / "ref"))
    minutes = duration / 60
    base_cpu = psd_cpu + ext_cpu
    print(f"\n(b) CPU per video-minute on {src.name} ({duration:.0f} s, 1280x720, {frames} frames at 1 fps)")
    rows = [
        ("frame decode alone", dec_cpu, dec_wall),
        ("decode + keyframes", kf_cpu, kf_wall),
        (f"PySceneDetect + ffmpeg x{len(times)}", base_cpu, psd_wall + ext_wall),
    ]
    for name, cpu, wall in rows:
        print(f"  {name:<30s}{cpu / minutes:6.2f} s   (wall {wall:.2f} s)")
    print(f"  keyframes on top of the decode: +{own_cpu / (kf_cpu - own_cpu):.1%} measured inside the run,")
    print(f"    +{(kf_cpu - dec_cpu) / dec_cpu:.1%} as the difference of the two runs (noisier); aim <= 10%")
    print(f"  keyframes' own cost vs PySceneDetect + extraction: {own_cpu / base_cpu:.3f}x")
    print(f"  decode + keyframes vs PySceneDetect + extraction:  {kf_cpu / base_cpu:.3f}x")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-keyframes-") as tmp:
        quality(Path(tmp))
        speed(Path(tmp))


if __name__ == "__main__":
    main()
