"""Fingerprinting CPU per video-minute, against vPDQ's method (decode at 1 fps, PDQ of every frame at
full resolution) on the same files in the same run.

    .venv/bin/python benchmarks/bench_fingerprint.py

Three figures per file, CPU seconds (user + system, ffmpeg children included) per minute of video:
- baseline: ffmpeg decode at 1 fps to RGB at full size + pdqhash per frame (vPDQ);
- ours, on the one decode: the dedup consumers alone (visual + audio fingerprint), the frames and the
  8 kHz track being produced by the decode every analyser shares;
- ours, standalone: the pipeline's frame stream (1 fps, long side <= 1280) + the 8 kHz audio extraction
  + the consumers, i.e. what dedup would cost if it had the decode to itself.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pdqhash

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.analysis.analyser import FinishContext
from pipeline.dedup import AudioFingerprinter, VisualFingerprinter
from pipeline.limits import MediaLimits
from pipeline.media_pass import iter_frames
from pipeline.probe import probe
from tests.synth_dedup import LessonSpec, make_lesson

TESTVIDEO = Path(__file__).resolve().parents[2] / "shared/data/clips/testvideo.mp4"


def cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def vpdq_baseline(path: Path, width: int, height: int) -> int:
    """vPDQ's method: 1 fps decode at full size, PDQ per frame. Returns the frames hashed."""
    cmd = ["ffmpeg", "-v", "error", "-i", str(path), *"-vf fps=1 -f rawvideo -pix_fmt rgb24 -".split()]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    size, n = width * height * 3, 0
    while chunk := proc.stdout.read(size):
        if len(chunk) < size:
            break
        pdqhash.compute(np.frombuffer(chunk, np.uint8).reshape(height, width, 3))
        n += 1
    proc.wait()
    return n


def extract_audio(path: Path, out: Path) -> None:
    args = "-vn -ac 1 -ar 8000 -f s16le".split()
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(path), *args, str(out)], check=True)


def measure(path: Path, workdir: Path) -> dict[str, float]:
    info = probe(path, workdir, MediaLimits())
    minutes = info.duration_s / 60
    t = cpu()
    vpdq_baseline(path, info.width, info.height)
    baseline = cpu() - t

    job = workdir / f"job_{path.stem}"
    job.mkdir()
    t = cpu()
    frames = list(iter_frames(path, job, MediaLimits()))  # the shared decode's frame stream
    pcm = job / "audio.s16" if info.audio_codec else None
    if pcm is not None:
        extract_audio(path, pcm)
    decode = cpu() - t
    t = cpu()
    visual, audio = VisualFingerprinter(), AudioFingerprinter()
    for f in frames:
        visual.process(f)
    ctx = FinishContext(workdir=job, duration_s=info.duration_s, audio_path=pcm)
    visual.finish(ctx)
    audio.finish(ctx)
    consumers = cpu() - t
    return {
        "minutes": minutes,
        "baseline": baseline / minutes,
        "consumers": consumers / minutes,
        "standalone": (decode + consumers) / minutes,
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        lesson = make_lesson(LessonSpec(seed=11, room=1, template=1, duration=60), work / "lesson360.mp4")
        hd = work / "lesson720.mp4"
        encode = "-vf scale=1280:720 -c:v libx264 -preset veryfast -crf 23 -c:a copy".split()
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(lesson), *encode, str(hd)], check=True)
        files = [hd, TESTVIDEO] if TESTVIDEO.exists() else [hd]
        print("CPU seconds per video-minute (ratio to vPDQ's decode-at-1-fps + pdqhash, same file, same run)")
        for path in files:
            t0 = time.perf_counter()
            r = measure(path, work)
            base = r["baseline"]
            print(f"{path.name:22s} baseline {base:.2f} s/min", end=" | ")
            print(f"dedup consumers {r['consumers']:.2f} s/min (x{r['consumers'] / base:.2f})", end=" | ")
            print(f"standalone {r['standalone']:.2f} s/min (x{r['standalone'] / base:.2f})", end=" ")
            print(f"[{time.perf_counter() - t0:.1f} s wall]")


if __name__ == "__main__":
    main()
