"""THE ONE DECODE: one ffmpeg process writes the rendition, the sampled frame stream and the 8 kHz
audio track from a single demux/decode, and catches truncated or corrupt streams on the way."""

from __future__ import annotations

import contextlib
import fcntl
import json
import queue
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import ffmpeg
import numpy as np

from pipeline.decode_path import FULL, DecodePath
from pipeline.errors import MediaError
from pipeline.ffmpeg_run import (
    FFMPEG_ARGS,
    FFPROBE_ARGS,
    FORMAT_WHITELIST,
    PROTOCOL_WHITELIST,
    Confined,
    Confinement,
    input_url,
    run,
)
from pipeline.frames import Frame
from pipeline.limits import MediaLimits
from pipeline.poster import PosterPicker
from pipeline.probe import MediaInfo, decoder_pixel_cap
from pipeline.rendition import (
    RENDITION_NAME,
    RenditionPlan,
    display_size,
    fit_within,
    tonemap_filters,
    transcode_plan,
)

AUDIO_NAME = "audio_8k.s16"
POSTER_NAME = "poster.jpg"
AUDIO_RATE = 8000
FRAMES_VERSION = "2"  # the analysis frame stream (2: HDR tone-mapped); analysers fold it into theirs
MAX_MIXED_CHANNELS = 8  # ffmpeg downmixes up to 7.1; wider unknown layouts keep their first two channels
F_SETPIPE_SZ = 1031  # Linux fcntl: grow the frame pipe so ffmpeg writes a whole frame per syscall
PIPE_BYTES = 1024 * 1024
# A decode that stops short of the container duration by more than this was cut off.
DURATION_SLACK_S, DURATION_SLACK_RATIO = 1.0, 0.01
# Outputs are cut at the declared duration + OUTPUT_CAP_S; reaching past + OVERRUN_S means a lie.
OUTPUT_CAP_S, OVERRUN_S = 2.0, 1.5
# ffmpeg's words for running out of data; the mov demuxer flags a short read (sample data past the
# end of the file) as a corrupt packet, while for MPEG-TS that flag means lost packets.
_TRUNCATION_HINTS = ("partial file", "ended prematurely", "End of file", "runcat")
_MOV_SHORT_READ = "corrupt input packet"
# Glitches players conceal (a few damaged packets, lost MPEG-TS packets) are tolerated and reported
# as warnings; a stream is corrupt when more than this share of its decoded frames was damaged.
MAX_DAMAGED_SHARE = 0.02
# ffmpeg's log is parsed as it streams: every line tagged with its level, repeats not folded.
LOG_LEVEL = "repeat+level+verbose"
_KEPT_LEVELS = {"warning", "error", "fatal", "panic"}
_LEVEL = re.compile(r"^(?:\[[^\]]* @ [^\]]*\] )?\[(\w+)\] ")
_SHOWINFO = re.compile(r"^\[Parsed_showinfo_\d+ @ ")
_SHOWINFO_TB = re.compile(r"config in time_base: (\d+)/(\d+)")
_SHOWINFO_PTS = re.compile(r"\] n:\s*\d+\s+pts:\s*(-?\d+)\s+pts_time:(\S+)")
_DAMAGE = re.compile(
    r"Error while decoding stream #0:(\d+)|corrupt decoded frame in stream (\d+)"
    r"|corrupt input packet in stream (\d+)"
)
_DECODED = re.compile(r"Input stream #0:(\d+) \(\w+\): \d+ packets read \(\d+ bytes\); (\d+) frames decoded")
_RENDITION_DTS = "Non-monotonous DTS in output stream 0:"  # the rendition is output 0
FRAME_TIME_WAIT_S = 30.0  # the log line of a frame is written before its pixels: never waited on


@dataclass(frozen=True)
class RenditionOutput:
    path: Path
    mode: str  # remux | transcode
    width: int
    height: int


class DecodeLog:
    """What ffmpeg's log says about one decode, parsed line by line as it is written (the
    ``on_line`` hook of ``Confined``): sample times, damaged and decoded frames per input stream,
    and timestamps the rendition muxer had to fix."""

    def __init__(self) -> None:
        self.frame_times: queue.Queue[float] = queue.Queue()
        self.damaged: Counter[int] = Counter()  # input stream index -> damaged packets/frames
        self.decoded: dict[int, int] = {}  # input stream index -> frames decoded
        self.rendition_dts_fixes = 0
        self._time_base: Fraction | None = None

    def __call__(self, line: str) -> bool:
        """Record ``line``; True when it need not be kept for diagnosis (below warning level)."""
        if _SHOWINFO.match(line):
            self._showinfo(line)
            return True
        if m := _DAMAGE.search(line):
            self.damaged[int(next(g for g in m.groups() if g))] += 1
        elif m := _DECODED.search(line):
            self.decoded[int(m.group(1))] = int(m.group(2))
        elif _RENDITION_DTS in line:
            self.rendition_dts_fixes += 1
        level = _LEVEL.match(line)
        return level is not None and level.group(1) not in _KEPT_LEVELS

    def _showinfo(self, line: str) -> None:
        if m := _SHOWINFO_TB.search(line):
            num, den = int(m.group(1)), int(m.group(2))
            self._time_base = Fraction(num, den) if num and den else None
        elif m := _SHOWINFO_PTS.search(line):
            if self._time_base is not None:
                self.frame_times.put(round(float(int(m.group(1)) * self._time_base), 6))
            else:
                with contextlib.suppress(ValueError):
                    self.frame_times.put(float(m.group(2)))

    def next_frame_time(self, fallback: float) -> float:
        """Presentation time of the next sampled frame (``fallback`` if the log never says)."""
        try:
            return self.frame_times.get(timeout=FRAME_TIME_WAIT_S)
        except queue.Empty:
            return fallback

    def damage(self, info: MediaInfo) -> dict[str, tuple[int, int]]:
        """``{"video"|"audio": (damaged, decoded)}`` for the streams with any damage."""
        out = {}
        for kind, index in (("video", info.video_index), ("audio", info.audio_index)):
            if index is not None and self.damaged[index]:
                out[kind] = (self.damaged[index], self.decoded.get(index, 0))
        return out


@dataclass
class DecodeResult:
    rendition: RenditionOutput
    poster_path: Path | None
    audio_path: Path | None
    frames_seen: int
    decoded_duration_s: float
    plan: RenditionPlan  # the plan carried out (a failed remux falls back to a transcode)
    warnings: list[str] = field(default_factory=list)  # tolerated problems, for the report
    timings: dict[str, float] = field(default_factory=dict)  # decode (without time in on_frame), poster


def frame_size(info: MediaInfo, limits: MediaLimits) -> tuple[int, int]:
    """Analysis frame size: display orientation, square pixels, long side <= analysis_max_side."""
    w, h = display_size(info)
    side = limits.analysis_max_side
    return fit_within(w, h, side, side, even=False)


def _input(src: Path, info: MediaInfo, limits: MediaLimits, path: DecodePath = FULL):
    return ffmpeg.input(
        input_url(src),
        protocol_whitelist=PROTOCOL_WHITELIST,
        format_whitelist=FORMAT_WHITELIST,
        f=info.demuxer,
        max_pixels=decoder_pixel_cap(limits),
        threads=limits.threads,
        **path.input_kwargs(),
    )


def _frames_output(inp, info: MediaInfo, limits: MediaLimits, until_s: float, fps: float | None = None):
    w, h = frame_size(info, limits)
    # round=up: the sample at grid time t is the picture on screen at t (the last frame at or
    # before t), not one up to half a sample period later.
    stream = inp[str(info.video_index)].filter("fps", fps=fps or limits.analysis_fps, round="up")
    stream = stream.filter("scale", w=w, h=h, flags="area")
    for name, kwargs in tonemap_filters(info):
        stream = stream.filter(name, **kwargs)
    stream = stream.filter("setsar", sar=1)
    # showinfo logs each sample's presentation time; passthrough: every sample is sent once (the
    # default constant-rate sync would repeat the first one when the video starts after 0).
    stream = stream.filter("showinfo")
    return ffmpeg.output(stream, "pipe:1", f="rawvideo", pix_fmt="bgr24", t=until_s, fps_mode="passthrough")


def _audio_in(inp, info: MediaInfo, layout: str):
    """The audio stream; beyond 8 channels (no standard layout to downmix from) only its first two,
    as ``layout`` (``stereo`` for the rendition, ``mono`` for analysis: distinct filters, as one
    filter cannot feed two outputs)."""
    stream = inp[str(info.audio_index)]
    if (info.audio_channels or 0) > MAX_MIXED_CHANNELS:
        mix = "stereo|c0<c0|c1<c1" if layout == "stereo" else "mono|c0<c0+c1"  # "<": gains renormalised
        stream = stream.filter("pan", mix)
    return stream


def _rendition_output(
    inp, info: MediaInfo, plan: RenditionPlan, limits: MediaLimits, out: Path, until_s: float
):
    video = inp[str(info.video_index)]
    for name, kwargs in plan.video_filters:
        video = video.filter(name, **kwargs)
    streams = [video]
    if info.audio_index is not None and plan.audio:
        streams.append(_audio_in(inp, info, "stereo"))
    return ffmpeg.output(*streams, str(out), t=until_s, **plan.output_kwargs(limits.threads))


def _audio_output(inp, info: MediaInfo, out: Path, until_s: float):
    return ffmpeg.output(
        _audio_in(inp, info, "mono"), str(out), f="s16le", acodec="pcm_s16le", ac=1, ar=AUDIO_RATE, t=until_s
    )


def _argv(outputs: list, limits: MediaLimits) -> list[str]:
    node = ffmpeg.merge_outputs(*outputs) if len(outputs) > 1 else outputs[0]
    # No -xerror: concealed glitches are counted from the log (``DecodeLog``) and judged afterwards.
    return [
        *FFMPEG_ARGS,
        *("-nostats", "-v", LOG_LEVEL, "-y"),
        *("-filter_complex_threads", str(limits.threads)),
        *node.compile()[1:],
    ]


def _read_frames(
    child: Confined, width: int, height: int, fps: float, log: DecodeLog, index_step: int = 1
) -> Iterator[Frame]:
    """Frames from the raw BGR pipe (one array allocated per frame and filled in place), each
    stamped with its presentation time from the log and numbered ``index_step`` apart."""
    pipe = child.stdout
    with contextlib.suppress(OSError):
        fcntl.fcntl(pipe.fileno(), F_SETPIPE_SZ, PIPE_BYTES)
    index, t = 0, -1.0 / fps
    while True:
        image = np.empty((height, width, 3), np.uint8)
        view = memoryview(image).cast("B")
        got = 0
        while got < len(view):
            n = pipe.readinto(view[got:])
            if not n:
                break
            got += n
        if got < len(view):
            return  # EOF (a partial last frame means ffmpeg died: its exit status tells why)
        t = log.next_frame_time(t + 1.0 / fps)
        yield Frame(index=index, t=t, image=image)
        index += index_step


def _classify_failure(stderr: str, demuxer: str) -> MediaError:
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    detail = lines[-1][:300] if lines else "ffmpeg failed"
    if "exceeds specified max pixel count" in stderr:
        return MediaError("dimensions_too_large", detail)
    if any(h in stderr for h in _TRUNCATION_HINTS) or (demuxer == "mov" and _MOV_SHORT_READ in stderr):
        return MediaError("truncated", detail)
    return MediaError("corrupt", detail)


def _discard(paths: Sequence[Path]) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


def _probe_duration(path: Path, workdir: Path, limits: MediaLimits) -> float:
    """Duration of our own rendition (its moov is at the front: cheap)."""
    argv = [*FFPROBE_ARGS, "-v", "error", "-f", "mov", "-show_entries", "format=duration"]
    argv += ["-of", "json", input_url(path)]
    rc, out, _ = run(argv, workdir, Confinement.for_probe(limits))
    try:
        return float(json.loads(out)["format"]["duration"]) if rc == 0 else 0.0
    except (KeyError, TypeError, ValueError):
        return 0.0


def _check_complete(decoded_s: float, expected_s: float) -> None:
    """The decode must reach the declared duration, and not run into the cap past it (a header
    that under-declares the duration would otherwise slip a long file past ``too_long``)."""
    if decoded_s < expected_s - max(DURATION_SLACK_S, DURATION_SLACK_RATIO * expected_s):
        raise MediaError("truncated", f"decoded {decoded_s:.2f} s of {expected_s:.2f} s")
    if decoded_s > expected_s + OVERRUN_S:
        raise MediaError("corrupt", f"the streams run past the declared {expected_s:.2f} s")


def _check_damage(log: DecodeLog, info: MediaInfo) -> list[str]:
    """Warnings for concealed damage; ``corrupt`` when a stream's damaged share of its decoded frames
    is above ``MAX_DAMAGED_SHARE`` (a glitch players hide is not a reason to reject a lesson)."""
    warnings = []
    for kind, (damaged, decoded) in log.damage(info).items():
        what = f"{damaged} damaged packets/frames in {decoded} decoded {kind} frames"
        if damaged > MAX_DAMAGED_SHARE * decoded:
            raise MediaError("corrupt", what)
        warnings.append(f"{what}, concealed")
    return warnings


def _remake_rendition(
    src: Path, info: MediaInfo, plan: RenditionPlan, workdir: Path, limits: MediaLimits, until_s: float
) -> None:
    """A rendition-only pass (the frames and audio of the first pass stay valid)."""
    out = workdir / RENDITION_NAME
    out.unlink(missing_ok=True)
    node = _rendition_output(_input(src, info, limits), info, plan, limits, out, until_s)
    conf = Confinement.for_decode(limits, info.duration_s, info.size_bytes)
    with Confined(_argv([node], limits), workdir, conf, stdout_pipe=False, on_line=DecodeLog()) as child:
        rc, stderr = child.wait()
    if rc != 0:
        raise _classify_failure(stderr, info.demuxer)


def _pass(
    src: Path,
    info: MediaInfo,
    plan: RenditionPlan,
    workdir: Path,
    limits: MediaLimits,
    feed: Callable[[Frame], None],
) -> tuple[int, str, DecodeLog, int]:
    """Run the one ffmpeg pass, feeding every sampled frame; returns (returncode, stderr tail,
    parsed log, frames sampled)."""
    until = info.duration_s + OUTPUT_CAP_S  # never decode far past the declared duration
    inp = _input(src, info, limits)
    outs = [
        _rendition_output(inp, info, plan, limits, workdir / RENDITION_NAME, until),
        _frames_output(inp, info, limits, until),
    ]
    if info.has_audio:
        outs.append(_audio_output(inp, info, workdir / AUDIO_NAME, until))
    width, height = frame_size(info, limits)
    conf = Confinement.for_decode(limits, info.duration_s, info.size_bytes)
    log, seen = DecodeLog(), 0
    with Confined(_argv(outs, limits), workdir, conf, stdout_pipe=True, on_line=log) as child:
        for frame in _read_frames(child, width, height, limits.analysis_fps, log):
            seen += 1
            feed(frame)
        rc, stderr = child.wait()
    return rc, stderr, log, seen


def decode_once(
    src: Path,
    info: MediaInfo,
    plan: RenditionPlan,
    workdir: Path,
    limits: MediaLimits,
    on_frame: Callable[[Frame], None] | None = None,
    progress: Callable[[float], None] | None = None,
) -> DecodeResult:
    """One ffmpeg pass over ``src``: rendition + every sampled frame to ``on_frame`` (the analyser
    host) + 8 kHz audio; then the poster. A remux whose timestamps the mp4 muxer had to fix gets a
    transcoded rendition from a second, rendition-only pass. Raises ``MediaError``
    (``truncated``/``corrupt``, or a confinement code) after deleting every partial output."""
    workdir = Path(workdir)
    rendition = workdir / RENDITION_NAME
    audio = workdir / AUDIO_NAME if info.has_audio else None
    poster = workdir / POSTER_NAME
    outputs_paths = [p for p in (rendition, audio, poster) if p is not None]
    if Path(src).resolve() in {p.resolve() for p in outputs_paths}:
        raise ValueError(f"the upload may not be named like an output: {src}")
    _discard(outputs_paths)
    until = info.duration_s + OUTPUT_CAP_S  # never decode far past the declared duration

    picker = PosterPicker(info.duration_s)
    warnings: list[str] = []
    started = time.perf_counter()
    fed_s = 0.0  # time spent in on_frame, not the decode's

    def feed(frame: Frame) -> None:
        nonlocal fed_s
        picker.process(frame)
        if on_frame is not None:
            t0 = time.perf_counter()
            on_frame(frame)
            fed_s += time.perf_counter() - t0
        if progress is not None and info.duration_s > 0:
            progress(min(1.0, frame.t / info.duration_s))

    try:
        rc, stderr, log, frames_seen = _pass(src, info, plan, workdir, limits, feed)
        if rc != 0:
            raise _classify_failure(stderr, info.demuxer)
        if plan.mode == "remux" and log.rendition_dts_fixes:
            plan = transcode_plan(info, "remux failed: non-monotonic timestamps")
            _remake_rendition(src, info, plan, workdir, limits, until)
            warnings.append("non-monotonic timestamps: the review copy was transcoded")
        decoded = _probe_duration(rendition, workdir, limits)
        _check_complete(decoded, info.duration_s)
        if frames_seen == 0:
            raise MediaError("corrupt", "no picture could be decoded")
        warnings = _check_damage(log, info) + warnings
    except BaseException:
        _discard(outputs_paths)
        raise
    timings = {"decode": time.perf_counter() - started - fed_s}

    t0 = time.perf_counter()
    poster_path = poster if picker.write(poster) else None
    timings["poster"] = time.perf_counter() - t0
    return DecodeResult(
        rendition=RenditionOutput(rendition, plan.mode, plan.width, plan.height),
        poster_path=poster_path,
        audio_path=audio,
        frames_seen=frames_seen,
        decoded_duration_s=decoded,
        plan=plan,
        warnings=warnings,
        timings=timings,
    )


def stream_frames(src: Path, info: MediaInfo, workdir: Path, limits: MediaLimits) -> Iterator[Frame]:
    """The sampled frame stream alone (no rendition, no audio), for analysers' tests and tools.
    Raises ``MediaError`` at the end when ffmpeg failed."""
    until = info.duration_s + OUTPUT_CAP_S
    argv = _argv([_frames_output(_input(src, info, limits), info, limits, until)], limits)
    width, height = frame_size(info, limits)
    conf = Confinement.for_decode(limits, info.duration_s, info.size_bytes)
    log = DecodeLog()
    with Confined(argv, Path(workdir), conf, stdout_pipe=True, on_line=log) as child:
        yield from _read_frames(child, width, height, limits.analysis_fps, log)
        rc, stderr = child.wait()
    if rc != 0:
        raise _classify_failure(stderr, info.demuxer)


@dataclass
class AnalysisDecode:
    frames_seen: int
    frames_decoded: int  # pictures the decoder produced (the decode path's work)
    audio_path: Path | None
    timings: dict[str, float] = field(default_factory=dict)  # decode (without time in on_frame)


def decode_for_analysis(
    src: Path,
    info: MediaInfo,
    workdir: Path,
    limits: MediaLimits,
    path: DecodePath,
    on_frame: Callable[[Frame], None],
    *,
    decimation: int = 1,
    audio: bool = False,
) -> AnalysisDecode:
    """An analysis-only pass (a re-screening: the rendition is reused): the frame stream at
    ``limits.analysis_fps / decimation`` decoded along ``path``, frames numbered as in the full
    stream (so every ``decimation``-th index), and the 8 kHz audio track when ``audio``. Raises
    ``MediaError`` when ffmpeg fails or no picture comes out."""
    workdir = Path(workdir)
    audio_path = workdir / AUDIO_NAME if audio and info.has_audio else None
    if audio_path is not None:
        audio_path.unlink(missing_ok=True)
    until = info.duration_s + OUTPUT_CAP_S
    fps = limits.analysis_fps / decimation
    inp = _input(src, info, limits, path)
    outs = [_frames_output(inp, info, limits, until, fps)]
    if audio_path is not None:
        outs.append(_audio_output(inp, info, audio_path, until))
    width, height = frame_size(info, limits)
    conf = Confinement.for_decode(limits, info.duration_s, info.size_bytes)
    log, seen, fed_s = DecodeLog(), 0, 0.0
    started = time.perf_counter()
    with Confined(_argv(outs, limits), workdir, conf, stdout_pipe=True, on_line=log) as child:
        for frame in _read_frames(child, width, height, fps, log, decimation):
            seen += 1
            t0 = time.perf_counter()
            on_frame(frame)
            fed_s += time.perf_counter() - t0
        rc, stderr = child.wait()
    if rc != 0:
        raise _classify_failure(stderr, info.demuxer)
    if seen == 0:
        raise MediaError("corrupt", "no picture could be decoded")
    return AnalysisDecode(
        frames_seen=seen,
        frames_decoded=log.decoded.get(info.video_index, 0),
        audio_path=audio_path,
        timings={"decode": time.perf_counter() - started - fed_s},
    )
