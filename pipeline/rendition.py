"""Plan the review rendition: remux when the upload is already browser-ready, else transcode."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pipeline.probe import MediaInfo

BOX_LONG, BOX_SHORT = 1280, 720
REMUX_PROFILES = {"Baseline", "Constrained Baseline", "Main", "High"}
REMUX_PIX_FMTS = {"yuv420p", "yuvj420p"}
REMUX_CONTAINERS = {"mp4", "mov", "3gp", "matroska", "webm", "flv", "mpegts"}  # AVI timestamps are unreliable
MAX_RENDITION_FPS = 30.0  # review copies of 50/60 fps uploads are encoded at 30 fps
MAX_REMUX_FPS = 60.5  # faster video (slow-motion phone clips, hostile files) is transcoded to 30 fps
KEYFRAME_SECONDS = 2
AUDIO_BITRATE = "128k"
RENDITION_NAME = "rendition.mp4"


@dataclass(frozen=True)
class RenditionPlan:
    mode: Literal["remux", "transcode"]
    width: int  # as displayed, square pixels
    height: int
    reason: str  # why a transcode is needed ("" for remux)
    video_filters: tuple[tuple[str, dict[str, Any]], ...]  # (filter, kwargs) after autorotation
    fps: float  # output frame rate (source rate, capped for transcodes)
    audio: Literal["copy", "aac"] | None  # None: no audio stream
    audio_channels: int | None = None
    audio_rate: int | None = None

    def output_kwargs(self, threads: int) -> dict[str, Any]:
        """ffmpeg-python output options of the rendition (always metadata-stripped, faststart)."""
        kw: dict[str, Any] = {
            "map_metadata": -1,
            "map_chapters": -1,
            "movflags": "+faststart",
            "f": "mp4",
        }
        if self.mode == "remux":
            kw.update({"c:v": "copy", "tag:v": "avc1"})
        else:
            kw.update(
                {
                    "c:v": "libx264",
                    "profile:v": "high",
                    "preset": "veryfast",
                    "crf": 23,
                    "pix_fmt": "yuv420p",
                    "g": max(1, round(KEYFRAME_SECONDS * self.fps)),
                    "force_key_frames": f"expr:gte(t,n_forced*{KEYFRAME_SECONDS})",
                    "threads": threads,
                }
            )
        if self.audio == "copy":
            kw["c:a"] = "copy"
        elif self.audio == "aac":
            kw.update({"c:a": "aac", "b:a": AUDIO_BITRATE, "ac": self.audio_channels, "ar": self.audio_rate})
        return kw


def display_size(info: MediaInfo) -> tuple[float, float]:
    """Displayed picture size in square pixels: sample aspect ratio and rotation applied."""
    w, h = info.coded_width * info.sar, float(info.coded_height)
    return (h, w) if info.rotation in (90, 270) else (w, h)


def fit_within(w: float, h: float, box_w: int, box_h: int, *, even: bool) -> tuple[int, int]:
    """Scale (w, h) to fit inside the box keeping the aspect ratio, never upscaling."""
    scale = min(1.0, box_w / w, box_h / h)
    step = 2 if even else 1
    return (
        max(step, int(round(w * scale / step)) * step),
        max(step, int(round(h * scale / step)) * step),
    )


def _box(w: float, h: float) -> tuple[int, int]:
    """The 1280x720 box in the picture's own orientation (portrait fits 720x1280)."""
    return (BOX_SHORT, BOX_LONG) if h > w else (BOX_LONG, BOX_SHORT)


def _remux_blocker(info: MediaInfo) -> str:
    """Why the upload cannot be stream-copied ("" when it can)."""
    w, h = display_size(info)
    box_w, box_h = _box(w, h)
    checks = [(info.video_codec == "h264", f"video codec {info.video_codec}")]
    if info.video_codec == "h264":
        checks += [
            (info.pix_fmt in REMUX_PIX_FMTS, f"pixel format {info.pix_fmt}"),
            (info.bit_depth in (None, 8), f"{info.bit_depth}-bit video"),
            (info.profile in REMUX_PROFILES, f"H.264 profile {info.profile}"),
        ]
    checks += [
        (not info.interlaced, "interlaced video"),
        (not info.hdr, f"HDR video ({info.color_transfer})"),
        (info.fps <= MAX_REMUX_FPS, f"{info.fps:g} fps"),
        (abs(info.sar - 1.0) < 0.01, "non-square pixels"),
        (not info.sar_ignored, "implausible pixel aspect ratio"),
        (w <= box_w and h <= box_h, f"{round(w)}x{round(h)} larger than {box_w}x{box_h}"),
        (info.audio_codec in (None, "aac"), f"audio codec {info.audio_codec}"),
        (info.container in REMUX_CONTAINERS, f"{info.container} container"),
    ]
    return "; ".join(why for ok, why in checks if not ok)


def plan_rendition(info: MediaInfo) -> RenditionPlan:
    """Remux H.264 (8-bit 4:2:0, browser profile) with AAC or no audio that fits 1280x720 in its own
    orientation; otherwise transcode to H.264 High inside that box (portrait: 720x1280), even sizes,
    a keyframe every 2 s, at most 30 fps, deinterlaced. Audio in a transcode is copied when it is
    already browser-ready AAC, else encoded to AAC 128k (mono stays mono, 44.1/48 kHz)."""
    reason = _remux_blocker(info)
    if not reason:
        return RenditionPlan(
            mode="remux",
            width=info.width,
            height=info.height,
            reason="",
            video_filters=(),
            fps=info.fps,
            audio=_audio_mode(info),
            audio_channels=_audio_channels(info),
            audio_rate=_audio_rate(info),
        )
    return transcode_plan(info, reason)


def transcode_plan(info: MediaInfo, reason: str, *, letterbox: bool = False) -> RenditionPlan:
    """The transcode of ``plan_rendition`` (also the fallback when a planned remux fails). With
    ``letterbox`` (the picture size changes mid-stream) every picture keeps its aspect ratio inside
    the first picture's output size."""
    w, h = display_size(info)
    out_w, out_h = fit_within(w, h, *_box(w, h), even=True)
    filters: list[tuple[str, dict[str, Any]]] = []
    if info.interlaced:
        filters.append(("yadif", {"deint": "interlaced"}))
    fps = info.fps
    if fps > MAX_RENDITION_FPS + 0.5:
        fps = MAX_RENDITION_FPS
        filters.append(("fps", {"fps": fps}))
    if letterbox:
        fit = {"force_original_aspect_ratio": "decrease", "force_divisible_by": 2}
        filters += [
            ("scale", {"w": out_w, "h": out_h, **fit}),
            ("pad", {"w": out_w, "h": out_h, "x": "(ow-iw)/2", "y": "(oh-ih)/2"}),
        ]
    else:
        filters.append(("scale", {"w": out_w, "h": out_h}))
    filters += tonemap_filters(info)
    filters.append(("setsar", {"sar": 1}))
    return RenditionPlan(
        mode="transcode",
        width=out_w,
        height=out_h,
        reason=reason,
        video_filters=tuple(filters),
        fps=fps,
        audio=_audio_mode(info),
        audio_channels=_audio_channels(info),
        audio_rate=_audio_rate(info),
    )


def tonemap_filters(info: MediaInfo) -> list[tuple[str, dict[str, Any]]]:
    """HDR (PQ or HLG, BT.2020) to SDR BT.709, so reviewers and the analysers see normal contrast and
    colour rather than a flat, washed-out picture; nothing for SDR. Runs after downscaling (cheap)."""
    if not info.hdr:
        return []
    source = {
        "tin": info.color_transfer,
        "pin": info.color_primaries if info.color_primaries in ("bt2020", "bt709") else "bt2020",
        "min": info.color_space if info.color_space in ("bt2020nc", "bt709") else "bt2020nc",
    }
    return [
        ("zscale", {**source, "t": "linear", "npl": 100}),
        ("format", {"pix_fmts": "gbrpf32le"}),
        ("zscale", {"p": "bt709"}),
        ("tonemap", {"tonemap": "hable", "desat": 0}),
        ("zscale", {"t": "bt709", "m": "bt709", "r": "tv"}),
        ("format", {"pix_fmts": "yuv420p"}),
    ]


def _audio_channels(info: MediaInfo) -> int:
    return 1 if info.audio_channels == 1 else 2


def _audio_rate(info: MediaInfo) -> int:
    return 44100 if info.audio_sample_rate == 44100 else 48000


def _audio_mode(info: MediaInfo) -> Literal["copy", "aac"] | None:
    """Copy AAC that browsers play as is (mono/stereo, 44.1/48 kHz); encode anything else (also in a
    remux). AAC from MPEG-TS is encoded too: a single damaged ADTS frame makes a stream copy fail."""
    if not info.has_audio:
        return None
    compliant = (
        info.audio_codec == "aac"
        and info.audio_channels in (1, 2)
        and info.audio_sample_rate in (44100, 48000)
        and info.container not in ("avi", "mpegts", "asf", "mpeg", "rm", "dv")
    )
    return "copy" if compliant else "aac"
