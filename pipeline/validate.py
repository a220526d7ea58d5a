"""Validation before anything decodes: size, container, streams, dimensions, duration."""

from __future__ import annotations

from pathlib import Path

from pipeline.container_truncation import structurally_truncated
from pipeline.errors import MediaError
from pipeline.limits import MediaLimits
from pipeline.probe import MediaInfo, probe
from pipeline.sniff import sniff

MISSING_BYTES = "the container says bytes are missing at the end of the file"


def validate(src: Path, workdir: Path, limits: MediaLimits) -> MediaInfo:
    """Check ``src`` against ``limits`` without decoding it; returns its ``MediaInfo`` or raises
    ``MediaError``. Truncation and corruption inside the stream are caught later by the one decode."""
    size = Path(src).stat().st_size
    if size == 0:
        raise MediaError("empty_file")
    if size > limits.max_upload_bytes:
        raise MediaError("file_too_large", f"{size} bytes > {limits.max_upload_bytes}")
    try:
        info = probe(src, workdir, limits)
    except MediaError as exc:  # an MP4 header cut off mid-way reads as no streams or bad data
        if exc.code in ("no_video_stream", "corrupt") and _mp4_cut(src):
            raise MediaError("truncated", MISSING_BYTES) from exc
        raise
    if structurally_truncated(src, info.demuxer):
        raise MediaError("truncated", MISSING_BYTES)
    check_dimensions(info.coded_width, info.coded_height, limits)
    if info.duration_s > limits.max_duration_s:
        raise MediaError("too_long", f"{info.duration_s:.1f} s > {limits.max_duration_s:.0f} s")
    if info.duration_s < limits.min_duration_s:
        raise MediaError("too_short", f"{info.duration_s:.2f} s < {limits.min_duration_s:.1f} s")
    return info


def _mp4_cut(src: Path) -> bool:
    """An MP4/MOV whose top-level box sizes run past the end of the file (absurd sizes in other
    containers stay ``corrupt``: they are crafted, not cut)."""
    try:
        demuxer = sniff(src).demuxer
    except MediaError:
        return False
    return demuxer == "mov" and structurally_truncated(src, demuxer)


def check_dimensions(width: int, height: int, limits: MediaLimits) -> None:
    """Long side and short side limits, whatever the orientation."""
    long_side, short_side = max(width, height), min(width, height)
    if short_side < limits.min_short_side:
        raise MediaError("dimensions_too_small", f"{width}x{height}: short side < {limits.min_short_side}")
    if long_side > limits.max_long_side or short_side > limits.max_short_side:
        raise MediaError(
            "dimensions_too_large",
            f"{width}x{height} > {limits.max_long_side}x{limits.max_short_side}",
        )
