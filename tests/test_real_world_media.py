"""Messy but honest uploads (phones, screen recorders, camcorders, browsers) are accepted and processed
correctly: glitches players conceal, timestamps a remux cannot keep, late-starting video, and the
zoo of codecs, containers, orientations and audio layouts teachers really upload."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.analysis.analyser import Analyser, FinishContext, StageOutput
from pipeline.analysis.host import AnalyserHost
from pipeline.errors import MediaError
from pipeline.frames import Frame
from pipeline.limits import MediaLimits
from pipeline.media_pass import STAGE_VERSIONS, process_media
from tests.fixtures.media import CLIPS, ffmpeg, make_video

TS_PACKET = 188


def ffprobe_json(path: Path, *args: str) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", *args, str(path)], capture_output=True, check=True
    ).stdout
    return json.loads(out)


class Recorder(Analyser):
    """An analyser that keeps every frame it is given."""

    stage, version = "recorder", "1"

    def __init__(self) -> None:
        self.frames: list[Frame] = []

    def process(self, frame: Frame) -> None:
        self.frames.append(frame)

    def finish(self, ctx: FinishContext) -> StageOutput:
        return StageOutput({})


def run(src: Path, job_dir: Path, limits: MediaLimits):
    recorder = Recorder()
    out = process_media(src, job_dir, limits, AnalyserHost([recorder]))
    return out, recorder.frames


def displayed_size(video: dict) -> tuple[int, int]:
    rotation = 0
    for sd in video.get("side_data_list") or []:
        rotation = int(sd.get("rotation", rotation))
    w, h = video["width"], video["height"]
    return (h, w) if rotation % 180 else (w, h)


def assert_playable(out, frames: list[Frame], *, video_s: float, audio_s: float | None) -> None:
    """The rendition is H.264 + AAC (or silent), upright at the planned size, as long as the source;
    one frame per second of video; 8 kHz PCM as long as the audio."""
    info = ffprobe_json(out.rendition.path, "-show_streams", "-show_format")
    kinds = {s["codec_type"]: s for s in info["streams"]}
    assert kinds["video"]["codec_name"] == "h264"
    assert kinds["video"]["pix_fmt"] == "yuv420p"
    assert displayed_size(kinds["video"]) == (out.rendition.width, out.rendition.height)
    assert float(info["format"]["duration"]) == pytest.approx(out.media["duration_s"], abs=0.3)
    assert len(frames) == pytest.approx(video_s, abs=1.01)
    times = [f.t for f in frames]
    assert times == sorted(set(times))  # each sample once, in order
    if audio_s is None:
        assert "audio" not in kinds and out.audio_path is None
    else:
        assert kinds["audio"]["codec_name"] == "aac"
        assert int(kinds["audio"]["channels"]) in (1, 2)
        pcm = np.frombuffer(out.audio_path.read_bytes(), dtype="<i2")
        assert len(pcm) / 8000 == pytest.approx(audio_s, abs=0.2)
    assert out.media["warnings"] == []


# --- item 1: glitches players conceal are tolerated, real damage is not --------------------------------


def _drop_ts_packets(src: Path, dst: Path, places: list[float], count: int) -> Path:
    data = src.read_bytes()
    n = len(data) // TS_PACKET
    starts = sorted(int(n * p) for p in places)
    keep, prev = [], 0
    for s in starts:
        keep.append(data[prev * TS_PACKET : s * TS_PACKET])
        prev = s + count
    keep.append(data[prev * TS_PACKET :])
    dst.write_bytes(b"".join(keep))
    return dst


@pytest.fixture(scope="module")
def camcorder_ts(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ts")
    return make_video(root / "camcorder.ts", seconds=8, width=320, height=240, extra=("-g", "50"))


def test_transport_stream_with_a_few_lost_packets_is_accepted_with_a_warning(
    camcorder_ts, tmp_path, job_dir, small_limits
):
    src = _drop_ts_packets(camcorder_ts, tmp_path / "lossy.ts", [0.5], 3)
    out, frames = run(src, job_dir, small_limits)
    assert len(frames) == pytest.approx(8, abs=1)
    assert any("damaged" in w and "video" in w for w in out.media["warnings"])
    assert out.rendition.path.stat().st_size > 10_000


def test_transport_stream_with_heavy_loss_is_corrupt(camcorder_ts, tmp_path, job_dir, small_limits):
    src = _drop_ts_packets(camcorder_ts, tmp_path / "wrecked.ts", [i / 12 for i in range(1, 12)], 30)
    with pytest.raises(MediaError) as err:
        process_media(src, job_dir, small_limits)
    assert err.value.code == "corrupt" and "damaged" in err.value.detail
    assert list(job_dir.iterdir()) == []


def test_mp4_with_a_few_damaged_packets_is_accepted_with_a_warning(tmp_path, job_dir, small_limits):
    src = make_video(tmp_path / "phone.mp4", seconds=6, faststart=True)
    data = bytearray(src.read_bytes())
    rng = random.Random(1)
    for frac in (0.4, 0.6):
        at = int(len(data) * frac)
        data[at : at + 200] = rng.randbytes(200)
    damaged = tmp_path / "glitch.mp4"
    damaged.write_bytes(bytes(data))
    out, frames = run(damaged, job_dir, small_limits)
    assert len(frames) == pytest.approx(6, abs=1)
    assert out.media["warnings"] and all("concealed" in w for w in out.media["warnings"])


def test_stream_cut_mid_gop_is_accepted(camcorder_ts, tmp_path, job_dir, small_limits):
    """A recording that starts without its keyframe (open GOP, a TS cut anywhere): the undecodable
    leading pictures are skipped, not treated as corruption."""
    data = camcorder_ts.read_bytes()
    start = (len(data) // TS_PACKET * 3 // 10) * TS_PACKET
    src = tmp_path / "cut.ts"
    src.write_bytes(data[start:])
    out, frames = run(src, job_dir, small_limits)
    assert out.rendition.mode == "remux"
    # sampling starts at the first keyframe (at most one 2 s GOP in), then runs to the end
    assert out.media["duration_s"] - 3 <= len(frames) <= out.media["duration_s"] + 1
    assert out.media["warnings"] == []


# --- item 2: a remux the mp4 muxer cannot take falls back to a transcode ---------------------------------


def _flv_video_tags_back_in_time(src: Path, dst: Path, first: int, count: int, back_ms: int) -> Path:
    """Move ``count`` video tags of an FLV ``back_ms`` back in time: non-monotonic DTS."""
    data = bytearray(src.read_bytes())
    pos, video = 13, 0
    while pos + 11 <= len(data):
        size = int.from_bytes(data[pos + 1 : pos + 4], "big")
        if data[pos] == 9:
            if first <= video < first + count:
                ts = int.from_bytes(data[pos + 4 : pos + 7], "big") | data[pos + 7] << 24
                ts = max(0, ts - back_ms)
                data[pos + 4 : pos + 7] = (ts & 0xFFFFFF).to_bytes(3, "big")
                data[pos + 7] = ts >> 24
            video += 1
        pos += 11 + size + 4
    dst.write_bytes(bytes(data))
    return dst


def test_non_monotonic_timestamps_fall_back_from_remux_to_transcode(tmp_path, job_dir, small_limits):
    clean = make_video(tmp_path / "live.flv", seconds=5)
    src = _flv_video_tags_back_in_time(clean, tmp_path / "jumpy.flv", 50, 3, 1000)
    out, frames = run(src, job_dir, small_limits)
    assert out.rendition.mode == "transcode" and "non-monotonic" in out.plan.reason
    assert any("non-monotonic" in w for w in out.media["warnings"])
    subprocess.run(
        ["ffmpeg", "-v", "error", "-xerror", "-i", str(out.rendition.path), "-f", "null", "-"], check=True
    )
    duration = float(ffprobe_json(out.rendition.path, "-show_format")["format"]["duration"])
    assert duration == pytest.approx(5, abs=0.3)
    assert len(frames) == pytest.approx(5, abs=1)


# --- item 3: frame times are presentation times, each sample once -----------------------------------------


def _brightness_ramp(path: Path, seconds: float) -> Path:
    """Luma 16 + 40 x content time: a frame tells when it was recorded."""
    ffmpeg(
        "-f", "lavfi", "-i", f"color=c=black:s=64x64:r=25:d={seconds},geq=lum='16+T*40':cb=128:cr=128",
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", str(path),
    )  # fmt: skip
    return path


def test_video_starting_late_is_sampled_at_its_presentation_times(tmp_path, job_dir):
    ramp = _brightness_ramp(tmp_path / "ramp.mp4", 5)
    src = tmp_path / "late.mp4"
    ffmpeg(
        "-itsoffset", "0.85", "-i", str(ramp), "-f", "lavfi", "-i", "sine=d=6",
        "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", str(src),
    )  # fmt: skip
    out, frames = run(src, job_dir, MediaLimits(analysis_max_side=64))
    times = [f.t for f in frames]
    assert times == [1.0, 2.0, 3.0, 4.0, 5.0]
    for f in frames:  # the picture on screen at t was recorded at t - 0.85 (within one frame)
        content_t = float(f.image.mean()) * 219 / 255 / 40  # full-range RGB back to limited luma
        assert f.t - 0.85 - 0.08 <= content_t <= f.t - 0.85 + 0.02, (f.t, content_t)
    first = ffprobe_json(out.rendition.path, "-select_streams", "v", "-show_entries", "stream=start_time")
    assert float(first["streams"][0]["start_time"]) == pytest.approx(0.85, abs=0.05)  # same timeline


def test_real_clip_with_late_video_has_no_duplicate_first_frame(job_dir, small_limits):
    out, frames = run(CLIPS / "short_hamilton_clip.mp4", job_dir, small_limits)  # video from 0.85 s
    assert frames[0].t >= 0.85
    assert [f.t for f in frames] == [float(i) for i in range(1, len(frames) + 1)]
    assert not np.array_equal(frames[0].image, frames[1].image)


@pytest.mark.parametrize("rate", [1000, 30])
def test_frame_rate_missing_from_the_header_is_measured_and_the_rendition_capped(
    tmp_path, job_dir, small_limits, rate
):
    """Matroska states no average rate; at 1000 fps its guess is implausible, so the packets are timed.
    A real 1000 fps file gets a 30 fps review copy, a 30 fps one keeps its rate."""
    src = tmp_path / f"r{rate}.mkv"
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=s=320x240:r={rate}:d=3", "-c:v", "libx264", "-preset", "ultrafast",
        "-pix_fmt", "yuv420p", str(src),
    )  # fmt: skip
    out, frames = run(src, job_dir, small_limits)
    assert out.info.fps == pytest.approx(rate, rel=0.02)
    assert_playable(out, frames, video_s=3, audio_s=None)
    video = ffprobe_json(out.rendition.path, "-show_streams", "-count_frames")["streams"][0]
    assert int(video["nb_read_frames"]) == pytest.approx(3 * min(rate, 30), abs=2)
    assert out.plan.mode == ("transcode" if rate > 60 else "remux")


def test_picture_size_change_mid_stream_is_transcoded_letterboxed(tmp_path, job_dir, small_limits):
    """A recording joined from two streams of different sizes: a remux would keep only the first
    size's parameters, so the review copy is transcoded, the second part letterboxed, not stretched."""
    parts = []
    for i, size in enumerate(("320x240", "640x360")):
        parts.append(tmp_path / f"p{i}.ts")
        ffmpeg(
            "-f", "lavfi", "-i", f"testsrc2=s={size}:r=25:d=3", "-f", "lavfi", "-i", "sine=d=3",
            "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "mpegts", str(parts[-1]),
        )  # fmt: skip
    listing = tmp_path / "parts.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in parts))
    src = tmp_path / "joined.ts"
    ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(src))
    out, frames = run(src, job_dir, small_limits)
    assert out.plan.mode == "transcode" and "size changes" in out.plan.reason
    assert_playable(out, frames, video_s=6, audio_s=6)
    sizes = ffprobe_json(out.rendition.path, "-select_streams", "v", "-show_entries", "frame=width,height")[
        "frames"
    ]
    assert {(f["width"], f["height"]) for f in sizes} == {(320, 240)}
    late = subprocess.run(
        ["ffmpeg", "-v", "error", "-ss", "4.5", "-i", str(out.rendition.path), "-frames:v", "1",
         "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    picture = np.frombuffer(late, np.uint8).reshape(240, 320)
    assert picture[:25].mean() < 20 and picture[-25:].mean() < 20  # 16:9 inside 4:3: bars above and below
    assert picture[60:180].mean() > 40


def test_constant_size_stream_is_still_remuxed(camcorder_ts, job_dir, small_limits):
    out, _ = run(camcorder_ts, job_dir, small_limits)
    assert out.plan.mode == "remux"


def _as_hdr(src: Path, dst: Path, transfer: str) -> Path:
    """A real clip re-encoded as a phone's HDR video: 10-bit HEVC, BT.2020, PQ or HLG."""
    ffmpeg(
        "-i", str(src), "-vf",
        f"zscale=tin=bt709:min=bt709:pin=bt709:t={transfer}:m=bt2020nc:p=bt2020:npl=203,format=yuv420p10le",
        "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error",
        "-color_primaries", "bt2020", "-color_trc", transfer, "-colorspace", "bt2020nc", "-tag:v", "hvc1",
        "-c:a", "copy", str(dst),
    )  # fmt: skip
    return dst


def _saturation(frames: list[Frame]) -> float:
    return float(np.mean([cv2.cvtColor(f.image, cv2.COLOR_BGR2HSV)[..., 1].mean() for f in frames]))


@pytest.mark.parametrize("transfer", ["smpte2084", "arib-std-b67"])
def test_hdr_phone_video_is_tone_mapped_for_review_and_analysis(tmp_path, job_dir, small_limits, transfer):
    """Without tone mapping an HDR picture reaches reviewers and the face detector flat and grey."""
    sdr_src = CLIPS / "short_hamilton_clip.mp4"
    hdr_src = _as_hdr(sdr_src, tmp_path / "hdr.mp4", transfer)
    (tmp_path / "sdr-job").mkdir()
    _, sdr_frames = run(sdr_src, tmp_path / "sdr-job", small_limits)
    out, frames = run(hdr_src, job_dir, small_limits)
    assert out.info.hdr and out.plan.mode == "transcode" and "HDR" in out.plan.reason
    video = ffprobe_json(out.rendition.path, "-show_streams")["streams"][0]
    assert (video["pix_fmt"], video.get("color_transfer")) == ("yuv420p", "bt709")
    # measured: tone-mapped 1.05-1.07 of the SDR original's saturation; untouched 0.76 (PQ), 0.82 (HLG)
    assert 0.9 < _saturation(frames) / _saturation(sdr_frames) < 1.2
    sdr_by_t = {round(f.t): f.image for f in sdr_frames}
    diffs = [
        np.abs(f.image.astype(int) - sdr_by_t[round(f.t)]).mean() for f in frames if round(f.t) in sdr_by_t
    ]
    assert len(diffs) >= 5 and np.median(diffs) < 6.5  # tone-mapped 4.8-4.9; untouched PQ 8.0


@pytest.mark.parametrize(
    ("name", "codecs"),
    [("lesson.ts", ("libx264", "aac")), ("lesson.vob", ("mpeg2video", "mp2"))],
)
def test_recordings_joined_byte_for_byte_are_screened_whole(tmp_path, job_dir, small_limits, name, codecs):
    """``copy /b part1.ts+part2.ts``: the second part's timestamps start again. The header's duration
    covers one part; the whole file is screened, part after part, and reviewers are told."""
    parts = []
    for i, source in enumerate(("testsrc2", "smptebars")):
        parts.append(
            make_video(
                tmp_path / f"{i}{Path(name).suffix}",
                seconds=6,
                vcodec=codecs[0],
                acodec=codecs[1],
                source=source,
            )
        )
    src = tmp_path / name
    src.write_bytes(b"".join(p.read_bytes() for p in parts))
    out, frames = run(src, job_dir, small_limits)
    assert out.info.parts == 2 and out.media["duration_s"] == pytest.approx(12, abs=0.3)
    assert out.media["warnings"][0].startswith("joined from 2 recordings")
    assert len(frames) == pytest.approx(12, abs=1.01)
    rendition = ffprobe_json(out.rendition.path, "-show_format")["format"]
    assert float(rendition["duration"]) == pytest.approx(12, abs=0.5)
    # the second part is there: SMPTE bars (grey top-left bar) rather than the test pattern
    assert frames[-1].image[:20, :20].std() < 10 and frames[0].image[:20, :20].std() > 10


@pytest.mark.parametrize(
    ("dispositions", "shown"),
    [
        (("0", "default"), (320, 240, 1)),  # a recorder's small preview track first, the lesson marked
        (("default", "default"), (320, 240, 1)),  # both marked: the larger picture
        (("default", "0"), (64, 64, 0)),  # players show the marked track, so reviewers must see it too
    ],
)
def test_the_video_track_players_show_is_screened(tmp_path, job_dir, small_limits, dispositions, shown):
    src = tmp_path / "two.mkv"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=s=64x64:r=10:d=4", "-f", "lavfi", "-i", "smptebars=s=320x240:r=25:d=4",
        "-map", "0", "-map", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p",
        "-disposition:v:0", dispositions[0], "-disposition:v:1", dispositions[1], str(src),
    )  # fmt: skip
    out, frames = run(src, job_dir, small_limits)
    assert (out.info.width, out.info.height, out.info.video_index) == shown
    assert (out.rendition.width, out.rendition.height) == shown[:2]
    assert frames[0].image.shape[:2] == shown[1::-1]


@pytest.mark.parametrize("sar", ["1/100", "100/1"])
def test_an_implausible_pixel_aspect_ratio_is_not_kept_in_the_review_copy(
    tmp_path, job_dir, small_limits, sar
):
    src = make_video(tmp_path / "sar.mp4", seconds=3, extra=("-vf", f"setsar={sar}"))
    out, _ = run(src, job_dir, small_limits)
    assert out.plan.mode == "transcode" and "pixel aspect" in out.plan.reason
    video = ffprobe_json(out.rendition.path, "-show_streams")["streams"][0]
    assert video.get("sample_aspect_ratio", "1:1") == "1:1"
    assert (video["width"], video["height"]) == (320, 240)


def test_sound_running_on_over_a_still_frame_is_pointed_out(tmp_path, job_dir, small_limits):
    src = _audio_video(tmp_path / "long_audio.mp4", 3, "sine=d=30")
    out, _ = run(src, job_dir, small_limits)
    assert out.media["duration_s"] == pytest.approx(30, abs=0.1)
    assert any(w.startswith("the picture lasts 3.0 s of 30.0 s") for w in out.media["warnings"])


@pytest.mark.parametrize("declared", [3600, 0])
def test_a_movie_header_that_misstates_the_duration_does_not_reject_a_whole_file(
    tmp_path, job_dir, small_limits, declared
):
    """A complete, playable MP4 whose movie header says 1 h (or 0 s): the tracks' own sample
    tables give the length, instead of a 'truncated, upload again' the teacher cannot act on."""
    src = make_video(tmp_path / "ok.mp4", seconds=4)
    data = bytearray(src.read_bytes())
    at = data.index(b"mvhd") + 4  # version 0: version+flags, creation, modification, timescale, duration
    timescale = int.from_bytes(data[at + 12 : at + 16], "big")
    data[at + 16 : at + 20] = (declared * timescale).to_bytes(4, "big")
    patched = tmp_path / "header.mp4"
    patched.write_bytes(bytes(data))
    out, frames = run(patched, job_dir, small_limits)
    assert out.media["duration_s"] == pytest.approx(4, abs=0.1)
    assert len(frames) == pytest.approx(4, abs=1.01)


def test_stage_versions_record_the_changed_outputs():
    assert STAGE_VERSIONS == {"validate": "4", "rendition": "4"}


# --- item 4: the zoo -------------------------------------------------------------------------------------


def _amr_3gp(path: Path) -> Path:
    """3GP with H.264 and AMR-NB (Debian's ffmpeg decodes AMR but cannot encode it: 12.2 kbit/s frames
    with arbitrary payload are valid speech frames)."""
    rng = random.Random(3)
    amr = path.with_suffix(".amr")
    amr.write_bytes(b"#!AMR\n" + b"".join(b"\x3c" + rng.randbytes(31) for _ in range(150)))
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=s=176x144:r=15:d=3", "-i", str(amr),
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "copy", "-f", "3gp", str(path),
    )  # fmt: skip
    return path


def _mkv_with_subtitles_and_font(path: Path) -> Path:
    video = make_video(path.with_name("plain.mkv"), seconds=3)
    srt = path.with_name("subs.srt")
    srt.write_text("1\n00:00:00,500 --> 00:00:02,000\n同学们好\n", encoding="utf-8")
    font = path.with_name("font.ttf")
    font.write_bytes(b"\x00\x01\x00\x00" + bytes(200))
    ffmpeg(
        "-i", str(video), "-i", str(srt), "-map", "0", "-map", "1", "-c", "copy", "-c:s", "srt",
        "-attach", str(font), "-metadata:s:t", "mimetype=application/x-truetype-font", str(path),
    )  # fmt: skip
    return path


def _two_audio_tracks(path: Path) -> Path:
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25:d=3", "-f", "lavfi", "-i", "sine=f=440:d=3",
        "-f", "lavfi", "-i", "sine=f=880:d=3", "-map", "0", "-map", "1", "-map", "2",
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path),
    )  # fmt: skip
    return path


def _audio_video(path: Path, video_s: float, audio: str, acodec: str = "aac", vextra=()) -> Path:
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=s=320x240:r=25:d={video_s}", "-f", "lavfi", "-i", audio,
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", *vextra, "-c:a", acodec, str(path),
    )  # fmt: skip
    return path


def _cut_mid_packet(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes()[TS_PACKET // 2 :])
    return dst


def _edit_list(path: Path) -> Path:
    """A stream-copied trim: the mp4 keeps pre-roll frames hidden by an edit list."""
    full = make_video(path.with_name("full.mp4"), seconds=6, extra=("-g", "100"))
    ffmpeg("-ss", "1.3", "-i", str(full), "-c", "copy", str(path))
    return path


# name -> (builder(tmp_path) -> Path, video seconds, audio seconds or None)
ZOO = {
    "vfr_phone": (
        lambda d: make_video(
            d / "vfr.mp4", seconds=4, extra=("-vf", "setpts='(N+0.45*random(1))/25/TB'", "-fps_mode", "vfr")
        ),
        4,
        4,
    ),
    "60fps": (lambda d: make_video(d / "60.mp4", seconds=3, fps=60), 3, 3),
    "1fps_screen": (
        lambda d: make_video(d / "screen.mp4", seconds=6, width=1366, height=768, fps=1, acodec=None),
        6,
        None,
    ),
    "odd_1366x767": (
        lambda d: make_video(d / "odd.mp4", seconds=3, width=1366, height=767, vcodec="mpeg4", acodec=None),
        3,
        None,
    ),
    "odd_853x480_webm": (
        lambda d: make_video(
            d / "odd.webm", seconds=3, width=853, height=480, vcodec="libvpx-vp9", acodec="libopus"
        ),
        3,
        3,
    ),
    "anamorphic": (
        lambda d: make_video(d / "sar.mp4", seconds=3, width=480, height=360, extra=("-vf", "setsar=4/3")),
        3,
        3,
    ),
    "rotate_90": (lambda d: make_video(d / "r90.mp4", seconds=3, rotate=90), 3, 3),
    "rotate_180": (lambda d: make_video(d / "r180.mp4", seconds=3, rotate=180), 3, 3),
    "rotate_270_1080p": (
        lambda d: make_video(d / "r270.mp4", seconds=2, width=1280, height=960, rotate=270),
        2,
        2,
    ),
    "interlaced": (
        lambda d: make_video(d / "i.ts", seconds=3, extra=("-flags", "+ildct+ilme", "-x264-params", "tff=1")),
        3,
        3,
    ),
    "hevc_10bit_hvc1_mov": (
        lambda d: make_video(
            d / "iphone.mov", seconds=3, vcodec="libx265", pix_fmt="yuv420p10le", extra=("-tag:v", "hvc1")
        ),
        3,
        3,
    ),
    "h264_high10": (lambda d: make_video(d / "h10.mp4", seconds=3, pix_fmt="yuv420p10le"), 3, 3),
    "browser_webm_no_duration": (
        lambda d: make_video(
            d / "rec.webm", seconds=3, vcodec="libvpx-vp9", acodec="libopus", extra=("-live", "1")
        ),
        3,
        3,
    ),
    "two_audio_tracks": (lambda d: _two_audio_tracks(d / "two.mp4"), 3, 3),
    "surround_5_1": (lambda d: _audio_video(d / "51.mp4", 3, "sine=d=3,aformat=channel_layouts=5.1"), 3, 3),
    "mono_8khz": (lambda d: _audio_video(d / "8k.mp4", 3, "sine=d=3:sample_rate=8000"), 3, 3),
    "audio_longer": (lambda d: _audio_video(d / "al.mp4", 3, "sine=d=5"), 3, 5),
    "audio_shorter": (lambda d: _audio_video(d / "as.mp4", 5, "sine=d=3"), 5, 3),
    "silent_track": (lambda d: _audio_video(d / "silent.mp4", 4, "anullsrc=r=48000:cl=stereo:d=4"), 4, 4),
    "avi_mjpeg_pcm": (
        lambda d: make_video(
            d / "cam.avi", seconds=3, vcodec="mjpeg", pix_fmt="yuvj420p", acodec="pcm_s16le"
        ),
        3,
        3,
    ),
    "flv_sorenson_mp3": (
        lambda d: make_video(d / "old.flv", seconds=3, vcodec="flv", acodec="libmp3lame"),
        3,
        3,
    ),
    "3gp_amr": (lambda d: _amr_3gp(d / "phone.3gp"), 3, 3),
    "mkv_subtitles_font": (lambda d: _mkv_with_subtitles_and_font(d / "subs.mkv"), 3, 3),
    "mp4_edit_list": (lambda d: _edit_list(d / "trim.mp4"), 4.7, 4.7),
    # a recorder's time of day (or a stream's own clock) as timestamps: lasts 3 s, ends at 10:00:03
    "late_start_mkv": (
        lambda d: make_video(d / "late.mkv", seconds=3, extra=("-output_ts_offset", "36000")),
        3,
        3,
    ),
    "late_start_mp4": (
        lambda d: make_video(d / "late.mp4", seconds=3, extra=("-output_ts_offset", "36000")),
        3,
        3,
    ),
    "wmv_windows": (lambda d: make_video(d / "lesson.wmv", seconds=3, vcodec="wmv2", acodec="wmav2"), 3, 3),
    "vob_dvd_recorder": (
        lambda d: make_video(
            d / "VTS_01_1.VOB", seconds=3, vcodec="mpeg2video", acodec="mp2", extra=("-f", "vob")
        ),
        3,
        3,
    ),
    "realmedia": (lambda d: make_video(d / "lesson.rm", seconds=3, vcodec="rv20", acodec="ac3"), 3, 3),
    "dv_minidv_capture": (
        lambda d: make_video(
            d / "tape.dv",
            seconds=3,
            width=720,
            height=576,
            vcodec="dvvideo",
            acodec="pcm_s16le",
            extra=("-ac", "2"),
        ),
        3,
        3,
    ),
    # a transport stream saved from the middle of a broadcast: the file starts inside a packet
    "ts_cut_mid_packet": (
        lambda d: _cut_mid_packet(make_video(d / "full.ts", seconds=4), d / "cut.ts"),
        4,
        4,
    ),
    # a multitrack recorder's 32 channels in no standard layout
    "audio_32_channels": (
        lambda d: _audio_video(
            d / "a32.mkv", 3, "aevalsrc=" + "|".join(["sin(440*2*PI*t)"] * 32) + ":d=3", "pcm_s16le"
        ),
        3,
        3,
    ),
}


@pytest.mark.parametrize("case", list(ZOO))
def test_real_world_uploads_are_accepted_and_processed(tmp_path, job_dir, small_limits, case):
    build, video_s, audio_s = ZOO[case]
    src = build(tmp_path)
    out, frames = run(src, job_dir, small_limits)
    assert_playable(out, frames, video_s=video_s, audio_s=audio_s)
    w, h = out.rendition.width, out.rendition.height
    if case.startswith("rotate_90") or case.startswith("rotate_270"):
        assert h > w and frames[0].image.shape[0] > frames[0].image.shape[1]
    if case == "anamorphic":
        assert (w, h) == (640, 360)
    if case == "odd_1366x767":
        assert (w, h) == (1280, 718) and w % 2 == 0 and h % 2 == 0
