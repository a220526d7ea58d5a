"""Re-screening: the decode path taken for the sampled analysers (keyframes, reference frames,
reduced size), the same verdicts as a full decode, and the guided face search on a real wide shot."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.analysis.analyser import Analyser, FrameFeed
from pipeline.analysis.host import AnalyserHost
from pipeline.decode_path import FULL, choose_decode_path, lowres_factor, max_keyframe_gap
from pipeline.keyframes import KeyframeAnalyser
from pipeline.limits import MediaLimits
from pipeline.media_pass import process_media, rescreen_media
from pipeline.presence import EnrolledFaces, PresenceAnalyser
from pipeline.validate import validate
from tests.fixtures.media import DATA, ffmpeg, make_video
from tests.synth_lessons import FACES, Appearance, Lesson, render_lesson

LIMITS = MediaLimits(analysis_fps=2.0)  # the product's stream: faces and keyframes every 2nd frame
OBAMA_REFS = (FACES / "obama/ref1.jpg", FACES / "obama/ref2.jpg")
REAL_CLIP = DATA / "faces" / "real" / "d10.mp4"


def _encodings(*photos: Path) -> tuple:
    from pipeline.enrolment_photo import encode_enrolment_photo

    return tuple(encode_enrolment_photo(p) for p in photos)


def _host(faces: EnrolledFaces | None = None) -> AnalyserHost:
    return AnalyserHost([PresenceAnalyser(faces), KeyframeAnalyser()], sampled_stride=2)


def _reencode(src: Path, dst: Path, *args: str) -> Path:
    ffmpeg("-i", str(src), "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", *args, str(dst))
    return dst


# -- choosing the path ---------------------------------------------------------------------------------


def test_keyframe_gaps_count_both_ends():
    assert max_keyframe_gap([0.0, 1.0, 2.0], 0.0, 3.0) == pytest.approx(1.0)
    assert max_keyframe_gap([0.0, 1.0], 0.0, 3.5) == pytest.approx(2.5)  # no keyframe near the end
    assert max_keyframe_gap([], 0.0, 3.0) == float("inf")


def test_path_follows_gop_density_and_what_the_analysers_read(tmp_path):
    info = validate(make_video(tmp_path / "a.mp4", seconds=3), tmp_path, LIMITS)
    dense = choose_decode_path(info, 1.0, 320, [0.0, 1.0, 2.0], every_frame=False)
    assert dense.skip_frame == "nokey" and dense.name == "keyframes"
    assert choose_decode_path(info, 1.0, 320, [0.0, 2.5], every_frame=False).skip_frame == "noref"
    # 25 fps: skipping two frames shifts a 2 fps sample by 0.16 of its period, too much
    assert choose_decode_path(info, 2.0, 320, [0.0, 1.0, 2.0], every_frame=False).skip_frame == "default"
    assert choose_decode_path(info, 1.0, 320, [0.0, 1.0, 2.0], every_frame=True) == FULL  # fingerprints


def test_only_codecs_that_can_decode_small_do_so(tmp_path):
    mpeg4 = validate(make_video(tmp_path / "m.avi", width=640, height=480, vcodec="mpeg4"), tmp_path, LIMITS)
    h264 = validate(make_video(tmp_path / "h.mp4", width=640, height=480), tmp_path, LIMITS)
    assert (
        lowres_factor(mpeg4, 320) == 1 and lowres_factor(mpeg4, 160) == 2 and lowres_factor(mpeg4, 640) == 0
    )
    assert lowres_factor(h264, 160) == 0


def test_a_host_with_an_every_frame_analyser_decodes_everything():
    class EveryFrame(Analyser):
        stage, version, feed = "every", "1", FrameFeed.EVERY

    assert AnalyserHost([PresenceAnalyser(), EveryFrame()], 2).decimation == 1
    assert AnalyserHost([PresenceAnalyser(), KeyframeAnalyser()], 2).decimation == 2


# -- the decode, for real ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lesson_1s_gop(tmp_path_factory) -> Path:
    """A teacher lesson (5 fps) re-encoded with a keyframe every second, as phones record."""
    root = tmp_path_factory.mktemp("gop")
    lesson = Lesson(
        20, fps=5, appearances=(Appearance(FACES / "obama/probe2.jpg", 2, 18, x=0.7, face_px=90),)
    )
    made = render_lesson(lesson, root / "lesson.mp4")
    return _reencode(made, root / "gop1.mp4", "-g", "5", "-keyint_min", "5", "-sc_threshold", "0")


def test_a_1s_gop_lesson_decodes_keyframes_only_with_the_same_verdicts(lesson_1s_gop, tmp_path):
    faces = EnrolledFaces("T", _encodings(*OBAMA_REFS))
    (tmp_path / "first").mkdir()
    first = process_media(lesson_1s_gop, tmp_path / "first", LIMITS, _host(faces)).outputs
    (tmp_path / "again").mkdir()
    again = rescreen_media(lesson_1s_gop, tmp_path / "again", LIMITS, lambda: _host(faces))
    assert again.path.name == "keyframes"
    assert again.frames_decoded == 20  # one picture a second, of 100
    assert again.frames_seen == 20  # the 1 fps samples only (not the 2 fps stream)
    p1, p2 = first["presence"].data, again.outputs["presence"].data
    assert p1["verdict"] == p2["verdict"] == "valid"
    assert abs(p1["teacher_seconds"] - p2["teacher_seconds"]) <= 2
    k1, k2 = first["keyframes"].data, again.outputs["keyframes"].data
    assert [k["t"] for k in k1["keyframes"]] == [k["t"] for k in k2["keyframes"]]


def test_a_sparse_gop_with_b_frames_skips_non_reference_frames(tmp_path):
    src = make_video(tmp_path / "src.mp4", seconds=6, fps=25, acodec=None)
    video = _reencode(src, tmp_path / "sparse.mp4", "-g", "250", "-bf", "2", "-b-pyramid", "none")
    again = rescreen_media(video, tmp_path, LIMITS, _host)
    assert again.path.name == "noref"
    assert 0 < again.frames_decoded < 150 * 0.6  # the B-frames (2 of every 3) were not decoded
    assert again.frames_seen == 6


def test_a_codec_that_decodes_small_does_so_when_the_frames_are_smaller(tmp_path):
    video = make_video(tmp_path / "m.avi", seconds=3, width=640, height=480, vcodec="mpeg4", acodec=None)
    limits = MediaLimits(analysis_fps=2.0, analysis_max_side=320)
    seen = []

    class Sizes(KeyframeAnalyser):
        def process(self, frame) -> None:
            seen.append(frame.image.shape)
            super().process(frame)

    again = rescreen_media(video, tmp_path, limits, lambda: AnalyserHost([PresenceAnalyser(), Sizes()], 2))
    assert again.path.lowres == 1
    assert set(seen) == {(240, 320, 3)}


# -- guided face search --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_wide_shot(tmp_path_factory) -> Path:
    """A real talking head (``d10``) far away in a 1080p room, its face about 73 px wide, beside a
    large still face (a frame of another clip as the wall: a poster)."""
    root = tmp_path_factory.mktemp("wide")
    room = root / "room.png"
    ffmpeg(
        "-ss",
        "3",
        "-i",
        str(DATA / "faces" / "real" / "s18.mp4"),
        "-frames:v",
        "1",
        "-vf",
        "hflip",
        str(room),
    )
    graph = (
        "[0:v]scale=1920:1080,setsar=1[bg];[1:v]scale=144:144,fps=10[p];"
        "[bg][p]overlay=x=1300:y=420:shortest=1,format=yuv420p[v]"
    )
    out = root / "wide.mp4"
    ffmpeg(
        *("-loop", "1", "-r", "10", "-i", str(room), "-ss", "2", "-t", "12", "-i", str(REAL_CLIP)),
        *("-filter_complex", graph, "-map", "[v]", "-c:v", "libx264", "-preset", "veryfast"),
        *("-g", "10", "-threads", "1", str(out)),
    )
    return out


def test_guided_search_finds_a_far_away_real_teacher(real_wide_shot, tmp_path):
    enrol = tmp_path / "enrol.png"
    ffmpeg("-ss", "0.5", "-i", str(REAL_CLIP), "-frames:v", "1", str(enrol))
    faces = EnrolledFaces("T", _encodings(enrol))
    again = rescreen_media(real_wide_shot, tmp_path, LIMITS, lambda: _host(faces))
    report = again.outputs["presence"].data
    assert report["verdict"] == "valid", report["reasons"]
    assert report["teacher_seconds"] >= 10  # of 12
    (track,) = [t for t in report["tracks"]["items"] if t["label"] == "teacher"]
    assert 48 <= track["face_px"] <= 90  # far too small for the coarse full scans (~160 px and up)...
    assert report["work"]["regions"] >= 1  # ...found by a fine search where the picture changed
