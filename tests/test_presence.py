"""Teacher presence: real footage, synthetic lessons through the one decode, and the pure parts."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.analysis.analyser import FinishContext
from pipeline.analysis.host import AnalyserHost
from pipeline.frames import Frame
from pipeline.limits import MediaLimits
from pipeline.media_pass import process_media
from pipeline.presence import EnrolledFaces, PresenceAnalyser, PresencePolicy
from pipeline.presence.candidates import Candidate, CandidatePool
from pipeline.presence.changes import ChangeMap
from pipeline.presence.detection import Box, detect, scan_scale
from pipeline.presence.face_models import face_models
from pipeline.presence.flatness import face_patches, measure_flatness
from pipeline.presence.liveness import Stillness, StillnessMeter
from pipeline.presence.scoring import Gallery, TrackIdentity, identify_track, match_face
from pipeline.presence.small_faces import FrameSample
from pipeline.presence.tracking import Observation, Track
from pipeline.presence.verdict import JudgedTrack, decide
from tests.fixtures.media import DATA
from tests.synth_lessons import FACES, Appearance, Lesson, cutout, render_lesson, speaking_face

HAMILTON = DATA / "clips" / "short_hamilton_clip.mp4"
OBAMA_REFS = (FACES / "obama/ref1.jpg", FACES / "obama/ref2.jpg")  # enrolment...
OBAMA_1, OBAMA_2 = FACES / "obama/probe1.jpg", FACES / "obama/probe2.jpg"  # ...and different photos on video
KIT_REFS = (FACES / "kit_harington/ref1.jpg", FACES / "kit_harington/ref2.jpg")
KIT = FACES / "kit_harington/probe1.jpg"
ALEX = FACES / "alex_lacamoire/probe1.jpg"


@cache
def encoding(photo: Path) -> np.ndarray:
    from pipeline.enrolment_photo import encode_enrolment_photo

    return encode_enrolment_photo(photo)


def analyse(
    video: Path,
    workdir: Path,
    teacher: tuple[Path, ...] = OBAMA_REFS,
    colleagues: dict[str, tuple[Path, ...]] | None = None,
    teacher_id: str | None = "T-obama",
) -> dict:
    """Run the one decode with the presence analyser; return its report section."""
    faces = EnrolledFaces(
        teacher_id,
        tuple(encoding(p) for p in teacher),
        {cid: tuple(encoding(p) for p in photos) for cid, photos in (colleagues or {}).items()},
    )
    analyser = PresenceAnalyser(faces)
    workdir.mkdir(parents=True, exist_ok=True)
    outcome = process_media(video, workdir, MediaLimits(), AnalyserHost([analyser]))
    return outcome.outputs["presence"].data


def assert_teacher_time(report: dict, truth: float) -> None:
    tolerance = max(0.15 * truth, 2.0)
    assert abs(report["teacher_seconds"] - truth) <= tolerance, (report["teacher_seconds"], truth)


def assert_report_shape(report: dict) -> None:
    json.dumps(report, allow_nan=False)  # storable as JSON/JSONB as it is
    for key in ("verdict", "teacher_seconds", "teacher_ratio", "segments", "tracks", "reasons", "thresholds"):
        assert key in report
    assert report["reasons"] and len(report["reasons_zh"]) == len(report["reasons"])
    assert report["thresholds"]["match_threshold"] == 0.5
    assert "dlib" in report["models"]["detector"]
    for seg in report["segments"]:
        assert seg["start"] < seg["end"] and 0 <= seg["distance"] <= report["thresholds"]["match_threshold"]


@pytest.fixture(scope="module")
def lessons(tmp_path_factory: pytest.TempPathFactory):
    """Render a lesson once per module; returns its path."""
    root = tmp_path_factory.mktemp("lessons")
    made: dict[str, Path] = {}

    def make(name: str, lesson: Lesson) -> Path:
        if name not in made:
            made[name] = render_lesson(lesson, root / f"{name}.mp4")
        return made[name]

    return make


TEACHER_MOST = Lesson(20, fps=5, appearances=(Appearance(OBAMA_2, 2, 18, x=0.72, face_px=90),))


# -- real footage --------------------------------------------------------------------------------------


def test_hamilton_with_miranda_enrolled_is_never_invalid(tmp_path):
    report = analyse(HAMILTON, tmp_path, teacher=(FACES / "lin_manuel_miranda/ref1.png",), teacher_id="T-lmm")
    assert report["verdict"] in ("valid", "needs_review")
    assert report["tracks"]["flat_pictures"] == 0  # a real person is never a flat picture
    assert report["teacher_seconds"] >= 2.0
    assert all(s["start"] >= 3.0 and s["end"] <= 10.5 for s in report["segments"])  # the close-ups
    assert_report_shape(report)


def test_hamilton_with_biden_enrolled_is_other_person(tmp_path):
    report = analyse(HAMILTON, tmp_path, teacher=(FACES / "biden/ref1.jpg", FACES / "biden/ref2.jpg"))
    assert report["verdict"] == "invalid_other_person"
    assert report["teacher_seconds"] == 0 and report["segments"] == []
    assert report["tracks"]["other_people"] >= 1


# -- synthetic lessons (different photos for enrolment and video) -------------------------------------


def test_teacher_present_most_of_the_time_is_valid(lessons, tmp_path):
    report = analyse(lessons("teacher_most", TEACHER_MOST), tmp_path)
    assert report["verdict"] == "valid"
    assert_teacher_time(report, TEACHER_MOST.seconds_on_screen(OBAMA_2))
    assert report["teacher_ratio"] == pytest.approx(
        report["teacher_seconds"] / report["duration_s"], abs=1e-3
    )
    assert_report_shape(report)
    assert report["work"]["encodings"] <= 5  # a few faces per track, not one per sample
    assert report["work"]["full"] < report["work"]["samples"]  # no full scan of every sample


def test_a_colleague_enrolled_as_the_same_person_vetoes_the_claim(lessons, tmp_path):
    """Impostor check: when another teacher of the school matches as well, it is not confirmed."""
    report = analyse(lessons("teacher_most", TEACHER_MOST), tmp_path, colleagues={"T-dup": (OBAMA_1,)})
    assert report["verdict"] != "valid"
    assert report["teacher_seconds"] == 0


def test_no_teacher_or_no_enrolment_is_not_checked(lessons, tmp_path):
    video = lessons("teacher_most", TEACHER_MOST)
    for teacher_id, photos in ((None, OBAMA_REFS), ("T-new", ())):
        report = analyse(video, tmp_path / str(teacher_id), teacher=photos, teacher_id=teacher_id)
        assert report["verdict"] == "not_checked"
        assert report["reasons"] and report["tracks"]["total"] == 0
        assert report["work"]["full"] == 0 and report["work"]["encodings"] == 0  # no face work at all


def test_slides_only_has_no_face(lessons, tmp_path):
    report = analyse(lessons("slides", Lesson(14, fps=5, slide_every_s=4)), tmp_path)
    assert report["verdict"] == "invalid_no_face"
    assert report["tracks"]["total"] == 0 and report["teacher_seconds"] == 0
    assert report["work"]["full"] <= 5  # slide changes trigger scans, unchanged samples do not
    small = report["small_faces"]  # the finer last look found nothing either
    assert small["frames"] >= 6 and small["with_faces"] == 0


def test_teacher_too_far_away_to_track_goes_to_review_not_invalid(lessons, tmp_path):
    """A wide shot from the back of a classroom: the teacher's face is 20 px wide, below what the
    tracker looks for (40 px). The finer look over sampled frames sees it, so a person decides
    instead of the video being called faceless."""
    lesson = Lesson(20, width=1920, height=1080, fps=5, appearances=(Appearance(OBAMA_2, 2, 18, face_px=20),))
    report = analyse(lessons("far", lesson), tmp_path)
    assert report["verdict"] == "needs_review"
    assert report["tracks"]["total"] == 0
    small = report["small_faces"]
    assert small["with_faces"] >= 2 and 18 <= small["face_px"] <= 32
    assert any("too small to identify" in r for r in report["reasons"])
    assert len(report["reasons_zh"]) == len(report["reasons"])


def test_teacher_54px_wide_in_a_1080p_wide_shot_is_confirmed(lessons, tmp_path):
    """Analysed at native 1080p, a face 54 px wide is large enough to identify (at 1280 px wide it
    would be 36 px: too small to judge)."""
    lesson = Lesson(20, width=1920, height=1080, fps=5, appearances=(Appearance(OBAMA_2, 2, 18, face_px=54),))
    report = analyse(lessons("wide54", lesson), tmp_path)
    assert report["verdict"] == "valid", report["reasons"]
    assert_teacher_time(report, 16)


def test_frame_sample_stays_bounded_and_spread_over_the_video():
    sample = FrameSample(capacity=8)
    for i in range(1000):
        sample.offer(float(i), np.full((4, 4, 3), i % 256, np.uint8))
    times = [t for t, _ in sample.frames]
    assert 4 <= len(times) <= 8
    assert times[0] == 0 and times[-1] >= 1000 - 1000 / 4  # reaches into the last quarter
    gaps = np.diff(times)
    assert gaps.min() == gaps.max()  # evenly spaced


def test_another_person_is_invalid_other_person(lessons, tmp_path):
    lesson = Lesson(16, fps=5, appearances=(Appearance(ALEX, 1, 15, x=0.6, face_px=90),))
    report = analyse(lessons("alex", lesson), tmp_path)
    assert report["verdict"] == "invalid_other_person"
    assert report["teacher_seconds"] == 0
    assert report["tracks"]["other_people"] >= 1
    assert any("other people" in r for r in report["reasons"])


def test_a_colleague_instead_of_the_claimant_is_named(lessons, tmp_path):
    lesson = Lesson(16, fps=5, appearances=(Appearance(KIT, 1, 15, x=0.6, face_px=90),))
    report = analyse(lessons("kit", lesson), tmp_path, colleagues={"T-kit": KIT_REFS})
    assert report["verdict"] == "invalid_other_person"
    assert report["tracks"]["colleague"] >= 1
    assert any(i["colleague_id"] == "T-kit" for i in report["tracks"]["items"])
    assert any("T-kit" in r for r in report["reasons"])


def test_small_faces_in_a_wide_shot_go_to_review(lessons, tmp_path):
    lesson = Lesson(
        14, 1280, 720, fps=5, background="wall", appearances=(Appearance(OBAMA_1, 1, 13, y=0.5, face_px=40),)
    )
    report = analyse(lessons("wide", lesson), tmp_path)
    assert report["verdict"] == "needs_review"
    assert report["tracks"]["too_small"] >= 1  # found (~40 px) but too small to judge
    assert any("too small" in r for r in report["reasons"])


def test_teacher_with_a_second_person_is_valid(lessons, tmp_path):
    lesson = Lesson(
        16,
        fps=5,
        appearances=(
            Appearance(OBAMA_1, 1, 15, x=0.3, face_px=80),
            Appearance(ALEX, 3, 13, x=0.75, face_px=80, phase=2.0),
        ),
    )
    report = analyse(lessons("two", lesson), tmp_path)
    assert report["verdict"] == "valid"
    assert_teacher_time(report, lesson.seconds_on_screen(OBAMA_1))
    assert report["tracks"]["teacher"] >= 1 and report["tracks"]["other_people"] >= 1


def test_a_photo_of_the_teacher_on_a_slide_is_not_valid(lessons, tmp_path):
    lesson = Lesson(
        16, fps=5, appearances=(Appearance(OBAMA_1, 1, 15, x=0.75, y=0.6, face_px=80, still=True),)
    )
    report = analyse(lessons("photo", lesson), tmp_path)
    assert report["verdict"] == "needs_review"
    assert report["teacher_seconds"] == 0
    assert report["tracks"]["still_pictures"] >= 1
    assert any("still picture" in r for r in report["reasons"])


HELD = Lesson(16, fps=5, appearances=(Appearance(OBAMA_2, 1, 15, x=0.6, face_px=110, held_photo=True),))


@pytest.mark.parametrize("face_px", [64, 110])
def test_a_photo_of_the_teacher_held_up_to_the_camera_is_not_valid(lessons, tmp_path, face_px):
    lesson = Lesson(16, fps=5, appearances=(replace(HELD.appearances[0], face_px=face_px),))
    report = analyse(lessons(f"held{face_px}", lesson), tmp_path)
    assert report["verdict"] == "needs_review", report["reasons"]
    assert report["teacher_seconds"] == 0
    assert report["tracks"]["flat_pictures"] >= 1 and report["tracks"]["still_pictures"] == 0
    (item,) = [i for i in report["tracks"]["items"] if i["flat_picture"]]
    assert item["motion"] > 0.1  # it moved: the stillness check alone would have let it through
    assert any("flat picture" in r for r in report["reasons"])
    assert any("手持照片" in r for r in report["reasons_zh"])


def test_the_teacher_in_person_beside_a_held_up_photo_is_valid(lessons, tmp_path):
    lesson = Lesson(
        20,
        fps=5,
        appearances=(
            Appearance(OBAMA_2, 1, 19, x=0.3, face_px=100),
            Appearance(OBAMA_1, 2, 18, x=0.75, face_px=100, held_photo=True, phase=1.3),
        ),
    )
    report = analyse(lessons("person_and_photo", lesson), tmp_path)
    assert report["verdict"] == "valid"
    live = [i for i in report["tracks"]["items"] if i["label"] == "teacher" and not i["flat_picture"]]
    assert live and all(i["deformation"] > PresencePolicy().flat_max_deformation for i in live)
    assert report["tracks"]["flat_pictures"] >= 1


def test_a_brief_appearance_is_not_enough(lessons, tmp_path):
    lesson = Lesson(20, fps=5, appearances=(Appearance(OBAMA_2, 8, 11, x=0.6, face_px=90),))
    report = analyse(lessons("brief", lesson), tmp_path)
    assert report["verdict"] == "needs_review"
    assert_teacher_time(report, 3.0)
    assert report["segments"] and 6.0 <= report["segments"][0]["start"] <= 9.0


# -- the parts ------------------------------------------------------------------------------------------


def _face_canvas(face_px: int, size: tuple[int, int] = (1280, 720)) -> np.ndarray:
    """A grey canvas with the Obama probe photo pasted so its face is ``face_px`` wide."""
    img = cv2.imread(str(OBAMA_1))
    box = detect(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), 0.5)[0].box
    s = face_px / box.w
    small = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    canvas = np.full((size[1], size[0], 3), 128, np.uint8)
    h, w = min(small.shape[0], size[1]), min(small.shape[1], size[0])
    canvas[:h, :w] = small[:h, :w]
    return canvas


def test_scan_scale_finds_40_px_faces_that_a_plain_scan_misses():
    gray = cv2.cvtColor(_face_canvas(42), cv2.COLOR_BGR2GRAY)
    assert scan_scale(40) == 2.0
    found = detect(gray, scan_scale(40))
    assert len(found) == 1 and 36 <= found[0].box.w <= 50
    assert detect(gray, 1.0) == []


def test_models_load_once_per_process():
    assert face_models() is face_models()
    assert face_models.cache_info().currsize == 1


def test_required_seconds_follow_the_policy():
    p = PresencePolicy()
    assert p.required_seconds(10) == pytest.approx(2.5)  # 25% of a short video
    assert p.required_seconds(20) == pytest.approx(5.0)
    assert p.required_seconds(60) == pytest.approx(6.0)  # 10% of the duration
    assert p.required_seconds(3600) == pytest.approx(360.0)


def _track(
    label: str, start: float, end: float, *, static: bool = False, flat: bool = False, distance: float = 0.4
) -> JudgedTrack:
    ident = TrackIdentity(label, distance, "T-x" if label == "colleague" else None, None, [])
    stillness = Stillness(0.5, 30.0, end - start, 5)
    return JudgedTrack(1, start, end, int(end - start), 80.0, ident, stillness, static, flat=flat)


@pytest.mark.parametrize(
    ("tracks", "verdict"),
    [
        ([], "invalid_no_face"),
        ([_track("teacher", 0, 8)], "valid"),
        ([_track("teacher", 0, 3)], "needs_review"),  # confirmed, but briefly
        ([_track("teacher", 0, 40, static=True)], "needs_review"),  # a still picture only
        ([_track("teacher", 0, 40, static=True), _track("teacher", 10, 30)], "valid"),
        ([_track("teacher", 0, 40, flat=True)], "needs_review"),  # a photo held up only
        ([_track("uncertain", 0, 40, flat=True)], "needs_review"),
        ([_track("teacher", 0, 40, flat=True), _track("teacher", 10, 30)], "valid"),
        ([_track("other", 0, 40)], "invalid_other_person"),
        ([_track("colleague", 0, 40)], "invalid_other_person"),
        ([_track("uncertain", 0, 40), _track("other", 0, 40)], "needs_review"),  # doubt that matters
        ([_track("uncertain", 0, 2), _track("other", 0, 40)], "invalid_other_person"),  # doubt that cannot
        ([_track("too_small", 0, 40)], "needs_review"),
        ([_track("other", 0, 40, static=True)], "invalid_no_face"),  # only pictures of strangers
    ],
)
def test_verdict_rules(tracks, verdict):
    decision = decide(tracks, 40.0, PresencePolicy())
    assert decision.verdict == verdict
    assert decision.reasons and len(decision.reasons) == len(decision.reasons_zh)


def test_teacher_time_is_judged_per_track_and_merged():
    tracks = [_track("teacher", 0, 10, distance=0.45), _track("teacher", 8, 14, distance=0.3)]
    decision = decide(tracks, 40.0, PresencePolicy())
    assert decision.teacher_seconds == 14.0
    assert decision.segments == [{"start": 0, "end": 14, "distance": 0.3}]


def test_impostor_margin_vetoes_an_equal_colleague():
    rng = np.random.default_rng(1)
    face = rng.normal(size=128) * 0.05
    teacher, colleague = face + 0.02, face - 0.021
    policy = PresencePolicy()
    alone = match_face(Gallery.build([teacher], {}), 0.0, face, policy)
    assert alone.label == "teacher"
    vetoed = match_face(Gallery.build([teacher], {"T-c": [colleague]}), 0.0, face, policy)
    assert vetoed.label == "colleague" and vetoed.colleague_id == "T-c"


def test_a_stranger_far_from_teacher_and_colleagues_is_other():
    image = _face_canvas(120, (640, 360))
    box = detect(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), 1.0)[0].box
    track = Track(1)
    for t in range(3):
        track.observations.append(Observation(float(t), box, 1.0))
        track.pool.add(float(t), 1.0 + t, image, box)
    # The colleague is nearer than the teacher, but both are far: no veto, just someone else.
    gallery = Gallery.build([encoding(FACES / "rose_leslie/ref1.jpg")], {"T-kit": [encoding(KIT_REFS[0])]})
    ident = identify_track(track, gallery, PresencePolicy())
    assert ident.colleague_distance is not None and ident.distance is not None
    assert 0.6 < ident.colleague_distance < ident.distance
    assert ident.identity == "other"
    assert 1 <= len(ident.matches) <= 3 and track.pool.best_first() == []  # crops dropped once judged


def test_candidate_pool_stays_bounded_and_spread_over_time():
    pool = CandidatePool(capacity=4, bucket_s=1.0)
    frame = _face_canvas(100, (320, 240))
    for t in range(100):
        pool.add(float(t), quality=1.0 + (t % 7) / 10, frame=frame, box=Box(40, 40, 140, 140))
    kept = pool.best_first()
    assert len(kept) <= 4
    assert max(c.t for c in kept) - min(c.t for c in kept) >= 50  # from across the whole track
    assert all(c.crop.shape[1] <= 200 for c in kept)


def test_change_map_finds_changed_regions_and_cuts():
    base = np.full((360, 640), 120, np.uint8)
    changes = ChangeMap()
    assert changes.update(base) is True  # the first sample starts a shot
    changes.mark_scanned()
    assert changes.update(base.copy()) is False
    assert changes.changed_regions(exclude=[], margin_px=10) == []
    moved = base.copy()
    moved[100:160, 400:460] = 250
    assert changes.update(moved) is False
    (region,) = changes.changed_regions(exclude=[], margin_px=10)
    assert region.x0 <= 400 and region.x1 >= 460 and region.y0 <= 100 and region.y1 >= 160
    assert changes.changed_regions(exclude=[Box(380, 80, 480, 180)], margin_px=10) == []
    blocks = (np.indices((360, 640)) // 64).sum(axis=0) % 2 * 255
    assert changes.update(blocks.astype(np.uint8)) is True  # a different picture: a hard cut


def test_stillness_tells_a_picture_from_a_moving_face():
    gray = cv2.cvtColor(_face_canvas(100, (400, 300)), cv2.COLOR_BGR2GRAY)
    box = detect(gray, 1.0)[0].box
    still, moving = StillnessMeter(), StillnessMeter()
    for t in range(6):
        noisy = np.clip(gray.astype(int) + np.random.default_rng(t).integers(-2, 3, gray.shape), 0, 255)
        still.add(float(t), noisy.astype(np.uint8), box)
        shifted = np.roll(gray, 3 * t, axis=1)
        moving.add(float(t), shifted, Box(box.x0 + 3 * t, box.y0, box.x1 + 3 * t, box.y1))
    p = PresencePolicy()
    args = (p.static_max_change, p.static_min_seconds, p.static_min_samples)
    assert still.result().is_static(*args)
    assert not moving.result().is_static(*args)


def test_flatness_tells_a_held_up_photo_from_a_speaking_face():
    """The same face seen through eight different homographies is one flat image; the same face
    speaking (jaw, lips, brows and nose moving against the cheeks) is not."""
    crop, _, _ = cutout(OBAMA_2)
    h, w = crop.shape[:2]
    rng = np.random.default_rng(3)

    def candidate(t: float, image: np.ndarray) -> Candidate:
        box = max(detect(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), 1.0), key=lambda d: d.box.w).box
        return Candidate(t, 1.0, box.w, image, box)

    held, speaking = [], []
    for i in range(8):
        corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        moved = (corners + rng.uniform(-0.04, 0.04, (4, 2)) * [w, h]).astype(np.float32)
        warped = cv2.warpPerspective(crop, cv2.getPerspectiveTransform(corners, moved), (w, h))
        noisy = np.clip(warped.astype(int) + rng.integers(-3, 4, warped.shape), 0, 255).astype(np.uint8)
        held.append(candidate(float(i), noisy))
        speaking.append(candidate(float(i), speaking_face(OBAMA_2, 0.37 * i, 0.0)))
    p = PresencePolicy()
    args = (p.flat_max_deformation, p.flat_min_pairs, p.flat_min_seconds)
    photo, person = measure_flatness(face_patches(held)), measure_flatness(face_patches(speaking))
    assert photo.pairs == person.pairs == 13 and photo.span_s == 7.0
    assert photo.is_flat(*args), photo
    assert not person.is_flat(*args), person
    assert person.deformation > 2 * photo.deformation
    assert not measure_flatness(face_patches(held[:3])).is_flat(*args)  # too few faces to judge


def test_analyser_works_on_frames_without_a_decode():
    """The analyser is pure: frames in, report out (here: a still canvas with one face)."""
    analyser = PresenceAnalyser(EnrolledFaces("T-obama", tuple(encoding(p) for p in OBAMA_REFS)))
    image = _face_canvas(120, (640, 360))
    for i in range(8):
        analyser.process(Frame(i, float(i), image))
    report = analyser.finish(FinishContext(Path("."), 8.0, None)).data
    assert report["tracks"]["total"] == 1
    assert report["tracks"]["still_pictures"] == 1  # identical frames: a picture, not a person
    assert report["verdict"] == "needs_review"
    assert report["work"]["carried"] >= 5  # unchanged samples cost no detection


def test_analyser_copes_with_tiny_and_portrait_frames():
    analyser = PresenceAnalyser(EnrolledFaces("T-obama", tuple(encoding(p) for p in OBAMA_REFS)))
    rng = np.random.default_rng(3)
    for i in range(3):
        analyser.process(Frame(i, float(i), rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)))
    portrait = np.full((1280, 720, 3), 128, np.uint8)  # a phone held upright
    portrait[100:400, 100:500] = _face_canvas(150, (400, 300))
    for i in range(3, 7):
        analyser.process(Frame(i, float(i), portrait))
    report = analyser.finish(FinishContext(Path("."), 7.0, None)).data
    assert report["tracks"]["total"] == 1 and report["tracks"]["items"][0]["start"] == 3.0
    json.dumps(report, allow_nan=False)
