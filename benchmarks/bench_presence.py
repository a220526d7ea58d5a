"""Presence: CPU seconds per video-minute of the presence stage against a naive loop.

Both see the same 1 fps frames of the one decode (decoded once, up front, not timed) and find the
same ~40 px faces: the naive loop runs face_recognition's HOG with one upsample on every sampled
frame and encodes every face it finds; ours tracks faces (full scans now and then, scans of changed
regions, re-detection around live tracks) and encodes a few faces per track. Both verdicts come from
the same policy; the naive loop judges each face alone (no tracks, so no still-picture check).

Videos: synthetic 720p lessons rendered from the shared photos (enrolment photos differ from those
on video) and the real Hamilton clip. Aim: <= 4 CPU-s per video-minute at 720p, >= 5x the naive loop.
Run: ``.venv/bin/python benchmarks/bench_presence.py`` (about two minutes on one core).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import cv2
import face_recognition

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.analysis.analyser import FinishContext  # noqa: E402
from pipeline.enrolment_photo import encode_enrolment_photo  # noqa: E402
from pipeline.frames import Frame  # noqa: E402
from pipeline.limits import MediaLimits  # noqa: E402
from pipeline.media_pass import iter_frames  # noqa: E402
from pipeline.presence import EnrolledFaces, PresenceAnalyser, PresencePolicy  # noqa: E402
from pipeline.presence.liveness import Stillness  # noqa: E402
from pipeline.presence.scoring import Gallery, TrackIdentity, match_face  # noqa: E402
from pipeline.presence.verdict import JudgedTrack, decide  # noqa: E402
from tests.synth_lessons import FACES, Appearance, Lesson, render_lesson  # noqa: E402

HAMILTON = Path(__file__).resolve().parents[2] / "shared" / "data" / "clips" / "short_hamilton_clip.mp4"
OBAMA_REFS = [FACES / "obama/ref1.jpg", FACES / "obama/ref2.jpg"]
LMM_REF = [FACES / "lin_manuel_miranda/ref1.png"]
TEACHER = Appearance(FACES / "obama/probe2.jpg", 4, 56, x=0.62, face_px=110)
LESSONS = {
    "lesson_720p_teacher": Lesson(60, 1280, 720, fps=5, slide_every_s=10, appearances=(TEACHER,)),
    "lesson_720p_teacher_and_guest": Lesson(
        60,
        1280,
        720,
        fps=5,
        slide_every_s=10,
        appearances=(TEACHER, Appearance(FACES / "alex_lacamoire/probe1.jpg", 15, 45, x=0.25, face_px=90)),
    ),
    "lesson_720p_other_person": Lesson(
        60,
        1280,
        720,
        fps=5,
        slide_every_s=10,
        appearances=(Appearance(FACES / "kit_harington/probe1.jpg", 4, 56),),
    ),
}


def ours(frames: list[Frame], duration: float, teacher: list, workdir: Path) -> tuple[dict, float]:
    analyser = PresenceAnalyser(EnrolledFaces("T", tuple(teacher)))
    t0 = time.process_time()
    for frame in frames:
        analyser.process(frame)
    data = analyser.finish(FinishContext(workdir=workdir, duration_s=duration, audio_path=None)).data
    return data, time.process_time() - t0


def naive(frames: list[Frame], duration: float, teacher: list) -> tuple[dict, float]:
    """Detect (one upsample, the same ~40 px reach) and encode every face of every sampled frame;
    each face is judged alone, as a one-sample track, by the same policy."""
    policy, gallery = PresencePolicy(), Gallery.build(teacher, {})
    interval = frames[1].t - frames[0].t if len(frames) > 1 else 1.0
    tracks: list[JudgedTrack] = []
    t0 = time.process_time()
    for frame in frames:
        rgb = cv2.cvtColor(frame.image, cv2.COLOR_BGR2RGB)
        locations = face_recognition.face_locations(rgb, number_of_times_to_upsample=1)
        for (_, right, _, left), enc in zip(
            locations, face_recognition.face_encodings(rgb, locations), strict=True
        ):
            m = match_face(gallery, frame.t, enc, policy)
            label = "too_small" if right - left < policy.min_judge_px else m.label
            ident = TrackIdentity(label, m.teacher, m.colleague_id, m.colleague, [m])
            still = Stillness(0.0, 0.0, 0.0, 1)
            tracks.append(
                JudgedTrack(len(tracks), frame.t, frame.t + interval, 1, right - left, ident, still, False)
            )
    decision = decide(tracks, duration, policy)
    spent = time.process_time() - t0
    return {"verdict": decision.verdict, "teacher_seconds": decision.teacher_seconds}, spent


def main() -> None:
    teacher_obama = [encode_enrolment_photo(p) for p in OBAMA_REFS]  # also loads the models (untimed)
    teacher_lmm = [encode_enrolment_photo(p) for p in LMM_REF]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        videos = [(HAMILTON, teacher_lmm, "hamilton_360p (Miranda enrolled)")]
        for name, lesson in LESSONS.items():
            videos.append((render_lesson(lesson, root / f"{name}.mp4"), teacher_obama, name))
        print(
            f"{'video':36s} {'min':>5s} {'ours cpu/min':>12s} {'naive cpu/min':>13s} {'ratio':>6s}  verdicts"
        )
        totals = [0.0, 0.0, 0.0]
        for path, teacher, label in videos:
            frames = list(iter_frames(path, root, MediaLimits()))
            duration = frames[-1].t + 1.0 / MediaLimits().analysis_fps
            minutes = duration / 60
            mine, cpu_ours = ours(frames, duration, teacher, root)
            theirs, cpu_naive = naive(frames, duration, teacher)
            same = "same" if mine["verdict"] == theirs["verdict"] else "DIFFERENT"
            print(
                f"{label:36s} {minutes:5.2f} {cpu_ours / minutes:12.2f} {cpu_naive / minutes:13.2f} "
                f"{cpu_naive / cpu_ours:5.1f}x  ours {mine['verdict']} ({mine['teacher_seconds']:.0f} s), "
                f"naive {theirs['verdict']} ({theirs['teacher_seconds']:.0f} s): {same}"
            )
            print(f"{'':36s} work: {mine['work']}")
            if frames[0].image.shape[0] >= 720:
                totals = [totals[0] + minutes, totals[1] + cpu_ours, totals[2] + cpu_naive]
        print(
            f"720p overall: ours {totals[1] / totals[0]:.2f} CPU-s per video-minute (aim <= 4), "
            f"naive {totals[2] / totals[0]:.2f}, ratio {totals[2] / totals[1]:.1f}x (aim >= 5x)"
        )


if __name__ == "__main__":
    main()
