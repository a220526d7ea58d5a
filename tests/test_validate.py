"""Validation: every rejection code from a real hostile file, and nothing outside the job directory
is ever opened (local files or loopback HTTP) when a playlist is disguised as a video."""

from __future__ import annotations

import http.server
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from pipeline.container_truncation import structurally_truncated
from pipeline.errors import MediaError
from pipeline.limits import MediaLimits
from pipeline.media_pass import process_media
from pipeline.probe import probe
from pipeline.sniff import sniff_bytes
from pipeline.validate import check_dimensions, validate
from tests.fixtures.media import ffmpeg, hls_playlist, make_video

REJECTED_BEFORE_DECODE = [
    ("empty", "empty_file"),
    ("no_moov", "truncated"),
    ("truncated", "truncated"),
    ("truncated_mkv", "truncated"),
    ("audio_m4a", "no_video_stream"),
    ("audio_mp3", "no_video_stream"),
    ("png_as_mp4", "not_a_video"),
    ("random", "not_a_video"),
    ("text", "not_a_video"),
    ("ffconcat", "unsupported_container"),
    ("theora", "unsupported_container"),
    ("raw_h264", "unsupported_container"),
    ("pixel_bomb", "dimensions_too_large"),
    ("wide", "dimensions_too_large"),
    ("ten_hours", "too_long"),
    ("too_short", "too_short"),
]


@pytest.mark.parametrize(("name", "code"), REJECTED_BEFORE_DECODE)
def test_rejection_codes(hostile_files, job_dir, small_limits, name, code):
    src = hostile_files(name)
    with pytest.raises(MediaError) as err:
        process_media(src, job_dir, small_limits)
    assert err.value.code == code, err.value
    assert err.value.message and err.value.message_zh
    assert err.value.as_dict()["code"] == code
    assert list(job_dir.iterdir()) == []  # rejected before any output was written


def test_rejections_never_show_server_paths(hostile_files, job_dir, small_limits):
    with pytest.raises(MediaError) as err:
        process_media(hostile_files("ebml_huge_sizes"), job_dir, small_limits)
    assert err.value.code == "corrupt"
    shown = f"{err.value.detail} {err.value}"
    assert "/" not in shown and "upload" not in shown and str(job_dir.name) not in shown, shown


@pytest.mark.parametrize(
    "trailer",
    [
        b"<html><body>upload complete</body></html>\n",
        b"hello from the school recording system\n" * 40,
        b"\x00" * 4096,
        b"SEFH" + bytes(range(256)) * 8 + b"SEFT",  # a phone maker's metadata trailer
    ],
)
def test_bytes_appended_after_the_last_box_are_not_truncation(hostile_files, job_dir, tmp_path, trailer):
    src = tmp_path / "appended.mp4"
    src.write_bytes(hostile_files("valid").read_bytes() + trailer)
    assert not structurally_truncated(src, "mov")
    out = process_media(src, job_dir, MediaLimits())
    assert out.media["duration_s"] > 0 and out.rendition.width > 0


@pytest.mark.parametrize(("faststart", "keep"), [(True, 100), (False, 0.99)])
def test_a_header_cut_off_mid_way_is_truncated_not_misnamed(tmp_path, job_dir, small_limits, faststart, keep):
    """An upload stopped inside the movie header: ffprobe sees no streams (header first) or bad data
    (header last); the box sizes say bytes are missing, so the teacher is told to upload again."""
    src = make_video(tmp_path / "whole.mp4", seconds=3, faststart=faststart)
    data = src.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: keep if isinstance(keep, int) else int(len(data) * keep)])
    with pytest.raises(MediaError) as err:
        validate(cut, job_dir, small_limits)
    assert err.value.code == "truncated"


def test_ten_hour_file_is_judged_from_its_header(hostile_files, job_dir):
    src = hostile_files("ten_hours")
    assert src.stat().st_size < 10_000
    limits = MediaLimits(max_duration_s=11 * 3600)
    info = validate(src, job_dir, limits)
    assert info.duration_s == pytest.approx(36001, abs=1)


def test_file_too_large(hostile_files, job_dir):
    with pytest.raises(MediaError) as err:
        validate(hostile_files("valid"), job_dir, MediaLimits(max_upload_bytes=1000))
    assert err.value.code == "file_too_large"


@pytest.mark.parametrize(
    ("width", "height", "code"),
    [
        (3840, 2160, None),
        (2160, 3840, None),
        (176, 144, None),
        (4000, 1000, "dimensions_too_large"),
        (1000, 4000, "dimensions_too_large"),
        (2200, 2200, "dimensions_too_large"),
        (2, 2, "dimensions_too_small"),
        (1920, 40, "dimensions_too_small"),
        (40, 1920, "dimensions_too_small"),
    ],
)
def test_dimension_limits_hold_in_both_orientations(width, height, code):
    limits = MediaLimits()
    if code is None:
        check_dimensions(width, height, limits)
    else:
        with pytest.raises(MediaError) as err:
            check_dimensions(width, height, limits)
        assert err.value.code == code


def test_a_picture_too_small_to_show_anyone_is_rejected(tmp_path, job_dir, small_limits):
    src = make_video(tmp_path / "dot.mp4", seconds=2, width=2, height=2, acodec=None)
    with pytest.raises(MediaError) as err:
        process_media(src, job_dir, small_limits)
    assert err.value.code == "dimensions_too_small" and "2x2" in err.value.detail


# --- playlists disguised as videos -----------------------------------------------------------


class _FifoWatch:
    """A FIFO outside the job directory. A reader that opens it blocks until a writer comes, so a
    non-blocking writer open succeeding proves somebody opened it for reading."""

    def __init__(self, path: Path) -> None:
        self.path = path
        os.mkfifo(path)
        self.opened = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                time.sleep(0.005)
                continue
            self.opened.set()
            os.close(fd)  # the reader sees EOF and moves on

    def stop(self) -> bool:
        self._stop.set()
        self._thread.join(timeout=5)
        return self.opened.is_set()


def test_hls_playlist_to_local_file_is_never_followed(tmp_path, job_dir, small_limits):
    outside = tmp_path / "outside"
    outside.mkdir()
    playlist = hls_playlist(job_dir / "upload.mp4", str(outside / "secret.ts"))

    # Control: an unprotected ffprobe does follow the playlist and opens the target.
    watch = _FifoWatch(outside / "secret.ts")
    subprocess.run(["ffprobe", "-v", "quiet", str(playlist)], capture_output=True, timeout=60)
    assert watch.stop(), "control failed: plain ffprobe should have opened the target"
    (outside / "secret.ts").unlink()

    watch = _FifoWatch(outside / "secret.ts")
    with pytest.raises(MediaError) as err:
        process_media(playlist, job_dir, small_limits)
    time.sleep(0.2)
    assert not watch.stop(), "the playlist target outside the job directory was opened"
    assert err.value.code == "unsupported_container"


class _CountingServer(http.server.ThreadingHTTPServer):
    connections = 0

    def verify_request(self, request, client_address) -> bool:
        type(self).connections += 1
        return True


class _Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_error(404)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def loopback_server():
    server = type("Server", (_CountingServer,), {"connections": 0})(("127.0.0.1", 0), _Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_hls_playlist_to_loopback_http_makes_no_connection(job_dir, small_limits, loopback_server):
    url = f"http://127.0.0.1:{loopback_server.server_address[1]}/segment.ts"
    playlist = hls_playlist(job_dir / "upload.mp4", url)

    # Control: ffprobe with http allowed but no demuxer pinning follows the playlist to the server.
    control = ["ffprobe", "-v", "quiet", "-protocol_whitelist", "file,http,tcp", str(playlist)]
    subprocess.run(control, capture_output=True, timeout=60)
    assert loopback_server.connections >= 1, "control failed: ffprobe should have connected"
    before = loopback_server.connections

    with pytest.raises(MediaError) as err:
        process_media(playlist, job_dir, small_limits)
    time.sleep(0.2)
    assert loopback_server.connections == before
    assert err.value.code == "unsupported_container"


def test_playlist_behind_container_magic_cannot_reach_the_hls_demuxer(job_dir, small_limits, loopback_server):
    """A playlist that survives sniffing (TS sync bytes in front) is still read only by the pinned
    demuxer: no connection, and a plain rejection."""
    url = f"http://127.0.0.1:{loopback_server.server_address[1]}/x.ts"
    fake = job_dir / "upload.mp4"
    fake.write_bytes((b"\x47" + b"\xff" * 187) * 3 + f"#EXTM3U\n#EXTINF:1,\n{url}\n".encode())
    with pytest.raises(MediaError) as err:
        validate(fake, job_dir, small_limits)
    time.sleep(0.2)
    assert loopback_server.connections == 0
    assert err.value.code in ("corrupt", "no_video_stream")


# --- what the probe reports --------------------------------------------------------------------


def test_portrait_phone_video_reports_displayed_size(tmp_path, job_dir, small_limits):
    src = make_video(tmp_path / "phone.mp4", width=320, height=180, rotate=90, seconds=2)
    info = validate(src, job_dir, small_limits)
    assert (info.coded_width, info.coded_height) == (320, 180)
    assert (info.width, info.height) == (180, 320)
    assert info.rotation in (90, 270)
    assert info.portrait


@pytest.mark.parametrize(
    ("name", "vcodec", "acodec", "container"),
    [
        ("clip.mkv", "libx264", "aac", "matroska"),
        ("clip.webm", "libvpx-vp9", "libopus", "webm"),
        ("clip.ts", "libx264", "aac", "mpegts"),
        ("clip.flv", "libx264", "aac", "flv"),
        ("clip.avi", "mpeg4", "libmp3lame", "avi"),
        ("clip.mov", "libx264", "aac", "mov"),
        ("clip.3gp", "libx264", "aac", "3gp"),
        ("clip.wmv", "wmv2", "wmav2", "asf"),  # Windows tools, older classroom recording systems
        ("clip.mpg", "mpeg2video", "mp2", "mpeg"),  # DVD recorders and camcorders (program stream)
        ("clip.rm", "rv20", "ac3", "rm"),  # RealMedia archives
    ],
)
def test_accepted_containers(tmp_path, job_dir, small_limits, name, vcodec, acodec, container):
    src = make_video(tmp_path / name, vcodec=vcodec, acodec=acodec, seconds=2, width=160, height=120)
    info = validate(src, job_dir, small_limits)
    assert info.container == container
    assert info.duration_s == pytest.approx(2.0, abs=0.2)
    assert (info.width, info.height) == (160, 120)
    assert info.fps == pytest.approx(25.0)
    assert info.has_audio


def test_cover_art_is_not_the_video_stream(tmp_path, job_dir, small_limits):
    video = make_video(tmp_path / "v.mp4", seconds=2, width=160, height=120)
    cover = tmp_path / "cover.png"
    ffmpeg("-f", "lavfi", "-i", "color=c=blue:s=64x64", "-frames:v", "1", str(cover))
    src = tmp_path / "with_cover.mp4"
    ffmpeg(
        "-i", str(video), "-i", str(cover), "-map", "1", "-map", "0", "-c", "copy", "-c:v:0", "png",
        "-disposition:v:0", "attached_pic", str(src),
    )  # fmt: skip
    listing = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name:disposition=attached_pic",
            "-of",
            "json",
            src,
        ],
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert '"png"' in listing and '"attached_pic": 1' in listing
    info = validate(src, job_dir, small_limits)
    assert info.video_codec == "h264"
    assert (info.width, info.height) == (160, 120)


def test_audio_with_cover_art_has_no_video_stream(tmp_path, job_dir, small_limits):
    cover = tmp_path / "cover.png"
    ffmpeg("-f", "lavfi", "-i", "color=c=blue:s=64x64", "-frames:v", "1", str(cover))
    src = tmp_path / "song.m4a"
    ffmpeg(
        "-f", "lavfi", "-i", "sine=d=3", "-i", str(cover), "-map", "0", "-map", "1", "-c:a", "aac",
        "-c:v", "png", "-disposition:v:0", "attached_pic", str(src),
    )  # fmt: skip
    with pytest.raises(MediaError) as err:
        validate(src, job_dir, small_limits)
    assert err.value.code == "no_video_stream"


def test_duration_is_scanned_when_the_header_has_none(tmp_path, job_dir, small_limits):
    """Browser recordings (MediaRecorder WebM) carry no duration; it is read from packet times."""
    src = make_video(
        tmp_path / "live.webm", vcodec="libvpx-vp9", acodec=None, seconds=3, extra=("-live", "1")
    )
    info = probe(src, job_dir, small_limits)
    assert info.duration_s == pytest.approx(3.0, abs=0.2)


def test_real_phone_clips_from_the_dataset(job_dir, small_limits):
    from tests.fixtures.media import THREATEXCHANGE

    info = validate(THREATEXCHANGE / "pattern-hd-no-bar.mp4", job_dir, small_limits)
    assert (info.width, info.height, info.container) == (720, 1280, "mp4")
    info = validate(THREATEXCHANGE / "chair-19-sd-bar.mp4", job_dir, small_limits)
    assert info.portrait and info.audio_codec == "aac"


# --- sniffing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom", "mp4"),
        (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ", "mov"),
        (b"\x00\x00\x00\x18ftyp3gp4\x00\x00\x00\x003gp4isom", "3gp"),
        (b"\x00\x00\x00\x18ftypM4A \x00\x00\x00\x00M4A isom", "mp4"),
        (b"\x00\x00\x00\x08wide\x00\x00\x10\x00mdat", "mov"),
        (b"\x00\x00\x00\x08free\x00\x00\x00\x18ftyp3gp4\x00\x00\x00\x003gp4isom", "3gp"),
        (b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x84webm", "webm"),
        (b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska", "matroska"),
        (b"RIFF\x00\x00\x00\x00AVI LIST", "avi"),
        (b"FLV\x01\x05\x00\x00\x00\x09", "flv"),
        ((b"\x47" + bytes(187)) * 4, "mpegts"),
        ((bytes(4) + b"\x47" + bytes(187)) * 4, "mpegts"),  # M2TS / AVCHD
        (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11\xa6\xd9", "asf"),
        (b"\x00\x00\x01\xba\x44\x00", "mpeg"),
        (b".RMF\x00\x00\x00\x12", "rm"),
        (b"\x1f\x07\x00\xbf\xf8\x78\x78\x78", "dv"),
        (bytes(100) + (b"\x47" + bytes(187)) * 8, "mpegts"),  # cut inside a packet
    ],
)
def test_sniff_accepts(head, expected):
    assert sniff_bytes(head).container == expected


@pytest.mark.parametrize(
    ("head", "code"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not_a_video"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "not_a_video"),
        (b"GIF89a\x01\x00", "not_a_video"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "not_a_video"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "not_a_video"),
        (b"%PDF-1.7\n", "not_a_video"),
        (b"PK\x03\x04\x14\x00", "not_a_video"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00", "not_a_video"),
        (b"Just some notes\nabout the lesson\n", "not_a_video"),
        (b"ID3\x04\x00\x00", "no_video_stream"),
        (b"\xff\xfb\x90\x64\x00", "no_video_stream"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "no_video_stream"),
        (b"OggS\x00\x02" + bytes(22) + b"\x01vorbis", "no_video_stream"),
        (b"fLaC\x00\x00\x00\x22", "no_video_stream"),
        (b"OggS\x00\x02" + bytes(22) + b"\x80theora", "unsupported_container"),
        (b"\xef\xbb\xbf#EXTM3U\n#EXTINF:10,\nseg.ts\n", "unsupported_container"),
        (b"ffconcat version 1.0\nfile a.mp4\n", "unsupported_container"),
        (b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\nm=video 5004 RTP/AVP 96\r\n", "unsupported_container"),
        (b"\x00\x00\x01\xb3\x14\x00", "unsupported_container"),  # MPEG video without a container
        (b"DHAV\xfd\x00", "unsupported_container"),  # a surveillance DVR's own format
        (b"IMKH\x01\x01\x00\x00", "unsupported_container"),  # Hikvision's
        (b"\x06\x0e\x2b\x34\x02\x05\x01\x01", "unsupported_container"),  # MXF
        (b"nut/multimedia container\x00", "unsupported_container"),
        (b"DKIF\x00\x00\x20\x00VP80", "unsupported_container"),
        (b"YUV4MPEG2 W320 H240", "unsupported_container"),
        (b"FWS\x06\x57\x5d", "unsupported_container"),  # old Flash courseware
        (b"\x00\x00\x01\x67\x64\x00", "unsupported_container"),  # H.264 Annex B, 3-byte start code
        (b"\x00\x00\x01\x40\x01\x0c", "unsupported_container"),  # HEVC VPS
        (b"QIYI VIDEO\x00\x00", "unsupported_container"),
        (bytes(range(256)) * 8, "not_a_video"),  # no sync grid: not mistaken for a cut stream
    ],
)
def test_sniff_refuses(head, code):
    with pytest.raises(MediaError) as err:
        sniff_bytes(head)
    assert err.value.code == code


@pytest.mark.parametrize(
    ("args", "name", "code"),
    [
        (["-f", "lavfi", "-i", "sine=d=1", "-c:a", "pcm_s16le"], "a.wav", "no_video_stream"),
        (["-f", "lavfi", "-i", "sine=d=1", "-c:a", "libvorbis"], "a.ogg", "no_video_stream"),
        (["-f", "lavfi", "-i", "sine=d=1", "-c:a", "flac"], "a.flac", "no_video_stream"),
        (
            ["-f", "lavfi", "-i", "testsrc2=s=64x48:d=1", "-c:v", "libtheora"],
            "v.ogv",
            "unsupported_container",
        ),
        (["-f", "lavfi", "-i", "testsrc2=s=64x48:d=1"], "v.gif", "not_a_video"),
        (["-f", "lavfi", "-i", "testsrc2=s=64x48", "-frames:v", "1"], "i.jpg", "not_a_video"),
        (["-f", "lavfi", "-i", "testsrc2=s=64x48", "-frames:v", "1"], "i.bmp", "not_a_video"),
        (["-f", "lavfi", "-i", "testsrc2=s=64x48", "-frames:v", "1"], "i.tiff", "not_a_video"),
        (
            ["-f", "lavfi", "-i", "testsrc2=s=64x48", "-frames:v", "1", "-c:v", "libwebp"],
            "i.webp",
            "not_a_video",
        ),
    ],
)
def test_real_files_of_refused_formats(tmp_path, job_dir, small_limits, args, name, code):
    src = tmp_path / name
    ffmpeg(*args, str(src))
    renamed = src.rename(tmp_path / (name + ".mp4"))
    with pytest.raises(MediaError) as err:
        validate(renamed, job_dir, small_limits)
    assert err.value.code == code


def _crc32_mpeg2(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def test_a_codec_this_ffmpeg_cannot_decode_is_named(tmp_path, job_dir, small_limits):
    """AVS2 (a Chinese broadcast codec) in MPEG-TS: the stream type says what it is, but there is no
    decoder here. It is an unsupported codec, not a damaged file."""
    ts = make_video(tmp_path / "h264.ts", seconds=2, acodec=None)
    data = bytearray(ts.read_bytes())
    for start in range(0, len(data), 188):
        packet = data[start : start + 188]
        pid = ((packet[1] & 0x1F) << 8) | packet[2]
        if pid != 0x1000:  # the PMT of ffmpeg's muxer
            continue
        section = 5 + packet[4]  # pointer field
        length = ((packet[section + 1] & 0x0F) << 8) | packet[section + 2]
        end = section + 3 + length - 4
        at = packet.index(b"\x1b\xe1\x00", section)  # stream type H.264, PID 0x100
        data[start + at] = 0xD2  # AVS2
        crc = _crc32_mpeg2(bytes(data[start + section : start + end]))
        data[start + end : start + end + 4] = crc.to_bytes(4, "big")
    src = tmp_path / "avs2.ts"
    src.write_bytes(bytes(data))
    with pytest.raises(MediaError) as err:
        process_media(src, job_dir, small_limits)
    assert err.value.code == "unsupported_codec" and "avs2" in (err.value.detail or "")
