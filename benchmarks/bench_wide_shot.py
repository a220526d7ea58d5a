"""Presence on a 1080p wide classroom shot: the analysed frame size against what it can identify.

Synthetic 30 s 1080p lessons put the teacher's face at a range of widths (in 1080p pixels). Each is
analysed from frames at 1280 px wide (the old default) and at native 1920 px (the default): the
verdict, the teacher seconds, and presence CPU-s per video-minute, as a ratio 1920 / 1280 in the
same run. Frames are decoded once up front per size (not timed), as in ``bench_presence.py``.

Run: ``.venv/bin/python benchmarks/bench_wide_shot.py`` (about two minutes).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_presence import ours  # noqa: E402
from pipeline.enrolment_photo import encode_enrolment_photo  # noqa: E402
from pipeline.limits import MediaLimits  # noqa: E402
from pipeline.media_pass import iter_frames  # noqa: E402
from tests.synth_lessons import FACES, Appearance, Lesson, render_lesson  # noqa: E402

SECONDS = 30
FACE_WIDTHS = (20, 36, 48, 60, 72)
SIDES = (1280, 1920)
REFS = [FACES / "obama/ref1.jpg", FACES / "obama/ref2.jpg"]
ON_VIDEO = FACES / "obama/probe2.jpg"


def main() -> None:
    refs = [encode_enrolment_photo(p) for p in REFS]
    root = Path(tempfile.mkdtemp(prefix="bench_wide_"))
    print(
        f"{'face px (1080p)':>16}"
        + "".join(f"{f'{s} verdict':>24}{'cpu s/min':>10}" for s in SIDES)
        + f"{'ratio':>7}"
    )
    for px in FACE_WIDTHS:
        lesson = Lesson(
            SECONDS, width=1920, height=1080, fps=5, appearances=(Appearance(ON_VIDEO, 3, 27, face_px=px),)
        )
        video = render_lesson(lesson, root / f"wide_{px}.mp4")
        cells, costs = [], []
        for side in SIDES:
            job = root / f"job_{px}_{side}"
            job.mkdir()
            frames = list(iter_frames(video, job, MediaLimits(analysis_max_side=side)))
            data, cpu = ours(frames, SECONDS, refs, job)
            per_min = cpu / (SECONDS / 60)
            costs.append(per_min)
            cells.append(
                f"{data['verdict'] + ' ' + format(data['teacher_seconds'], 'g') + ' s':>24}{per_min:>10.2f}"
            )
        print(f"{px:>16}" + "".join(cells) + f"{costs[1] / costs[0]:>7.2f}")


if __name__ == "__main__":
    main()
