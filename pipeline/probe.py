"""ffprobe with the demuxer pinned, reduced to the facts the pipeline needs (``MediaInfo``)."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

from pipeline.errors import MediaError
from pipeline.ffmpeg_run import (
    FFMPEG_ARGS,
    FFPROBE_ARGS,
    FORMAT_WHITELIST,
    PROTOCOL_WHITELIST,
    Confinement,
    input_url,
    run,
)
from pipeline.limits import MediaLimits
from pipeline.sniff import sniff

MAX_SANE_FPS = 240.0
MIN_SAR, MAX_SAR = 0.1, 10.0
HDR_TRANSFERS = frozenset({"smpte2084", "arib-std-b67"})
FPS_SCAN_S = 10  # seconds of packets read when the header's frame rate is missing or implausible
FALLBACK_FPS = 25.0
JOINABLE_DEMUXERS = frozenset({"mpegts", "mpeg"})  # parts of these are often joined byte for byte
TS_JUMP_BACK_S, TS_JUMP_AHEAD_S = 0.1, 10.0  # where ffmpeg treats a timestamp jump as a new part


@dataclass(frozen=True)
class MediaInfo:
    container: str  # the sniffed short name (``Sniffed.container``)
    demuxer: str  # the ffmpeg demuxer forced with -f
    size_bytes: int
    duration_s: float
    width: int  # as displayed: rotation applied
    height: int
    coded_width: int
    coded_height: int
    rotation: int  # display-matrix rotation as ffprobe reports it, mod 360: 0, 90, 180 or 270
    sar: float  # sample (pixel) aspect ratio; 1.0 for square pixels
    fps: float
    video_index: int  # absolute stream index of the video stream used (cover art skipped)
    video_codec: str
    pix_fmt: str | None
    profile: str | None
    bit_depth: int | None
    interlaced: bool
    audio_index: int | None
    audio_codec: str | None
    audio_channels: int | None
    audio_sample_rate: int | None
    parts: int = 1  # stretches of continuous timestamps (a transport stream joined from recordings)
    sar_ignored: bool = False  # the declared pixel aspect ratio was implausible (shown as square)
    video_duration_s: float | None = None  # the picture's own length, when the container states it
    color_transfer: str | None = None  # smpte2084 (PQ) or arib-std-b67 (HLG): HDR
    color_primaries: str | None = None
    color_space: str | None = None

    @property
    def hdr(self) -> bool:
        """High dynamic range (HDR10/Dolby Vision PQ, or HLG as phones record by default)."""
        return self.color_transfer in HDR_TRANSFERS

    @property
    def has_audio(self) -> bool:
        return self.audio_index is not None

    @property
    def portrait(self) -> bool:
        return self.height > self.width


@cache
def video_decoders() -> frozenset[str]:
    """The video codecs this ffmpeg can decode (``ffmpeg -decoders``), read once per process."""
    out = subprocess.run(
        [*FFMPEG_ARGS, "-decoders"], capture_output=True, text=True, timeout=30, check=False
    ).stdout
    return frozenset(m.group(1) for m in re.finditer(r"^ V\S{5} (\S+)", out, re.MULTILINE))


def decoder_pixel_cap(limits: MediaLimits) -> int:
    """``-max_pixels`` for decoders: the largest accepted picture plus the width alignment padding
    decoders allocate (a 2160x3840 portrait frame is allocated 2176 wide)."""
    return (limits.max_long_side + 128) * (limits.max_short_side + 128)


def ffprobe_args(demuxer: str, limits: MediaLimits) -> list[str]:
    """Input options shared by ffprobe and ffmpeg: pinned demuxer, whitelists, decoder pixel cap."""
    return [
        "-protocol_whitelist",
        PROTOCOL_WHITELIST,
        "-format_whitelist",
        FORMAT_WHITELIST,
        "-f",
        demuxer,
        "-max_pixels",
        str(decoder_pixel_cap(limits)),
    ]


def probe(src: Path, workdir: Path, limits: MediaLimits) -> MediaInfo:
    """Sniff then ffprobe ``src`` (running in ``workdir``); raises ``MediaError`` on unusable files."""
    src = Path(src)
    size = src.stat().st_size
    if size == 0:
        raise MediaError("empty_file")
    sniffed = sniff(src)
    conf = Confinement.for_probe(limits)
    argv = [*FFPROBE_ARGS, "-v", "error", *ffprobe_args(sniffed.demuxer, limits)]
    argv += ["-show_format", "-show_streams", "-of", "json", input_url(src)]
    rc, out, err = run(argv, workdir, conf)
    if rc != 0:
        raise _probe_error(err)
    data = json.loads(out or b"{}")
    streams = data.get("streams") or []
    fmt = data.get("format") or {}
    video = _first(streams, "video")
    if video is None:
        raise MediaError("no_video_stream")
    if not video.get("codec_name"):
        raise MediaError("unsupported_codec", f"unknown video codec (tag {video.get('codec_tag_string')})")
    coded_w, coded_h = int(video.get("width") or 0), int(video.get("height") or 0)
    if coded_w <= 0 or coded_h <= 0:
        if video["codec_name"] not in video_decoders():
            raise MediaError("unsupported_codec", f"no decoder for {video['codec_name']} video")
        raise MediaError("corrupt", "the video stream has no picture size")
    rotation = _rotation(video)
    width, height = (coded_h, coded_w) if rotation in (90, 270) else (coded_w, coded_h)
    audio = _first(streams, "audio")
    duration = _duration(fmt, video, audio, sniffed.demuxer)
    parts = 1
    if duration is None or sniffed.demuxer in JOINABLE_DEMUXERS:
        try:
            duration, parts = _scan_duration(src, workdir, limits, sniffed.demuxer, video["index"], conf)
        except MediaError as exc:  # a huge file can outlast the probe budget: the header's word stands
            if duration is None or exc.code not in ("processing_timeout", "resource_limit"):
                raise
    fps = _fps(video, duration)
    if fps is None:
        fps = _measured_fps(src, workdir, limits, sniffed.demuxer, video["index"], conf)
    return MediaInfo(
        container=sniffed.container,
        demuxer=sniffed.demuxer,
        size_bytes=size,
        duration_s=duration,
        width=width,
        height=height,
        coded_width=coded_w,
        coded_height=coded_h,
        rotation=rotation,
        sar=_sar(video),
        sar_ignored=_sar_implausible(video),
        video_duration_s=_float(video.get("duration")),
        fps=fps,
        video_index=int(video["index"]),
        video_codec=video["codec_name"],
        pix_fmt=video.get("pix_fmt"),
        profile=video.get("profile"),
        bit_depth=_bit_depth(video),
        interlaced=video.get("field_order") in ("tt", "bb", "tb", "bt"),
        audio_index=int(audio["index"]) if audio and audio.get("codec_name") else None,
        audio_codec=audio.get("codec_name") if audio else None,
        audio_channels=int(audio["channels"]) if audio and audio.get("channels") else None,
        audio_sample_rate=int(audio["sample_rate"]) if audio and audio.get("sample_rate") else None,
        parts=parts,
        color_transfer=video.get("color_transfer"),
        color_primaries=video.get("color_primaries"),
        color_space=video.get("color_space"),
    )


LATE_START_S = 1.0  # timestamps starting later than this are an offset, not a leading gap


def _probe_error(stderr: str) -> MediaError:
    if "moov atom not found" in stderr:
        return MediaError("truncated", "moov atom not found")
    if "exceeds specified max pixel count" in stderr:
        return MediaError("dimensions_too_large", "picture size above the decoder pixel cap")
    if "not on whitelist" in stderr:
        return MediaError("unsupported_container", "nested format not on the whitelist")
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    return MediaError("corrupt", lines[-1][:300] if lines else "ffprobe could not read the file")


def _first(streams: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    """The stream of ``kind`` to use: the first audio stream; for video the one players show (marked
    default: in MP4 an enabled track), the largest picture among those (a recorder's preview track
    may come first), then the first. Cover art and thumbnails are not video."""
    found = []
    for s in streams:
        if s.get("codec_type") != kind:
            continue
        disp = s.get("disposition") or {}
        if kind == "video" and (disp.get("attached_pic") or disp.get("timed_thumbnails")):
            continue
        found.append(s)
    if not found or kind != "video":
        return found[0] if found else None
    ranked = [(bool((s.get("disposition") or {}).get("default")), _area(s), -i) for i, s in enumerate(found)]
    return found[-max(ranked)[2]]


def _area(video: dict[str, Any]) -> int:
    try:
        return max(0, int(video.get("width") or 0)) * max(0, int(video.get("height") or 0))
    except (TypeError, ValueError):
        return 0


def _rotation(video: dict[str, Any]) -> int:
    """Display rotation from the display matrix (or the legacy ``rotate`` tag), snapped to 90°."""
    for sd in video.get("side_data_list") or []:
        if "rotation" in sd:
            return int(round(float(sd["rotation"]) / 90.0)) * 90 % 360
    tag = (video.get("tags") or {}).get("rotate")
    if tag and re.fullmatch(r"-?\d+", tag.strip()):
        return int(round(int(tag) / 90.0)) * 90 % 360
    return 0


def _ratio(text: str | None) -> float | None:
    if not text or text in ("0/0", "N/A"):
        return None
    try:
        value = float(Fraction(text.replace(":", "/")))
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 else None


def _sar(video: dict[str, Any]) -> float:
    sar = _ratio(video.get("sample_aspect_ratio"))
    return sar if sar and MIN_SAR <= sar <= MAX_SAR else 1.0


def _sar_implausible(video: dict[str, Any]) -> bool:
    """A declared pixel aspect ratio no camera uses (1:100): shown as square pixels instead."""
    sar = _ratio(video.get("sample_aspect_ratio"))
    return bool(sar) and not MIN_SAR <= sar <= MAX_SAR


def _fps(video: dict[str, Any], duration: float) -> float | None:
    """avg_frame_rate when sane (right for variable-rate phone video), else r_frame_rate,
    else frames / duration; None when the header says nothing believable."""
    for key in ("avg_frame_rate", "r_frame_rate"):
        fps = _ratio(video.get(key))
        if fps and fps <= MAX_SANE_FPS:
            return round(fps, 3)
    frames = video.get("nb_frames")
    if frames and str(frames).isdigit() and duration > 0:
        fps = int(frames) / duration
        if 0 < fps <= MAX_SANE_FPS:
            return round(fps, 3)
    return None


def _bit_depth(video: dict[str, Any]) -> int | None:
    raw = video.get("bits_per_raw_sample")
    if raw and str(raw).isdigit():
        return int(raw)
    pix = video.get("pix_fmt") or ""
    m = re.search(r"p(\d{2})(le|be)?$", pix)
    if m:
        return int(m.group(1))
    return 8 if pix.startswith(("yuv", "yuvj", "nv12", "gray")) else None


def _float(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if f > 0 and f == f and f != float("inf") else None


def _duration(
    fmt: dict[str, Any], video: dict[str, Any], audio: dict[str, Any] | None, demuxer: str
) -> float | None:
    """Container duration, else the video stream's; None when neither is known. MP4/MOV: the longer
    of its video and audio tracks, as their sample tables say (the movie header's own duration can
    be wrong, even zero-based on a zero timescale, in a complete, playable file). MP4/MOV and
    Matroska state where the file ends, not how long it lasts: when its timestamps start late (a
    recorder's time of day, a stream saved with its own clock), the start is taken off."""
    if demuxer == "mov":
        tracks = [d for d in (_float(video.get("duration")), _float((audio or {}).get("duration"))) if d]
        if tracks:
            return max(tracks)
    total = _float(fmt.get("duration")) or _float(video.get("duration"))
    start = _float(fmt.get("start_time")) or 0.0
    if total is not None and demuxer in ("mov", "matroska") and start >= LATE_START_S and total > start:
        return total - start
    return total


@dataclass(frozen=True)
class _Packet:
    dts: float
    pts: float
    duration: float


def _packet_times(
    src: Path, workdir: Path, limits: MediaLimits, demuxer: str, index: int, conf: Confinement, interval: str
) -> list[_Packet]:
    """The video packets in ``interval`` (``-read_intervals`` syntax, "" for all; demux only, no
    decode), in file order; packets without a presentation timestamp are left out."""
    argv = [*FFPROBE_ARGS, "-v", "error", *ffprobe_args(demuxer, limits)]
    argv += ["-select_streams", str(index), "-show_entries", "packet=pts_time,dts_time,duration_time"]
    if interval:
        argv += ["-read_intervals", interval]
    argv += ["-of", "compact=p=0", input_url(src)]
    _, out, _ = run(argv, workdir, conf)
    packets = []
    for line in out.decode("ascii", "replace").splitlines():
        fields = dict(item.split("=", 1) for item in line.split("|") if "=" in item)
        pts = _float(fields.get("pts_time"))
        if pts is None and fields.get("pts_time", "").strip() in ("0", "0.000000"):
            pts = 0.0
        if pts is not None:
            dts = _float(fields.get("dts_time"))
            packets.append(
                _Packet(pts if dts is None else dts, pts, _float(fields.get("duration_time")) or 0.0)
            )
    return packets


def _timeline_spans(packets: list[_Packet]) -> list[tuple[float, float]]:
    """(start, end) of each stretch of continuous timestamps. A stream joined from recordings (parts
    copied together, a recorder restarted) jumps back or far ahead where a part begins; ffmpeg plays
    the parts one after another, so the video lasts the sum of the spans."""
    spans: list[tuple[float, float]] = []
    first = last = prev = None
    for p in packets:
        if prev is not None and (p.dts < prev - TS_JUMP_BACK_S or p.dts > prev + TS_JUMP_AHEAD_S):
            spans.append((first, last))
            first = last = None
        first = p.pts if first is None else min(first, p.pts)
        last = p.pts + p.duration if last is None else max(last, p.pts + p.duration)
        prev = p.dts
    if first is not None:
        spans.append((first, last))
    return spans


def _scan_duration(
    src: Path, workdir: Path, limits: MediaLimits, demuxer: str, index: int, conf: Confinement
) -> tuple[float, int]:
    """(duration, parts) from the video packet timestamps: for a file without a duration header
    (e.g. a browser MediaRecorder WebM), and for a transport/program stream, whose header duration
    covers only the last part when parts were joined. A file whose timestamps say nothing is corrupt."""
    spans = _timeline_spans(_packet_times(src, workdir, limits, demuxer, index, conf, ""))
    total = sum(end - start for start, end in spans)
    if total <= 0:
        raise MediaError("corrupt", "the duration of the video cannot be determined")
    return round(total, 3), len(spans)


def _measured_fps(
    src: Path, workdir: Path, limits: MediaLimits, demuxer: str, index: int, conf: Confinement
) -> float:
    """Frame rate from the packet timestamps of the first ``FPS_SCAN_S`` seconds, for files whose
    header gives none or an implausible one (it may be real: a hostile 1000 fps file); 25 when the
    timestamps say nothing either."""
    packets = _packet_times(src, workdir, limits, demuxer, index, conf, f"%+{FPS_SCAN_S}")
    pts = sorted({p.pts for p in packets})
    if len(pts) < 2 or pts[-1] <= pts[0]:
        return FALLBACK_FPS
    return round((len(pts) - 1) / (pts[-1] - pts[0]), 3)


def keyframe_sizes(src: Path, workdir: Path, limits: MediaLimits, info: MediaInfo) -> set[tuple[int, int]]:
    """The coded picture sizes of the video's keyframes (a stream may switch size at any of them: a
    concatenated broadcast or adaptive-stream recording). Decodes keyframes only; best effort within
    the probe budget, so a scan cut short reports what it saw."""
    argv = [*FFPROBE_ARGS, "-v", "error", *ffprobe_args(info.demuxer, limits)]
    argv += ["-select_streams", str(info.video_index), "-skip_frame", "nokey"]
    argv += ["-show_entries", "frame=width,height", "-of", "csv=p=0", input_url(src)]
    _, out, _ = run(argv, workdir, Confinement.for_probe(limits))
    sizes = set()
    for line in out.decode("ascii", "replace").splitlines():
        parts = line.strip().strip(",").split(",")
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            sizes.add((int(parts[0]), int(parts[1])))
    return sizes
