"""What real copies do to fingerprints: per-frame PDQ distances and audio-landmark survival under the
transforms people apply (re-encode, crop, logo, grey, speed 0.8-1.25x, 2- and 5-minute excerpts).

    .venv/bin/python benchmarks/bench_dedup_transforms.py [--out calibration.json]

Sources: generated lessons (tests/synth_dedup.py, a classroom and a screencast, plus a 6-minute lesson
for the excerpts) and the real footage in ../shared/data (clips, ThreatExchange originals, talking
heads). Each copy goes through ffmpeg and then the product's own decode and fingerprinters (2 fps).

Per frame: every run of the copy is mapped to the original's time by the known speed and offset; its
distance to the closest run of the original within 1.5 s is what a search radius has to reach when
every run is indexed (``aligned``, today), and its distance to the closest of the frames indexed before
(one per 3 s) within 3 s is what that retrieval could meet (``one/3s``). Landmarks: the share of
the original's (indexed) landmarks whose hash (time-step bin +-1) appears in the copy within 0.3 s of
the aligned time. ``--out`` writes the figures for benchmarks/bench_dedup_scale.py.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.analysis.host import AnalyserHost
from pipeline.dedup import AudioFingerprinter, Fingerprint, VisualFingerprinter
from pipeline.dedup.codec import indexed_landmarks
from pipeline.dedup.pdq import hamming
from pipeline.limits import MediaLimits
from pipeline.media_pass import process_media
from tests.synth_dedup import LessonSpec, make_lesson, make_logo

DATA = Path(__file__).resolve().parents[2] / "shared/data"
REAL = [
    DATA / "clips/testvideo.mp4",
    DATA / "clips/short_hamilton_clip.mp4",
    DATA / "dedup/threatexchange/pattern-hd-no-bar.mp4",
    DATA / "dedup/threatexchange/chair-orig-22-sd-bar.mp4",
    DATA / "faces/real/d10.mp4",
    DATA / "faces/real/s20.mp4",
]
ENC = "-c:v libx264 -preset veryfast -crf 30 -pix_fmt yuv420p -c:a aac -b:a 48k".split()
# name -> (video filter, audio filter, speed: original time = speed x copy time)
TRANSFORMS = {
    "reencode": ("scale=-2:240", None, 1.0),
    "crop": ("crop=iw*0.85:ih*0.85:iw*0.10:ih*0.05", None, 1.0),
    "logo": (None, None, 1.0),  # overlay, below
    "grey": ("hue=s=0", None, 1.0),
    "speed0.8": ("setpts=PTS/0.8", "atempo=0.8", 0.8),
    "speed1.25": ("setpts=PTS/1.25", "atempo=1.25", 1.25),
}
EXCERPTS = {"excerpt2m": (97.3, 120.0), "excerpt5m": (31.1, 300.0)}  # start, length in the 6-min lesson
PERCENTILES = (50, 90, 95, 99)
RADII = (31, 48, 56, 64, 72)


def one_per_window(v, window: float = 3.0) -> np.ndarray:
    """The frames indexed before this engine: the longest run per 3-s window."""
    bucket = np.floor(v.starts / window).astype(np.int64)
    order = np.lexsort((-(v.ends - v.starts), bucket))
    first = np.concatenate([[True], bucket[order][1:] != bucket[order][:-1]])
    return np.sort(order[first])


def ffmpeg(args: list[str]) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def make_copy(src: Path, dst: Path, name: str, logo: Path) -> Path:
    if name == "logo":
        fc = "[1:v]scale=iw*0.6:-1[l];[0:v][l]overlay=W-w-12:12"
        ffmpeg(["-i", str(src), "-i", str(logo), "-filter_complex", fc, *ENC, str(dst)])
        return dst
    vf, af, _ = TRANSFORMS[name]
    ffmpeg(["-i", str(src), "-vf", vf, *(["-af", af] if af else []), *ENC, str(dst)])
    return dst


def fingerprint(path: Path, workdir: Path) -> Fingerprint:
    visual, audio = VisualFingerprinter(), AudioFingerprinter()
    workdir.mkdir(parents=True, exist_ok=True)
    out = process_media(path, workdir, MediaLimits(analysis_fps=2.0), AnalyserHost([visual, audio]))
    return Fingerprint.from_stage_data(out.outputs[visual.stage].data, out.outputs[audio.stage].data)


def frame_distances(copy: Fingerprint, orig: Fingerprint, speed: float, offset: float) -> dict:
    """Per asked copy frame: distance to the nearest aligned original frame, and to the nearest
    indexed original frame within 3 s."""
    q, o = copy.visual, orig.visual
    asked = np.arange(len(q))  # every run of the copy
    if len(asked) == 0 or len(o) == 0:
        return {"aligned": [], "one/3s": []}
    d = hamming(q.hashes[asked], o.hashes)
    mid = speed * (q.starts[asked] + q.ends[asked]) / 2 + offset
    half = speed * (q.ends[asked] - q.starts[asked]) / 2
    near = (o.starts[None, :] <= (mid + half + 1.5)[:, None]) & (
        o.ends[None, :] >= (mid - half - 1.5)[:, None]
    )
    inside = (mid >= o.starts.min() - 1) & (mid <= o.ends.max() + 1)
    aligned = np.where(near, d, 999).min(axis=1)[inside]
    idx = one_per_window(o)
    near_i = np.abs(((o.starts[idx] + o.ends[idx]) / 2)[None, :] - mid[:, None]) <= 3.0 + half[:, None]
    indexed = np.where(near_i, d[:, idx], 999).min(axis=1)[inside]
    return {"aligned": aligned[aligned < 999].tolist(), "one/3s": indexed[indexed < 999].tolist()}


def landmark_survival(copy: Fingerprint, orig: Fingerprint, speed: float, offset: float) -> dict:
    """Share of the original's landmarks (all, indexed half) found again in the copy."""
    a, c = orig.audio, copy.audio
    lo, hi = offset, offset + speed * c.duration_s  # the stretch of the original the copy holds
    in_copy = (a.times >= lo + 1) & (a.times <= hi - 1)
    if in_copy.sum() == 0 or len(c.hashes) == 0:
        return {"all": 0.0, "indexed": 0.0, "n": 0}
    mapped = speed * c.times + offset
    order = np.argsort(c.hashes, kind="stable")
    ch, ct = c.hashes[order].astype(np.int64), mapped[order]
    found = np.zeros(len(a.hashes), bool)
    for delta in (0, 1, -1):
        h = a.hashes.astype(np.int64) + delta
        lo_i, hi_i = np.searchsorted(ch, h, "left"), np.searchsorted(ch, h, "right")
        for k in np.flatnonzero(in_copy & (hi_i > lo_i)):
            found[k] |= bool((np.abs(ct[lo_i[k] : hi_i[k]] - a.times[k]) <= 0.3).any())
    idx = np.zeros(len(a.hashes), bool)
    idx[indexed_landmarks(a)] = True
    return {
        "all": float(found[in_copy].mean()),
        "indexed": float(found[in_copy & idx].mean()) if (in_copy & idx).any() else 0.0,
        "n": int(in_copy.sum()),
    }


def summarise(values: list[float]) -> str:
    v = np.array(values)
    if len(v) == 0:
        return "no frames"
    pct = " ".join(f"p{p} {np.percentile(v, p):5.1f}" for p in PERCENTILES)
    within = " ".join(f"<={r} {np.mean(v <= r):4.0%}" for r in RADII)
    return f"n {len(v):4d}  {pct}  {within}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the calibration figures (JSON) here")
    args = parser.parse_args()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        logo = make_logo(root / "logo.png")
        sources = {
            "lesson": make_lesson(LessonSpec(seed=301, room=3, template=3, duration=40), root / "lesson.mp4"),
            "screencast": make_lesson(
                LessonSpec(seed=302, room=4, template=4, duration=40, screencast=True),
                root / "screencast.mp4",
            ),
            **{p.stem: p for p in REAL if p.exists()},
        }
        long = make_lesson(LessonSpec(seed=303, room=5, template=5, duration=360), root / "long.mp4")
        cases = [(s, name) for s in sources for name in TRANSFORMS]
        prints = {s: fingerprint(p, root / f"fp_{s}") for s, p in {**sources, "long": long}.items()}
        for s, name in cases:
            copy = fingerprint(
                make_copy(sources[s], root / f"{s}_{name}.mp4", name, logo), root / f"c_{s}_{name}"
            )
            speed = TRANSFORMS[name][2]
            results.setdefault(name, {"aligned": [], "one/3s": [], "landmarks": []})
            fd = frame_distances(copy, prints[s], speed, 0.0)
            results[name]["aligned"] += fd["aligned"]
            results[name]["one/3s"] += fd["one/3s"]
            if not prints[s].audio.silent:
                results[name]["landmarks"].append(landmark_survival(copy, prints[s], speed, 0.0))
        for name, (start, length) in EXCERPTS.items():
            dst = root / f"{name}.mp4"
            ffmpeg(["-ss", str(start), "-i", str(long), "-t", str(length), *ENC, str(dst)])
            copy = fingerprint(dst, root / f"c_{name}")
            fd = frame_distances(copy, prints["long"], 1.0, start)
            results[name] = {**fd, "landmarks": [landmark_survival(copy, prints["long"], 1.0, start)]}

    print("per-frame PDQ distance of each asked copy frame (bits of 256):")
    calibration: dict[str, dict] = {}
    for name, r in results.items():
        lm = r["landmarks"]
        n = sum(x["n"] for x in lm) or 1
        surv_all = sum(x["all"] * x["n"] for x in lm) / n
        surv_idx = sum(x["indexed"] * x["n"] for x in lm) / n
        print(f"  {name:10s} aligned  {summarise(r['aligned'])}")
        print(f"  {'':10s} one/3s   {summarise(r['one/3s'])}")
        print(f"  {'':10s} landmarks surviving: {surv_all:.0%} of all, {surv_idx:.0%} of the indexed half")
        calibration[name] = {
            "aligned": [int(x) for x in r["aligned"]],
            "landmarks_surviving": round(surv_idx, 3),
        }
    if args.out:
        args.out.write_text(json.dumps(calibration))
        print(f"calibration written to {args.out}")


if __name__ == "__main__":
    main()
