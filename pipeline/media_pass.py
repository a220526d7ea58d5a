"""The media pass of a job: validate, plan the rendition, decode once feeding the analysers, finish them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline.analysis.analyser import StageOutput
from pipeline.analysis.host import AnalyserHost
from pipeline.decode import (
    DecodeResult,
    RenditionOutput,
    decode_for_analysis,
    decode_once,
    frame_size,
    stream_frames,
)
from pipeline.decode_path import DecodePath, choose_decode_path, keyframe_times
from pipeline.frames import Frame
from pipeline.limits import MediaLimits
from pipeline.probe import MediaInfo, keyframe_sizes
from pipeline.rendition import RenditionPlan, plan_rendition, transcode_plan
from pipeline.validate import validate

# Bump a stage's version when its output for the same input file would change:
# "validate" for a new or changed check, limit semantics or MediaInfo field;
# "rendition" for different encoder settings, remux rules, poster choice or frame sampling.
# validate 2: ``media.warnings`` (concealed glitches are tolerated and reported, not rejected).
# rendition 2: frames carry their presentation time and are sent once (late-starting video), samples
# are the picture on screen at that time, a remux with non-monotonic timestamps becomes a transcode.
# validate 3: MP4/MOV and Matroska durations of files whose timestamps start late (time of day);
# bytes appended after the last MP4 box are trailing data, not truncation.
# (validate 3 also: a video codec with no decoder here, e.g. AVS2, is unsupported_codec, not corrupt.)
# rendition 3: audio beyond 8 channels in no standard layout is mixed from its first two channels.
STAGE_VERSIONS = {"validate": "4", "rendition": "4"}
SHORT_PICTURE_SHARE = 0.5
# A keyframe-only decode that produced fewer pictures than this share of the keyframe packets
# (keyframes the decoder does not treat as such) is run again on the reference frames.
KEYFRAMES_DECODED_SHARE = 0.9


@dataclass
class MediaOutcome:
    media: dict[str, Any]  # the report's ``media`` object minus sha256
    info: MediaInfo
    plan: RenditionPlan
    rendition: RenditionOutput
    poster_path: Path | None
    audio_path: Path | None
    frames_seen: int
    outputs: dict[str, StageOutput] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds


def media_report(info: MediaInfo) -> dict[str, Any]:
    """The report's ``media`` fields known from validation."""
    return {
        "container": info.container,
        "duration_s": round(info.duration_s, 3),
        "width": info.width,
        "height": info.height,
        "fps": info.fps,
        "video_codec": info.video_codec,
        "audio_codec": info.audio_codec,
    }


def _joined(info: MediaInfo) -> list[str]:
    """A warning for reviewers when the file is several recordings joined (each part is screened, but
    a joined file may also splice in footage from elsewhere)."""
    if info.parts <= 1:
        return []
    return [f"joined from {info.parts} recordings (timestamps restart): screened as one, part after part"]


def _short_picture(info: MediaInfo) -> list[str]:
    """A warning when the picture covers under half the file (sound running on over a still frame)."""
    video = info.video_duration_s
    if video is None or video >= SHORT_PICTURE_SHARE * info.duration_s or info.duration_s - video < 5:
        return []
    return [
        f"the picture lasts {video:.1f} s of {info.duration_s:.1f} s; the rest is sound over a still frame"
    ]


def process_media(
    src: Path,
    workdir: Path,
    limits: MediaLimits,
    host: AnalyserHost | None = None,
    progress: Callable[[float], None] | None = None,
) -> MediaOutcome:
    """Validate ``src``, run the one decode in ``workdir`` (an empty per-job directory) feeding
    ``host``'s analysers, then finish them. Raises ``MediaError`` for a rejected file (no analyser
    is finished then); partial outputs are removed."""
    host = host or AnalyserHost([])
    t0 = time.perf_counter()
    info = validate(src, workdir, limits)
    plan = plan_rendition(info)
    if plan.mode == "remux" and info.parts > 1:  # an mp4 cannot take timestamps that restart
        plan = transcode_plan(info, f"joined from {info.parts} recordings")
    elif plan.mode == "remux" and len(keyframe_sizes(src, workdir, limits, info)) > 1:
        plan = transcode_plan(info, "the picture size changes mid-stream", letterbox=True)
    validate_s = time.perf_counter() - t0
    result: DecodeResult = decode_once(src, info, plan, workdir, limits, host.process, progress)
    outputs = host.finish(workdir, result.decoded_duration_s, result.audio_path)
    if progress is not None:
        progress(1.0)
    return MediaOutcome(
        media={**media_report(info), "warnings": _joined(info) + _short_picture(info) + result.warnings},
        info=info,
        plan=result.plan,
        rendition=result.rendition,
        poster_path=result.poster_path,
        audio_path=result.audio_path,
        frames_seen=result.frames_seen,
        outputs=outputs,
        timings={"validate": validate_s, **result.timings, **host.timings},
    )


@dataclass
class RescreenOutcome:
    info: MediaInfo
    path: DecodePath  # the decode path taken
    frames_seen: int
    frames_decoded: int
    outputs: dict[str, StageOutput] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds


def rescreen_media(
    src: Path, workdir: Path, limits: MediaLimits, make_host: Callable[[], AnalyserHost]
) -> RescreenOutcome:
    """Run again only the analysers of ``make_host()`` on an already screened file (its rendition
    and the other stages are reused): validate, then decode only what they need (see
    ``pipeline.decode_path``) and finish them. ``make_host`` is called again when a keyframe-only
    decode falls short and the reference frames are decoded instead."""
    t0 = time.perf_counter()
    info = validate(src, workdir, limits)
    host = make_host()
    fps = limits.analysis_fps / host.decimation
    every = host.takes_every_frame
    keyframes = [] if every else keyframe_times(src, workdir, limits, info)
    path = choose_decode_path(info, fps, max(frame_size(info, limits)), keyframes, every_frame=every)
    timings = {"validate": time.perf_counter() - t0}

    def decode(host: AnalyserHost, path: DecodePath):
        return decode_for_analysis(
            src, info, workdir, limits, path, host.process, decimation=host.decimation, audio=host.needs_audio
        )

    result = decode(host, path)
    if path.skip_frame == "nokey" and result.frames_decoded < KEYFRAMES_DECODED_SHARE * len(keyframes):
        path = replace(path, skip_frame="noref", reason=f"{path.reason}, but too few decoded as keyframes")
        host = make_host()
        result = decode(host, path)
    outputs = host.finish(workdir, info.duration_s, result.audio_path)
    return RescreenOutcome(
        info=info,
        path=path,
        frames_seen=result.frames_seen,
        frames_decoded=result.frames_decoded,
        outputs=outputs,
        timings={**timings, **result.timings, **host.timings},
    )


def iter_frames(src: Path, workdir: Path, limits: MediaLimits) -> Iterator[Frame]:
    """Validate ``src`` and yield its sampled, downscaled BGR frames (no rendition, no audio)."""
    info = validate(src, workdir, limits)
    yield from stream_frames(src, info, workdir, limits)
