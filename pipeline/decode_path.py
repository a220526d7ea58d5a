"""How much of the video an analysis-only decode (a re-screening, the rendition reused) must decode.

Analysers fed the sampled frames need one picture per sample period, not every frame:
- ``keyframes``: when the keyframes are never more than ``DENSE_GOP_PERIODS`` sample periods apart
  (a phone's 1 s GOP for a 1 fps sampler), only they are decoded (``-skip_frame nokey``): a tenth
  of the work of a full decode;
- ``noref``: otherwise frames no other frame refers to are skipped (``-skip_frame noref``: B-frames
  of most camera encoders), so each sample is at most a frame or two older than the picture at t,
  when two frames are at most ``NOREF_MAX_SHIFT`` of a sample period (a 1 fps sampler: from 20 fps);
  slower video (a slideshow at 5 fps) is decoded whole, as a shift of 0.4 s could change a verdict;
- ``all``: every frame, when an analyser takes every frame of the stream (fingerprints) or the
  timestamps restart (joined recordings).
A codec that can decode at a fraction of its size (``-lowres``) does so while that still gives
frames at least as large as the analysers' frame size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import MediaError
from pipeline.ffmpeg_run import FFPROBE_ARGS, Confinement, input_url, run
from pipeline.limits import MediaLimits
from pipeline.probe import MediaInfo, ffprobe_args

DENSE_GOP_PERIODS = 1.1  # keyframes this many sample periods apart (or closer) are dense enough
NOREF_MAX_SHIFT = 0.1  # sample periods two skipped frames may shift a sample by, at most
# Decoders that can output 1/2, 1/4 or 1/8 size pictures (libavcodec's ``max_lowres`` > 0); H.264,
# HEVC, VP9 and AV1 cannot.
LOWRES_CODECS = frozenset(
    {"mjpeg", "mpeg1video", "mpeg2video", "mpeg4", "h263", "h263p", "flv1", "msmpeg4v1", "msmpeg4v2",
     "msmpeg4v3", "wmv1", "wmv2", "dvvideo"}
)  # fmt: skip
MAX_LOWRES = 3
VERSION = "1"  # folded into the versions of the stages fed the sampled frames (see FrameStream)


@dataclass(frozen=True)
class DecodePath:
    skip_frame: str  # "nokey" | "noref" | "default" (decode every frame)
    lowres: int  # 0: full size; k: 1/2**k of it
    reason: str  # why, for logs and benchmarks

    @property
    def name(self) -> str:
        base = {"nokey": "keyframes", "noref": "noref", "default": "all"}[self.skip_frame]
        return f"{base}+lowres{self.lowres}" if self.lowres else base

    def input_kwargs(self) -> dict[str, str | int]:
        """ffmpeg-python input options (decoder options, given before ``-i``)."""
        kw: dict[str, str | int] = {}
        if self.skip_frame != "default":
            kw["skip_frame"] = self.skip_frame
        if self.lowres:
            kw["lowres"] = self.lowres
        return kw


FULL = DecodePath("default", 0, "every frame")


def keyframe_times(src: Path, workdir: Path, limits: MediaLimits, info: MediaInfo) -> list[float]:
    """Presentation times of the video's keyframe packets, sorted (demux only, nothing decoded);
    none when the scan fails or runs out of time (the decode then takes the sparse path)."""
    argv = [*FFPROBE_ARGS, "-v", "error", *ffprobe_args(info.demuxer, limits)]
    argv += ["-select_streams", str(info.video_index), "-show_entries", "packet=pts_time,flags"]
    argv += ["-of", "csv=p=0", input_url(src)]
    try:
        rc, out, _ = run(argv, workdir, Confinement.for_probe(limits))
    except MediaError:
        return []
    times = []
    for line in out.decode("ascii", "replace").splitlines():
        pts, _, flags = line.partition(",")
        if flags.startswith("K"):
            try:
                times.append(float(pts))
            except ValueError:
                continue
    return sorted(times) if rc == 0 else []


def max_keyframe_gap(times: list[float], start_s: float, duration_s: float) -> float:
    """The longest stretch of the video without a keyframe, its two ends included."""
    if not times:
        return float("inf")
    edges = [start_s, *times, start_s + duration_s]
    return max(max(0.0, b - a) for a, b in zip(edges, edges[1:], strict=False))


def lowres_factor(info: MediaInfo, frame_long_side: int) -> int:
    """The largest ``-lowres`` that still decodes pictures whose long side is >= ``frame_long_side``."""
    if info.video_codec not in LOWRES_CODECS:
        return 0
    long_side = max(info.coded_width, info.coded_height)
    k = 0
    while k < MAX_LOWRES and long_side >> (k + 1) >= frame_long_side:
        k += 1
    return k


def choose_decode_path(
    info: MediaInfo,
    fps: float,
    frame_long_side: int,
    keyframes: list[float],
    *,
    every_frame: bool,
) -> DecodePath:
    """The cheapest decode giving a picture every 1/``fps`` s at ``frame_long_side`` for analysers
    fed the sampled frames; every frame when ``every_frame`` (an analyser reads them all)."""
    if every_frame:
        return FULL
    lowres = lowres_factor(info, frame_long_side)
    if info.parts > 1:
        return DecodePath("default", lowres, "timestamps restart: every frame")
    start = min(keyframes) if keyframes else 0.0
    gap = max_keyframe_gap(keyframes, start, info.duration_s)
    if gap <= DENSE_GOP_PERIODS / fps:
        return DecodePath("nokey", lowres, f"keyframes at most {gap:.2f} s apart")
    if 2.0 / info.fps <= NOREF_MAX_SHIFT / fps:
        return DecodePath("noref", lowres, f"keyframes up to {gap:.2f} s apart: reference frames")
    return DecodePath("default", lowres, f"keyframes up to {gap:.2f} s apart, {info.fps:g} fps: every frame")
