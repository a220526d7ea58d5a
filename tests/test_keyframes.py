"""Keyframes and the contact sheet, on synthetic lessons encoded with the real ffmpeg and on
PySceneDetect's test clip, through the real decode."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.analysis.analyser import FinishContext, StageOutput
from pipeline.analysis.host import AnalyserHost
from pipeline.contact_sheet import BACKGROUND, format_timestamp, sheet_layout, write_contact_sheet
from pipeline.frames import Frame
from pipeline.keyframes import KeyframeAnalyser, KeyframeParams
from pipeline.limits import MediaLimits
from pipeline.media_pass import iter_frames, process_media
from pipeline.presence import PresenceAnalyser

TESTVIDEO = Path(__file__).resolve().parents[2] / "shared/data/clips/testvideo.mp4"
# PySceneDetect 0.7.2 ContentDetector (defaults) on testvideo.mp4, measured once.
PYSCENEDETECT_CUTS = [1.0, 6.01, 13.15]

W, H = 640, 360
SLIDE_S = 10
ENCODE_FPS = 5
# Slide shown in each 10-s stretch: slide 2 comes back at the end.
SLIDE_ORDER = [0, 1, 2, 3, 4, 5, 2]


def slide(n: int, w: int = W, h: int = H) -> np.ndarray:
    """A distinct lesson slide: title bar, shapes and text lines placed by seed ``n``."""
    rng = np.random.default_rng(100 + n)
    img = np.full((h, w, 3), 245, np.uint8)
    cv2.rectangle(img, (0, 0), (w, h // 7), (120, 60, 20), -1)
    cv2.putText(img, f"Part {n + 1}: topic {rng.integers(1000)}", (15, h // 10), 0, 0.8, (255, 255, 255), 2)
    for _ in range(int(rng.integers(2, 5))):
        color = tuple(int(c) for c in rng.integers(0, 220, 3))
        x, y = int(rng.integers(10, w // 2)), int(rng.integers(h // 5, h * 2 // 3))
        kind = int(rng.integers(3))
        if kind == 0:
            corner = (x + int(rng.integers(40, 180)), y + int(rng.integers(30, 90)))
            cv2.rectangle(img, (x, y), corner, color, -1)
        elif kind == 1:
            cv2.circle(img, (x + 40, y + 40), int(rng.integers(15, 55)), color, -1)
        else:
            cv2.line(img, (x, y), (x + int(rng.integers(50, 200)), y + int(rng.integers(-50, 90))), color, 4)
    for i in range(int(rng.integers(3, 7))):
        words = " ".join("".join(chr(97 + int(k)) for k in rng.integers(0, 26, 5)) for _ in range(4))
        cv2.putText(img, words, (w // 2, h // 5 + i * 36), 0, 0.5, (30, 30, 30), 1)
    return img


def camera(frames: Iterator[np.ndarray], seed: int = 0) -> Iterator[np.ndarray]:
    """Mild camera noise and exposure flicker on each frame."""
    rng = np.random.default_rng(seed)
    noise = [rng.normal(0, 4, (H, W, 3)).astype(np.int16) for _ in range(4)]
    for i, f in enumerate(frames):
        shaken = f.astype(np.int16) + noise[i % 4] + int(rng.integers(-2, 3))
        yield np.clip(shaken, 0, 255).astype(np.uint8)


def encode(path: Path, frames: Iterator[np.ndarray], size: tuple[int, int] = (W, H)) -> Path:
    """H.264 (x264 CRF 26, a phone's compression) of BGR frames at ``ENCODE_FPS``."""
    raw = ["-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{size[0]}x{size[1]}", "-r", str(ENCODE_FPS)]
    argv = ["ffmpeg", "-v", "error", "-y", *raw, "-i", "-"]
    argv += ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "26", "-pix_fmt", "yuv420p", str(path)]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE)
    for f in frames:
        proc.stdin.write(f.tobytes())
    proc.stdin.close()
    assert proc.wait() == 0
    return path


def repeat(images: list[np.ndarray], seconds: float) -> Iterator[np.ndarray]:
    for img in images:
        for _ in range(round(seconds * ENCODE_FPS)):
            yield img


def frames_of(src: Path, workdir: Path) -> list[Frame]:
    workdir.mkdir(parents=True, exist_ok=True)
    return list(iter_frames(src, workdir, MediaLimits()))


def run(
    frames: list[Frame], workdir: Path, params: KeyframeParams | None = None, presence: list | None = None
) -> dict:
    analyser = KeyframeAnalyser(params)
    for f in frames:
        analyser.process(f)
    results = {} if presence is None else {"presence": StageOutput(data={"segments": presence})}
    duration = frames[-1].t + 1.0 if frames else 0.0
    ctx = FinishContext(workdir=workdir, duration_s=duration, audio_path=None, results=results)
    return analyser.finish(ctx).data


def with_presence(keyframes: KeyframeAnalyser) -> AnalyserHost:
    """Keyframes read presence; with no teacher enrolled it finds no stretch (and looks at no face)."""
    return AnalyserHost([PresenceAnalyser(), keyframes])


def times(data: dict) -> list[float]:
    return [k["t"] for k in data["keyframes"]]


def slide_at(t: float) -> int:
    return SLIDE_ORDER[int(t // SLIDE_S)]


@pytest.fixture(scope="module")
def slide_lesson(tmp_path_factory) -> Path:
    """70 s, a new slide every 10 s (the third slide shown again at the end)."""
    path = tmp_path_factory.mktemp("slides") / "slides.mp4"
    return encode(path, camera(repeat([slide(n) for n in SLIDE_ORDER], SLIDE_S)))


@pytest.fixture(scope="module")
def slide_frames(slide_lesson, tmp_path_factory) -> list[Frame]:
    return frames_of(slide_lesson, tmp_path_factory.mktemp("decode"))


# -- slide lesson ---------------------------------------------------------------------------------


def test_slide_lesson_end_to_end_one_keyframe_per_slide(slide_lesson, tmp_path):
    outcome = process_media(slide_lesson, tmp_path, MediaLimits(), with_presence(KeyframeAnalyser()))
    data = outcome.outputs["keyframes"].data
    slides = [slide_at(t) for t in times(data)]
    assert sorted(slides) == sorted(set(SLIDE_ORDER))  # every slide once, the repeated one too
    assert all("scene" in k["tags"] for k in data["keyframes"])
    # the cuts are the slide changes
    expected = [SLIDE_S * i for i in range(1, len(SLIDE_ORDER))]
    assert len(data["cuts"]) == len(expected)
    assert all(abs(c - e) <= 1.0 for c, e in zip(data["cuts"], expected, strict=True))
    for k in data["keyframes"]:
        assert k["uri"].parent.parent == tmp_path and k["uri"].is_file()
        assert (k["width"], k["height"]) == (480, 270)


def test_more_slides_than_cap_gives_cap_distinct_slides(slide_frames, tmp_path):
    data = run(slide_frames, tmp_path, KeyframeParams(cap=4))
    slides = [slide_at(t) for t in times(data)]
    assert len(slides) == 4 and len(set(slides)) == 4


def test_sharpest_frame_of_each_slide_is_kept_not_the_cut_frame(slide_frames, tmp_path):
    data = run(slide_frames, tmp_path)
    for k in data["keyframes"]:
        assert k["t"] == 0 or k["t"] % SLIDE_S != 0  # a cut's first frame is discounted (compression)
        assert k["sharpness"] > 100


# -- coverage ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pan_lesson(tmp_path_factory) -> Path:
    """A 90-s lesson in one shot: the camera pans slowly across a wide board, losing focus
    between 40 s and 50 s."""
    board = np.hstack([slide(20 + n) for n in range(5)])  # 3200 x 360
    xs = np.linspace(0, board.shape[1] - W, 90 * ENCODE_FPS).astype(int)

    def pan() -> Iterator[np.ndarray]:
        for i, x in enumerate(xs):
            view = board[:, x : x + W]
            yield cv2.GaussianBlur(view, (0, 0), 3) if 40 <= i / ENCODE_FPS < 50 else view

    return encode(tmp_path_factory.mktemp("pan") / "pan.mp4", camera(pan(), seed=1))


def test_lesson_without_cuts_gets_sharp_frames_over_its_whole_length(pan_lesson, tmp_path):
    frames = frames_of(pan_lesson, tmp_path / "decode")
    data = run(frames, tmp_path)
    ts = times(data)
    duration = frames[-1].t + 1
    assert data["cuts"] == []
    assert 6 <= len(ts) <= 16
    assert all("coverage" in k["tags"] for k in data["keyframes"])
    gaps = np.diff([0.0, *ts, duration])
    assert gaps.max() <= duration / 4  # spread out: no quarter of the lesson without a keyframe
    assert not [t for t in ts if 40 <= t < 50]  # the out-of-focus stretch


# -- unusable frames -------------------------------------------------------------------------------


def _frames(images: list[np.ndarray]) -> list[Frame]:
    return [Frame(index=i, t=float(i), image=img) for i, img in enumerate(images)]


def test_black_blurred_and_washed_out_frames_are_dropped(tmp_path):
    rng = np.random.default_rng(3)

    def noisy(img: np.ndarray) -> np.ndarray:
        return np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)

    black = np.zeros((H, W, 3), np.uint8)
    washed = (slide(3) * 0.08 + 230).astype(np.uint8)
    blurred = cv2.GaussianBlur(slide(2), (0, 0), 6)  # a whole shot out of focus
    soft = cv2.GaussianBlur(slide(4), (0, 0), 2.5)
    plan: list[tuple[str, np.ndarray]] = (
        [("sharp", slide(1))] * 8
        + [("black", black)] * 4
        + [("blurred", blurred)] * 8
        + [("washed", washed)] * 8
        + [("sharp", slide(4))] * 3
        + [("soft", soft)] * 4  # focus hunting in the middle of a shot
        + [("sharp", slide(4))] * 3
        + [("sharp", slide(5))] * 8
    )
    data = run(_frames([noisy(img) for _, img in plan]), tmp_path)
    kinds = [plan[int(t)][0] for t in times(data)]
    assert kinds == ["sharp"] * 3


def test_all_black_video_has_no_keyframes_and_no_sheet(tmp_path):
    data = run(_frames([np.zeros((90, 160, 3), np.uint8)] * 5), tmp_path)
    assert data["keyframes"] == [] and data["contact_sheet"] is None


def test_no_frames_at_all(tmp_path):
    data = run([], tmp_path)
    assert data == {"keyframes": [], "contact_sheet": None, "cuts": [], "cap": 0}


# -- teacher stretches ------------------------------------------------------------------------------


def test_teacher_stretches_get_a_tagged_frame_within_the_cap(slide_frames, tmp_path):
    # presence's segments end one sample interval after the last confirmed sample
    stretches = [
        {"start": 33.0, "end": 36.0, "distance": 0.45},
        {"start": 52.0, "end": 53.0, "distance": 0.5},
    ]
    data = run(slide_frames, tmp_path, KeyframeParams(cap=3), presence=stretches)
    assert len(data["keyframes"]) == 3
    tagged = [k["t"] for k in data["keyframes"] if "teacher" in k["tags"]]
    assert any(33.0 <= t < 36.0 for t in tagged) and 52.0 in tagged
    assert all(any(s["start"] <= t < s["end"] for s in stretches) for t in tagged)


def test_a_fragmented_teacher_leaves_room_for_the_rest_of_the_lesson(tmp_path):
    """Presence split into many short stretches over one unchanging scene (the teacher at the board
    for the first half) must not fill the cap with copies of it and leave the second half unseen."""
    rng = np.random.default_rng(5)

    def noisy(img: np.ndarray) -> np.ndarray:
        return np.clip(img + rng.normal(0, 2, img.shape), 0, 255).astype(np.uint8)

    images = [noisy(slide(1))] * 60 + [noisy(slide(2 + i // 10)) for i in range(60)]
    presence = [{"start": float(2 * i), "end": float(2 * i + 1), "distance": 0.4} for i in range(30)]
    data = run(_frames(images), tmp_path, KeyframeParams(cap=8), presence=presence)
    teacher = [k for k in data["keyframes"] if "teacher" in k["tags"]]
    assert 1 <= len(teacher) <= 4
    later = [2 + (int(k["t"]) - 60) // 10 for k in data["keyframes"] if k["t"] >= 60]
    assert len(set(later)) >= 4  # the slides of the second half are shown


def test_teacher_frame_replaces_the_same_slide_without_duplicating_it(slide_frames, tmp_path):
    presence = [{"start": 33.0, "end": 36.0, "distance": 0.4}, {"start": 12.0, "end": 12.0, "distance": 0.5}]
    data = run(slide_frames, tmp_path, presence=presence)
    slides = [slide_at(t) for t in times(data)]
    assert sorted(slides) == sorted(set(SLIDE_ORDER))
    teacher = [k["t"] for k in data["keyframes"] if "teacher" in k["tags"]]
    assert len(teacher) == 2 and 12.0 in teacher and any(33.0 <= t < 36.0 for t in teacher)


# -- images and the contact sheet -------------------------------------------------------------------


def _tile_has_content(sheet: np.ndarray, layout, i: int) -> bool:
    x, y = layout.cell_origin(i)
    cell = sheet[y : y + layout.tile_height, x : x + layout.tile_width].astype(int)
    return bool(np.abs(cell - np.array(BACKGROUND)).max() > 40)


def test_contact_sheet_is_a_jpeg_grid_with_one_tile_per_keyframe(slide_frames, tmp_path):
    data = run(slide_frames, tmp_path)
    n = len(data["keyframes"])
    path = data["contact_sheet"]["uri"]
    assert path.read_bytes()[:3] == b"\xff\xd8\xff" and data["contact_sheet"]["tiles"] == n
    sheet = cv2.imread(str(path))
    layout = sheet_layout(n, 16 / 9)
    assert (layout.columns, layout.rows) == (3, 2)
    assert (sheet.shape[1], sheet.shape[0]) == layout.size
    assert [_tile_has_content(sheet, layout, i) for i in range(layout.columns * layout.rows)] == [
        True
    ] * n + [False] * (layout.columns * layout.rows - n)


def test_keyframe_images_match_their_report_and_stay_under_480_px(slide_frames, tmp_path):
    data = run(slide_frames, tmp_path)
    for k in data["keyframes"]:
        img = cv2.imread(str(k["uri"]))
        assert (img.shape[1], img.shape[0]) == (k["width"], k["height"]) and k["width"] <= 480


def test_portrait_phone_video_and_a_resolution_change(tmp_path):
    portrait = [cv2.rotate(slide(n, 1280, 720), cv2.ROTATE_90_CLOCKWISE) for n in range(3)]
    images = [portrait[0]] * 6 + [portrait[1]] * 6 + [cv2.resize(portrait[2], (360, 640))] * 6
    data = run(_frames(images), tmp_path)
    assert len(data["keyframes"]) == 3
    assert all(k["width"] <= 480 and k["height"] <= 480 for k in data["keyframes"])
    assert [(k["width"], k["height"]) for k in data["keyframes"]][:2] == [(270, 480)] * 2
    sheet = cv2.imread(str(data["contact_sheet"]["uri"]))
    assert sheet.shape[1] > sheet.shape[0]  # portrait tiles laid out in a wide row


def test_write_contact_sheet_labels_each_tile(tmp_path):
    images = [np.full((90, 160, 3), 200, np.uint8)] * 2
    layout = write_contact_sheet(images, ["00:05", "1:02:03"], tmp_path / "s.jpg", tile_side=160)
    sheet = cv2.imread(str(tmp_path / "s.jpg"))
    for i in range(2):
        x, y = layout.cell_origin(i)
        corner = sheet[y + layout.tile_height - 20 : y + layout.tile_height, x : x + 60]
        assert corner.min() < 40 and corner.max() > 230  # white text on a black box
    with pytest.raises(ValueError):
        write_contact_sheet([], [], tmp_path / "none.jpg")


def test_format_timestamp():
    assert [format_timestamp(t) for t in (0, 59.9, 61, 3600, 3725.5)] == [
        "00:00",
        "00:59",
        "01:01",
        "1:00:00",
        "1:02:05",
    ]


# -- cap and memory -------------------------------------------------------------------------------


def test_cap_grows_gently_with_duration_up_to_a_hard_max():
    p = KeyframeParams()
    assert [p.cap_for(m * 60) for m in (1, 15, 29, 30, 45, 60, 240)] == [16, 16, 16, 20, 24, 28, 32]
    assert KeyframeParams(cap=40).cap_for(60) == 40
    assert KeyframeParams(cap=8).cap_for(3600) == 20


def test_memory_stays_bounded_on_a_long_busy_stream(tmp_path):
    """An hour at 1 fps with a new picture every second: the held thumbnails stay bounded."""
    params = KeyframeParams(max_segments=24, coverage_slots=8)
    analyser = KeyframeAnalyser(params)
    rng = np.random.default_rng(5)
    held = []
    for i in range(3600):
        img = np.full((36, 64, 3), rng.integers(0, 256, 3), np.uint8)
        img[: 18 + i % 9, : 32 + i % 17] = rng.integers(0, 256, 3)
        analyser.process(Frame(index=i, t=float(i), image=img))
        if i % 300 == 299:
            held.append(analyser.held_frames())
    assert max(held) <= params.max_segments + 2 * params.coverage_slots
    ctx = FinishContext(workdir=tmp_path, duration_s=3600.0, audio_path=None)
    data = analyser.finish(ctx).data
    assert 0 < len(data["keyframes"]) <= params.max_cap


# -- PySceneDetect's test clip --------------------------------------------------------------------


def test_testvideo_cuts_agree_with_pyscenedetect_and_each_shot_gets_one_frame(tmp_path):
    outcome = process_media(TESTVIDEO, tmp_path, MediaLimits(), with_presence(KeyframeAnalyser()))
    data = outcome.outputs["keyframes"].data
    for ref in PYSCENEDETECT_CUTS:
        assert any(abs(c - ref) <= 1.0 for c in data["cuts"]), (ref, data["cuts"])
    shots = [(1.0, 6.0), (7.5, 11.0), (13.5, 18.5), (19.5, 23.0)]  # leaf, deer, rock, grate
    ts = times(data)
    assert len(ts) == len(shots)
    assert all(a <= t <= b for t, (a, b) in zip(ts, shots, strict=True))
