"""Stable rejection codes with plain messages in English and Simplified Chinese."""

from __future__ import annotations

import re

MESSAGES: dict[str, tuple[str, str]] = {
    "empty_file": ("The uploaded file is empty.", "上传的文件是空的。"),
    "file_too_large": (
        "The file is larger than the upload limit.",
        "文件超过了上传大小限制。",
    ),
    "not_a_video": (
        "The file is not a video (it is an image, a document or unreadable data).",
        "该文件不是视频（可能是图片、文档或无法识别的数据）。",
    ),
    "unsupported_container": (
        "The file format is not accepted. Export or convert the recording to MP4 (also accepted: MOV, "
        "MKV/WebM, AVI, FLV, MPEG-TS, 3GP, WMV, MPG/VOB, RM/RMVB, DV).",
        "不支持该文件格式。请将录像导出或转换为 MP4（也接受 MOV、MKV/WebM、AVI、FLV、MPEG-TS、3GP、"
        "WMV、MPG/VOB、RM/RMVB、DV）。",
    ),
    "no_video_stream": (
        "The file has no video picture (audio only, or no streams at all).",
        "该文件没有视频画面（只有音频或没有任何媒体流）。",
    ),
    "unsupported_codec": (
        "The video is encoded in a format we cannot read. Export it again as H.264 MP4.",
        "无法读取该视频的编码格式。请重新导出为 H.264 编码的 MP4 文件。",
    ),
    "dimensions_too_large": (
        "The video resolution is above the limit (at most 3840x2160, either orientation).",
        "视频分辨率超出限制（最大 3840x2160，横竖屏均可）。",
    ),
    "dimensions_too_small": (
        "The video picture is too small to show anyone (at least 64 pixels on its short side).",
        "视频画面太小，无法看清人物（短边至少 64 像素）。",
    ),
    "too_long": ("The video is longer than the maximum duration.", "视频时长超过了最大限制。"),
    "too_short": ("The video is shorter than the minimum duration.", "视频时长短于最小限制。"),
    "truncated": (
        "The video is incomplete: the recording or the upload was cut short. Upload the whole file again.",
        "视频不完整：录制或上传被中断。请重新上传完整的文件。",
    ),
    "corrupt": (
        "The video data is damaged and cannot be played.",
        "视频数据已损坏，无法播放。",
    ),
    "processing_timeout": (
        "The video took too long to process; it may be damaged or crafted to stall processing.",
        "视频处理超时；文件可能已损坏或被恶意构造。",
    ),
    "resource_limit": (
        "The video needs more memory than allowed to decode; it may be damaged or crafted.",
        "解码该视频所需内存超出限制；文件可能已损坏或被恶意构造。",
    ),
}


# Server paths in ffmpeg's messages (the job directory, the upload's name there) never reach users.
_PATH = re.compile(r"(?:file:)?/(?:[\w.\-]+/)+[\w.\-]+")


class MediaError(Exception):
    """A final, user-facing rejection of an uploaded file. Never retried."""

    def __init__(self, code: str, detail: str | None = None):
        if code not in MESSAGES:
            raise ValueError(f"unknown media error code {code!r}")
        self.code = code
        self.detail = _PATH.sub("the file", detail) if detail else detail
        super().__init__(f"{code}: {self.detail or MESSAGES[code][0]}")

    @property
    def message(self) -> str:
        return MESSAGES[self.code][0]

    @property
    def message_zh(self) -> str:
        return MESSAGES[self.code][1]

    def as_dict(self) -> dict:
        """The ``error`` object of a rejected report."""
        out = {"code": self.code, "message": self.message, "message_zh": self.message_zh}
        if self.detail:
            out["detail"] = self.detail
        return out
