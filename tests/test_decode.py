"""The one decode: rendition (remux/transcode), frame stream, 8 kHz audio, poster, analysers, and
truncated/corrupt streams caught during the pass with no partial outputs left behind."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.analysis.analyser import Analyser, FinishContext, StageOutput
from pipeline.analysis.host import AnalyserHost
from pipeline.decode import AUDIO_NAME, POSTER_NAME, decode_once
from pipeline.errors import MediaError
from pipeline.frames import Frame
from pipeline.limits import MediaLimits
from pipeline.media_pass import STAGE_VERSIONS, iter_frames, process_media
from pipeline.probe import probe
from pipeline.rendition import RENDITION_NAME, plan_rendition
from tests.fixtures.media import CLIPS, THREATEXCHANGE, make_video

OUTPUT_NAMES = {RENDITION_NAME, AUDIO_NAME, POSTER_NAME}


def ffprobe_json(path: Path, *args: str) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", *args, str(path)], capture_output=True, check=True
    ).stdout
    return json.loads(out)


def streams(path: Path) -> dict[str, dict]:
    """First video and first audio stream of a file, by type."""
    found: dict[str, dict] = {}
    for s in ffprobe_json(path, "-show_streams")["streams"]:
        found.setdefault(s["codec_type"], s)
    return found


def top_level_boxes(path: Path) -> list[str]:
    data = path.read_bytes()
    boxes, offset = [], 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset : offset + 4], "big")
        boxes.append(data[offset + 4 : offset + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[offset + 8 : offset + 16], "big")
        if size < 8:
            break
        offset += size
    return boxes


def packet_hash(path: Path) -> str:
    """MD5 of the video packets: equal hashes mean the stream was copied, not re-encoded."""
    out = subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-i",
            str(path),
            "-map",
            "0:v:0",
            "-c",
            "copy",
            "-f",
            "hash",
            "-hash",
            "md5",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return out.decode().strip()


def keyframe_times(path: Path) -> list[float]:
    frames = ffprobe_json(
        path, "-select_streams", "v:0", "-skip_frame", "nokey", "-show_entries", "frame=pts_time"
    )["frames"]
    return [float(f["pts_time"]) for f in frames]


class Recorder(Analyser):
    """An analyser that records what it was given."""

    version = "1"

    def __init__(self, stage: str, calls: list[str], reads: tuple[str, ...] = ()) -> None:
        self.stage, self.reads = stage, reads
        self.calls = calls
        self.frames: list[Frame] = []
        self.ctx: FinishContext | None = None

    def process(self, frame: Frame) -> None:
        self.frames.append(frame)

    def finish(self, ctx: FinishContext) -> StageOutput:
        self.calls.append(self.stage)
        self.ctx = ctx
        return StageOutput({"frames": len(self.frames), "saw": sorted(ctx.results)})


# --- rejections during the decode ---------------------------------------------------------------


def test_truncated_faststart_mp4_passes_ffprobe_and_is_caught_by_the_decode(
    hostile_files, job_dir, small_limits
):
    src = hostile_files("truncated")
    info = probe(src, job_dir, small_limits)  # ffprobe alone is fooled: the index is complete
    assert info.duration_s == pytest.approx(4.0, abs=0.1)
    frames: list[Frame] = []
    with pytest.raises(MediaError) as err:
        decode_once(src, info, plan_rendition(info), job_dir, small_limits, frames.append)
    assert err.value.code == "truncated"
    assert frames  # the frames before the cut were decoded: only the end of the pass tells
    assert not OUTPUT_NAMES & {p.name for p in job_dir.iterdir()}


def test_truncated_matroska_is_caught_by_the_decoded_duration(hostile_files, job_dir, small_limits):
    src = hostile_files("truncated_mkv")
    info = probe(src, job_dir, small_limits)
    with pytest.raises(MediaError) as err:
        decode_once(src, info, plan_rendition(info), job_dir, small_limits)
    assert err.value.code == "truncated"
    assert "decoded" in (err.value.detail or "")
    assert not OUTPUT_NAMES & {p.name for p in job_dir.iterdir()}


def test_corrupt_stream_is_rejected_without_partial_outputs(hostile_files, job_dir, small_limits):
    src = hostile_files("corrupt")
    with pytest.raises(MediaError) as err:
        process_media(src, job_dir, small_limits)
    assert err.value.code in ("corrupt", "truncated")
    assert list(job_dir.iterdir()) == []


def test_transport_stream_with_lost_packets_is_corrupt_not_truncated(hostile_files, job_dir, small_limits):
    with pytest.raises(MediaError) as err:
        process_media(hostile_files("ts_heavy_loss"), job_dir, small_limits)
    assert err.value.code == "corrupt"
    assert list(job_dir.iterdir()) == []


def test_header_that_under_declares_the_duration_is_rejected(hostile_files, job_dir, small_limits):
    src = hostile_files("lying_duration")
    assert probe(src, job_dir, small_limits).duration_s == pytest.approx(2.0)
    recorder = Recorder("r", [])
    with pytest.raises(MediaError) as err:
        process_media(src, job_dir, small_limits, AnalyserHost([recorder]))
    assert err.value.code == "corrupt"
    assert len(recorder.frames) <= 5  # decoding stopped near the declared end, not at 20 s
    assert recorder.ctx is None  # no analyser is finished on a rejected file
    assert list(job_dir.iterdir()) == []


def test_analyser_failure_stops_ffmpeg_and_discards_outputs(tmp_path, job_dir, small_limits):
    src = make_video(tmp_path / "v.mp4", seconds=3)

    class Boom(Recorder):
        def process(self, frame: Frame) -> None:
            raise RuntimeError("analyser bug")

    with pytest.raises(RuntimeError, match="analyser bug"):
        process_media(src, job_dir, small_limits, AnalyserHost([Boom("boom", [])]))
    assert list(job_dir.iterdir()) == []


# --- the rendition -------------------------------------------------------------------------------


def test_compliant_720p_upload_is_remuxed_with_faststart_and_no_metadata(tmp_path, job_dir, small_limits):
    src = make_video(
        tmp_path / "phone.mp4",
        seconds=3,
        width=1280,
        height=720,
        fps=30,
        metadata={"title": "SECRET", "comment": "SECRET teacher name", "location": "+39.9042+116.4074/"},
    )
    assert b"SECRET" in src.read_bytes()
    out = process_media(src, job_dir, small_limits)
    rendition = out.rendition.path
    assert out.rendition.mode == "remux" and out.plan.reason == ""
    assert (out.rendition.width, out.rendition.height) == (1280, 720)
    assert packet_hash(rendition) == packet_hash(src)  # stream copy, bit for bit
    boxes = top_level_boxes(rendition)
    assert boxes.index("moov") < boxes.index("mdat")  # +faststart
    tags = ffprobe_json(rendition, "-show_format")["format"].get("tags", {})
    assert not {"title", "comment", "location"} & set(tags)
    assert b"SECRET" not in rendition.read_bytes() and b"116.4074" not in rendition.read_bytes()
    s = streams(rendition)
    assert s["video"]["codec_name"] == "h264" and s["audio"]["codec_name"] == "aac"


def test_1080p_upload_is_transcoded_to_720p_high_with_2s_keyframes(tmp_path, job_dir, small_limits):
    src = make_video(tmp_path / "camera.mp4", seconds=5, width=1920, height=1080, fps=25, source="smptebars")
    out = process_media(src, job_dir, small_limits)
    assert out.rendition.mode == "transcode"
    rendition = out.rendition.path
    s = streams(rendition)
    assert s["video"]["codec_name"] == "h264" and s["video"]["profile"] == "High"
    assert (
        (s["video"]["width"], s["video"]["height"])
        == (1280, 720)
        == (out.rendition.width, out.rendition.height)
    )
    assert s["audio"]["codec_name"] == "aac"
    keys = keyframe_times(rendition)
    assert keys[0] == pytest.approx(0, abs=0.05) and len(keys) >= 3
    assert max(b - a for a, b in zip(keys, keys[1:], strict=False)) <= 2.05
    boxes = top_level_boxes(rendition)
    assert boxes.index("moov") < boxes.index("mdat")


@pytest.mark.parametrize(
    ("name", "vcodec", "acodec"),
    [
        ("hevc.mp4", "libx265", "aac"),
        ("old.avi", "mpeg4", "libmp3lame"),
        ("screen.webm", "libvpx-vp9", "libopus"),
    ],
)
def test_other_codecs_are_transcoded_to_h264_aac(tmp_path, job_dir, small_limits, name, vcodec, acodec):
    src = make_video(tmp_path / name, seconds=2, width=320, height=240, vcodec=vcodec, acodec=acodec)
    out = process_media(src, job_dir, small_limits)
    assert out.rendition.mode == "transcode"
    s = streams(out.rendition.path)
    assert s["video"]["codec_name"] == "h264" and s["video"]["pix_fmt"] == "yuv420p"
    assert s["audio"]["codec_name"] == "aac" and int(s["audio"]["sample_rate"]) in (44100, 48000)
    assert (s["video"]["width"], s["video"]["height"]) == (320, 240)


@pytest.mark.parametrize("name", ["camera.mkv", "camcorder.ts", "stream.flv"])
def test_h264_aac_in_other_containers_is_remuxed_into_mp4(tmp_path, job_dir, small_limits, name):
    src = make_video(tmp_path / name, seconds=2, width=320, height=240)
    out = process_media(src, job_dir, small_limits)
    assert out.rendition.mode == "remux"
    assert "mp4" in ffprobe_json(out.rendition.path, "-show_format")["format"]["format_name"]
    s = streams(out.rendition.path)
    assert s["video"]["codec_name"] == "h264" and s["audio"]["codec_name"] == "aac"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-xerror", "-i", str(out.rendition.path), "-f", "null", "-"], check=True
    )


@pytest.mark.parametrize(
    ("width", "height", "extra", "expected", "reason"),
    [
        (1366, 768, (), (1280, 720), "larger than"),  # laptop screen recording
        (320, 240, ("-flags", "+ildct+ilme", "-x264-params", "tff=1"), (320, 240), "interlaced"),
        (320, 240, ("-profile:v", "high444", "-pix_fmt", "yuv444p"), (320, 240), "pixel format"),
    ],
)
def test_uploads_browsers_cannot_play_as_is_are_transcoded(
    tmp_path, job_dir, small_limits, width, height, extra, expected, reason
):
    src = make_video(tmp_path / "in.mp4", seconds=2, width=width, height=height, acodec=None, extra=extra)
    out = process_media(src, job_dir, small_limits)
    assert out.rendition.mode == "transcode" and reason in out.plan.reason
    s = streams(out.rendition.path)["video"]
    assert (s["width"], s["height"]) == expected and s["pix_fmt"] == "yuv420p"
    assert s.get("field_order", "progressive") == "progressive"


def test_portrait_phone_video_is_transcoded_portrait(tmp_path, job_dir, small_limits):
    src = make_video(tmp_path / "phone.mp4", seconds=2, width=1920, height=1080, rotate=90, acodec=None)
    out = process_media(src, job_dir, small_limits)
    assert (out.media["width"], out.media["height"]) == (1080, 1920)
    assert out.rendition.mode == "transcode"
    s = streams(out.rendition.path)["video"]
    assert (s["width"], s["height"]) == (720, 1280)  # upright pixels, no rotation flag needed
    assert out.outputs == {} and out.frames_seen >= 2


def test_small_portrait_video_is_remuxed_and_keeps_its_rotation(tmp_path, job_dir, small_limits):
    src = make_video(tmp_path / "phone.mp4", seconds=2, width=640, height=360, rotate=90)
    recorder = Recorder("r", [])
    out = process_media(src, job_dir, small_limits, AnalyserHost([recorder]))
    assert out.rendition.mode == "remux"
    assert (out.rendition.width, out.rendition.height) == (360, 640)
    side = streams(out.rendition.path)["video"].get("side_data_list", [])
    assert any(abs(sd.get("rotation", 0)) == 90 for sd in side)
    assert recorder.frames[0].image.shape == (320, 180, 3)  # analysis frames upright, long side capped


def test_native_portrait_4k_is_accepted(tmp_path, job_dir, small_limits):
    """The largest accepted size, coded portrait: the decoder pixel cap must leave room for padding."""
    src = make_video(tmp_path / "p4k.mp4", seconds=1.5, width=2160, height=3840, fps=2, acodec=None)
    out = process_media(src, job_dir, small_limits)
    assert (out.media["width"], out.media["height"]) == (2160, 3840)
    assert (out.rendition.width, out.rendition.height) == (720, 1280)


def test_video_without_audio(tmp_path, job_dir, small_limits):
    src = make_video(tmp_path / "silent.mp4", seconds=2, acodec=None)
    recorder = Recorder("r", [])
    out = process_media(src, job_dir, small_limits, AnalyserHost([recorder]))
    assert out.audio_path is None and recorder.ctx.audio_path is None
    assert out.media["audio_codec"] is None
    assert "audio" not in streams(out.rendition.path)
    assert not (job_dir / AUDIO_NAME).exists()


def test_audio_track_is_8khz_mono_pcm(tmp_path, job_dir, small_limits):
    src = make_video(tmp_path / "talk.mp4", seconds=3)
    out = process_media(src, job_dir, small_limits)
    assert out.audio_path == job_dir / AUDIO_NAME
    samples = np.frombuffer(out.audio_path.read_bytes(), dtype="<i2")
    assert len(samples) == pytest.approx(3 * 8000, rel=0.03)
    assert np.abs(samples).max() > 1000  # the 440 Hz tone is there


# --- the frame stream ------------------------------------------------------------------------------


def test_frames_are_sampled_downscaled_and_bgr(tmp_path, job_dir):
    src = make_video(
        tmp_path / "red.mp4", seconds=4, width=640, height=480, source="color=c=red", acodec=None
    )
    limits = MediaLimits(analysis_fps=2.0, analysis_max_side=200)
    recorder = Recorder("r", [])
    out = process_media(src, job_dir, limits, AnalyserHost([recorder]))
    frames = recorder.frames
    assert len(frames) == out.frames_seen == pytest.approx(8, abs=1)
    assert [f.index for f in frames] == list(range(len(frames)))
    assert [f.t for f in frames[:3]] == [0.0, 0.5, 1.0]
    assert frames[0].image.shape == (150, 200, 3) and frames[0].image.dtype == np.uint8
    b, g, r = (float(frames[-1].image[..., c].mean()) for c in range(3))
    assert r > 200 and b < 40 and g < 40  # OpenCV order: channel 2 is red


def test_frames_are_never_upscaled(tmp_path, job_dir):
    src = make_video(tmp_path / "tiny.mp4", seconds=2, width=160, height=90, acodec=None)
    recorder = Recorder("r", [])
    process_media(src, job_dir, MediaLimits(analysis_max_side=1280), AnalyserHost([recorder]))
    assert recorder.frames[0].image.shape == (90, 160, 3)


def test_analysers_finish_after_the_stages_they_read(tmp_path, job_dir, small_limits):
    src = make_video(tmp_path / "v.mp4", seconds=3)
    calls: list[str] = []
    first, second = Recorder("faces", calls), Recorder("keyframes", calls, reads=("faces",))
    out = process_media(src, job_dir, small_limits, AnalyserHost([second, first]))
    assert calls == ["faces", "keyframes"]
    assert out.outputs["faces"].data == {"frames": 3, "saw": []}
    assert out.outputs["keyframes"].data == {"frames": 3, "saw": ["faces"]}
    assert second.ctx.workdir == job_dir and second.ctx.duration_s == pytest.approx(3.0, abs=0.1)
    assert first.frames[1].image is second.frames[1].image  # one array shared, not copied per analyser
    assert {"validate", "decode", "poster", "faces", "keyframes"} <= set(out.timings)
    assert set(STAGE_VERSIONS) == {"validate", "rendition"}


def test_progress_is_reported_up_to_one(tmp_path, job_dir, small_limits):
    src = make_video(tmp_path / "v.mp4", seconds=3, acodec=None)
    seen: list[float] = []
    process_media(src, job_dir, small_limits, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 3


def test_iter_frames_streams_without_a_rendition(job_dir, small_limits):
    frames = list(iter_frames(CLIPS / "short_hamilton_clip.mp4", job_dir, small_limits))
    assert len(frames) == pytest.approx(10, abs=1)
    assert frames[0].image.shape == (180, 320, 3)
    assert list(job_dir.iterdir()) == []


def _ffmpeg_children() -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            name = stat.read_text().split("(", 1)[1].rsplit(")", 1)[0]
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and name == "ffmpeg":
            kids.append(int(stat.parent.name))
    return kids


def test_iter_frames_stopped_early_kills_ffmpeg(tmp_path, job_dir, small_limits):
    src = make_video(tmp_path / "long.mp4", seconds=6, acodec=None)
    frames = iter_frames(src, job_dir, small_limits)
    first = next(frames)
    assert first.index == 0 and len(_ffmpeg_children()) == 1
    frames.close()
    assert _ffmpeg_children() == []


def test_iter_frames_rejects_hostile_input(hostile_files, job_dir, small_limits):
    with pytest.raises(MediaError) as err:
        list(iter_frames(hostile_files("png_as_mp4"), job_dir, small_limits))
    assert err.value.code == "not_a_video"


# --- poster and real data ----------------------------------------------------------------------------


def test_poster_skips_black_frames(tmp_path, job_dir, small_limits):
    black = make_video(tmp_path / "black.mp4", seconds=2, source="color=c=black", acodec=None)
    bars = make_video(tmp_path / "bars.mp4", seconds=4, source="smptebars", acodec=None)
    src = tmp_path / "fade_in.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(black), "-i", str(bars), "-filter_complex", "concat=n=2:v=1:a=0",
         "-c:v", "libx264", str(src)],
        check=True,
    )  # fmt: skip
    out = process_media(src, job_dir, small_limits)

    poster = cv2.imread(str(out.poster_path))
    assert out.poster_path == job_dir / POSTER_NAME and poster is not None
    assert poster.mean() > 40 and poster.std() > 20


@pytest.mark.parametrize(
    ("path", "size"),
    [
        (CLIPS / "short_hamilton_clip.mp4", (640, 360)),
        (THREATEXCHANGE / "pattern-hd-no-bar.mp4", (720, 1280)),
        (THREATEXCHANGE / "test-padded-dimensions.mp4", (720, 720)),
    ],
)
def test_real_clips(job_dir, small_limits, path, size):
    out = process_media(path, job_dir, small_limits)
    assert (out.rendition.width, out.rendition.height) == size
    s = streams(out.rendition.path)["video"]
    assert s["codec_name"] == "h264"
    assert out.poster_path is not None and out.poster_path.stat().st_size > 1000
    assert out.frames_seen == pytest.approx(out.media["duration_s"], abs=1.5)
