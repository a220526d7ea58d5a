"""Presence verdicts and teacher seconds (and keyframe counts) over every lesson we have, for a
before/after table of a change to decoding or face finding.

Lessons: the synthetic lessons of ``tests/test_presence.py`` and ``bench_presence.py``, the 1080p
wide shots of ``bench_wide_shot.py``, the real Hamilton clip, the real talking-head clips of
``shared/data/faces/real`` (each enrolled from a frame of its own clip; ``d11`` also against another
person) and the 3-minute phone lesson. Each runs through the first screening (``process_media``:
presence and keyframes at the product's 2 fps stream, every 2nd frame sampled) and, where this code
has it, through the re-screening path (``rescreen_media``: only what the sampled analysers need).

    PYTHONPATH=<code> .venv/bin/python benchmarks/bench_verdicts.py --json out.json   # one code state
    .venv/bin/python benchmarks/bench_verdicts.py --compare before.json after.json    # the table

Run the first command with ``PYTHONPATH`` at an export of the old commit (``git archive``) for
"before"; media are rendered once into the system temp directory.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # after PYTHONPATH: the code under test comes first

from benchmarks.phone_lesson import CACHE, enrolment_frame, phone_lesson  # noqa: E402
from pipeline.analysis.host import AnalyserHost  # noqa: E402
from pipeline.enrolment_photo import encode_enrolment_photo  # noqa: E402
from pipeline.keyframes import KeyframeAnalyser  # noqa: E402
from pipeline.limits import MediaLimits  # noqa: E402
from pipeline.media_pass import process_media  # noqa: E402
from pipeline.presence import EnrolledFaces, PresenceAnalyser  # noqa: E402
from tests.synth_lessons import FACES, Appearance, Lesson, render_lesson  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
REAL = DATA / "faces" / "real"
OBAMA_REFS = (FACES / "obama/ref1.jpg", FACES / "obama/ref2.jpg")
OBAMA_1, OBAMA_2 = FACES / "obama/probe1.jpg", FACES / "obama/probe2.jpg"
KIT_REFS = (FACES / "kit_harington/ref1.jpg", FACES / "kit_harington/ref2.jpg")
KIT, ALEX = FACES / "kit_harington/probe1.jpg", FACES / "alex_lacamoire/probe1.jpg"
T = OBAMA_2
SYNTH: dict[str, Lesson] = {
    "teacher_most": Lesson(20, fps=5, appearances=(Appearance(T, 2, 18, x=0.72, face_px=90),)),
    "far_20px_1080p": Lesson(20, 1920, 1080, fps=5, appearances=(Appearance(T, 2, 18, face_px=20),)),
    "wide_54px_1080p": Lesson(20, 1920, 1080, fps=5, appearances=(Appearance(T, 2, 18, face_px=54),)),
    "other_person": Lesson(16, fps=5, appearances=(Appearance(ALEX, 1, 15, x=0.6, face_px=90),)),
    "colleague": Lesson(16, fps=5, appearances=(Appearance(KIT, 1, 15, x=0.6, face_px=90),)),
    "small_40px_720p_wall": Lesson(
        14, 1280, 720, fps=5, background="wall", appearances=(Appearance(OBAMA_1, 1, 13, y=0.5, face_px=40),)
    ),
    "teacher_and_guest": Lesson(
        16,
        fps=5,
        appearances=(
            Appearance(OBAMA_1, 1, 15, x=0.3, face_px=80),
            Appearance(ALEX, 3, 13, x=0.75, face_px=80, phase=2.0),
        ),
    ),
    "photo_on_slide": Lesson(
        16, fps=5, appearances=(Appearance(OBAMA_1, 1, 15, x=0.75, y=0.6, face_px=80, still=True),)
    ),
    "held_photo_64": Lesson(
        16, fps=5, appearances=(Appearance(T, 1, 15, x=0.6, face_px=64, held_photo=True),)
    ),
    "held_photo_110": Lesson(
        16, fps=5, appearances=(Appearance(T, 1, 15, x=0.6, face_px=110, held_photo=True),)
    ),
    "person_beside_photo": Lesson(
        20,
        fps=5,
        appearances=(
            Appearance(T, 1, 19, x=0.3, face_px=100),
            Appearance(OBAMA_1, 2, 18, x=0.75, face_px=100, held_photo=True, phase=1.3),
        ),
    ),
    "brief": Lesson(20, fps=5, appearances=(Appearance(T, 8, 11, x=0.6, face_px=90),)),
    "slides_only": Lesson(20, fps=5),
    "720p_teacher": Lesson(
        60, 1280, 720, fps=5, slide_every_s=10, appearances=(Appearance(T, 4, 56, x=0.62, face_px=110),)
    ),
    "720p_teacher_and_guest": Lesson(
        60,
        1280,
        720,
        fps=5,
        slide_every_s=10,
        appearances=(
            Appearance(T, 4, 56, x=0.62, face_px=110),
            Appearance(ALEX, 15, 45, x=0.25, face_px=90),
        ),
    ),
    "720p_other_person": Lesson(
        60, 1280, 720, fps=5, slide_every_s=10, appearances=(Appearance(KIT, 4, 56),)
    ),
    **{
        f"wide_shot_{px}px_1080p": Lesson(
            30, 1920, 1080, fps=5, appearances=(Appearance(T, 3, 27, face_px=px),)
        )
        for px in (20, 36, 48, 60, 72)
    },
}
COLLEAGUES = {"colleague": {"T-kit": KIT_REFS}}


def _cached_lesson(name: str, lesson: Lesson) -> Path:
    key = hashlib.sha256(repr(lesson).encode()).hexdigest()[:12]
    path = CACHE / f"synth_{name}_{key}.mp4"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        render_lesson(lesson, path.with_suffix(".part.mp4")).rename(path)
    return path


def _frame_of(clip: Path, at_s: float, dst: Path) -> Path:
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-ss",
            str(at_s),
            "-i",
            str(clip),
            "-frames:v",
            "1",
            str(dst),
        ],
        check=True,
    )
    return dst


def cases(work: Path) -> list[tuple[str, Path, tuple[np.ndarray, ...], dict[str, tuple[np.ndarray, ...]]]]:
    """(name, video, teacher encodings, colleagues' encodings) of every lesson."""
    enc = encode_enrolment_photo
    obama = tuple(enc(p) for p in OBAMA_REFS)
    out = []
    for name, lesson in SYNTH.items():
        colleagues = {k: tuple(enc(p) for p in v) for k, v in COLLEAGUES.get(name, {}).items()}
        out.append((name, _cached_lesson(name, lesson), obama, colleagues))
    hamilton = DATA / "clips" / "short_hamilton_clip.mp4"
    out.append(("hamilton_miranda", hamilton, (enc(FACES / "lin_manuel_miranda/ref1.png"),), {}))
    out.append(
        ("hamilton_biden", hamilton, tuple(enc(p) for p in sorted((FACES / "biden").glob("*"))[:2]), {})
    )
    for clip in sorted(REAL.glob("*.mp4")):
        try:
            own = enc(_frame_of(clip, 0.5, work / f"{clip.stem}.png"))
        except Exception as exc:  # noqa: BLE001 - a frame that is no enrolment photo: skip the clip
            print(f"skip {clip.stem}: {exc}", file=sys.stderr)
            continue
        out.append((f"real_{clip.stem}", clip, (own,), {}))
    d10 = enc(_frame_of(REAL / "d10.mp4", 0.5, work / "d10_other.png"))
    out.append(("real_d11_vs_d10", REAL / "d11.mp4", (d10,), {}))
    out.append(("phone_lesson_3min", phone_lesson(), (enc(enrolment_frame(work / "phone.png")),), {}))
    return out


def _host(teacher, colleagues) -> AnalyserHost:
    faces = EnrolledFaces("T", teacher, colleagues)
    return AnalyserHost([PresenceAnalyser(faces), KeyframeAnalyser()], 2)


def _row(outputs: dict) -> dict:
    p = outputs["presence"].data
    return {
        "verdict": p["verdict"],
        "teacher_seconds": p["teacher_seconds"],
        "keyframes": len(outputs["keyframes"].data["keyframes"]),
    }


def measure(out: Path) -> None:
    limits = MediaLimits(analysis_fps=2.0)  # the product's stream: fingerprints 2 fps, faces 1 fps
    try:
        from pipeline.media_pass import rescreen_media
    except ImportError:
        rescreen_media = None
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, video, teacher, colleagues in cases(work):
            job = work / name
            job.mkdir()
            (job / "first").mkdir()
            t0 = time.process_time()
            first = _row(process_media(video, job / "first", limits, _host(teacher, colleagues)).outputs)
            row = {"first": first, "first_cpu": time.process_time() - t0}
            if rescreen_media is not None:
                job2 = job / "rescreen"
                job2.mkdir()
                again = rescreen_media(video, job2, limits, lambda t=teacher, c=colleagues: _host(t, c))
                row["rescreen"] = {**_row(again.outputs), "path": again.path.name}
            results[name] = row
            print(name, json.dumps(row), flush=True)
    out.write_text(json.dumps(results, indent=1))


def _cell(r: dict | None) -> str:
    return "—" if r is None else f"{r['verdict']} {r['teacher_seconds']:g} s"


def compare(before_path: Path, after_path: Path) -> None:
    before, after = json.loads(before_path.read_text()), json.loads(after_path.read_text())
    print(
        "| lesson | before (first screening) | after: first screening | after: re-screening (path) | same |"
    )
    print("|---|---|---|---|---|")
    for name, b in before.items():
        a = after.get(name, {})
        ref = b["first"]
        ok = all(
            r is not None
            and r["verdict"] == ref["verdict"]
            and abs(r["teacher_seconds"] - ref["teacher_seconds"]) <= 2
            for r in (a.get("first"), a.get("rescreen"))
        )
        path = f" ({a['rescreen']['path']})" if "rescreen" in a else ""
        cells = [
            name,
            _cell(ref),
            _cell(a.get("first")),
            _cell(a.get("rescreen")) + path,
            "yes" if ok else "NO",
        ]
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--compare", type=Path, nargs=2)
    args = parser.parse_args()
    if args.compare:
        compare(*args.compare)
    else:
        measure(args.json or Path(tempfile.gettempdir()) / "verdicts.json")


if __name__ == "__main__":
    main()
