"""Identify the container from its magic bytes, before any ffmpeg code reads the file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import MediaError

HEAD_BYTES = 64 * 1024

# ISO-BMFF top-level boxes a QuickTime/MP4 file may start with.
_MP4_BOXES = {
    b"ftyp",
    b"moov",
    b"mdat",
    b"wide",
    b"free",
    b"skip",
    b"pnot",
    b"uuid",
    b"junk",
    b"pdin",
    b"styp",
}
# ftyp major brands of still images (HEIF/AVIF/JPEG 2000), not videos.
_IMAGE_BRANDS = {
    b"heic",
    b"heix",
    b"hevc",
    b"hevx",
    b"mif1",
    b"msf1",
    b"avif",
    b"avis",
    b"jp2 ",
    b"jpx ",
    b"crx ",
}


@dataclass(frozen=True)
class Sniffed:
    demuxer: str  # the ffmpeg demuxer to force with -f
    container: str  # report short name: mp4, mov, 3gp, matroska, webm, avi, flv, mpegts, asf, mpeg, rm, dv


def sniff(path: Path) -> Sniffed:
    """Return the demuxer for an accepted container, or raise the ``MediaError`` for what it is."""
    with open(path, "rb") as f:
        head = f.read(HEAD_BYTES)
    if not head:
        raise MediaError("empty_file")
    return sniff_bytes(head)


def sniff_bytes(head: bytes) -> Sniffed:
    """Classify the first bytes of a file (see ``sniff``)."""
    accepted = _accepted(head)
    if accepted:
        return accepted
    code, what = _refused(head)
    raise MediaError(code, what)


def _accepted(head: bytes) -> Sniffed | None:
    if len(head) >= 8 and head[4:8] in _MP4_BOXES:
        return _iso_bmff(head)
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        doctype = "webm" if b"\x42\x82\x84webm" in head[:64] else "matroska"
        return Sniffed("matroska", doctype)
    if head.startswith(b"RIFF") and head[8:12] in (b"AVI ", b"AVIX"):
        return Sniffed("avi", "avi")
    if head.startswith(b"FLV\x01"):
        return Sniffed("flv", "flv")
    if _is_mpegts(head):
        return Sniffed("mpegts", "mpegts")
    # Older classroom recording systems, DVD/camcorder and Windows tools, and RMVB archives.
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return Sniffed("asf", "asf")
    if head.startswith(b"\x00\x00\x01\xba"):
        return Sniffed("mpeg", "mpeg")
    if head.startswith(b".RMF"):
        return Sniffed("rm", "rm")
    if _is_dv(head):  # a MiniDV camcorder captured over FireWire
        return Sniffed("dv", "dv")
    return None


def _is_dv(head: bytes) -> bool:
    """A DV DIF sequence: header section id 0x1F07 00, then the DSF byte (525/60 or 625/50)."""
    return len(head) >= 4 and head[:3] == b"\x1f\x07\x00" and head[3] & 0x7F == 0x3F


def _find_ftyp(head: bytes) -> bytes | None:
    """The ftyp box among the top-level boxes in ``head`` (usually first, sometimes after free)."""
    offset = 0
    while offset + 8 <= len(head):
        size = int.from_bytes(head[offset : offset + 4], "big")
        if head[offset + 4 : offset + 8] == b"ftyp":
            return head[offset : offset + max(size, 8)]
        if size < 8 or head[offset + 4 : offset + 8] in (b"mdat", b"moov"):
            return None
        offset += size
    return None


def _iso_bmff(head: bytes) -> Sniffed:
    ftyp = _find_ftyp(head)
    if ftyp is None:
        return Sniffed("mov", "mov")  # classic QuickTime starts with moov/mdat/wide
    brand = ftyp[8:12]
    compatible = {ftyp[i : i + 4] for i in range(16, len(ftyp) - 3, 4)}
    if brand in _IMAGE_BRANDS or (
        brand not in (b"isom", b"mp41", b"mp42") and compatible & {b"mif1", b"msf1"}
    ):
        raise MediaError("not_a_video", f"still image (ftyp {brand.decode('latin-1').strip()})")
    if brand == b"qt  ":
        return Sniffed("mov", "mov")
    if brand.startswith((b"3gp", b"3g2", b"3ge", b"3gg", b"3gs")):
        return Sniffed("mov", "3gp")
    return Sniffed("mov", "mp4")  # includes M4A/M4V: the stream check decides audio-only


TS_RESYNC_PACKETS = 8  # sync bytes in a row that find the packet grid of a stream cut mid-packet


def _is_mpegts(head: bytes) -> bool:
    """0x47 sync bytes at a fixed stride: 188 (TS), 192 (M2TS/AVCHD .mts) or 204 (TS with FEC),
    from the first byte or, for a recording cut anywhere, from within the first packet (ffmpeg's
    demuxer finds the grid itself)."""
    for stride, offset in ((188, 0), (192, 4), (204, 0)):
        packets = min(5, (len(head) - offset) // stride)
        if packets >= 2 and all(head[offset + i * stride] == 0x47 for i in range(packets)):
            return True
    for stride in (188, 192, 204):
        if len(head) < stride * TS_RESYNC_PACKETS:
            continue
        for offset in range(stride):
            if all(head[offset + i * stride] == 0x47 for i in range(TS_RESYNC_PACKETS)):
                return True
    return False


_SIGNATURES: list[tuple[bytes, int, str, str]] = [
    # (magic, offset, code, what)
    (b"\x89PNG\r\n\x1a\n", 0, "not_a_video", "PNG image"),
    (b"\xff\xd8\xff", 0, "not_a_video", "JPEG image"),
    (b"GIF87a", 0, "not_a_video", "GIF image"),
    (b"GIF89a", 0, "not_a_video", "GIF image"),
    (b"BM", 0, "not_a_video", "BMP image"),
    (b"II*\x00", 0, "not_a_video", "TIFF image"),
    (b"MM\x00*", 0, "not_a_video", "TIFF image"),
    (b"\x00\x00\x01\x00", 0, "not_a_video", "ICO image"),
    (b"\x00\x00\x00\x0cjP  ", 0, "not_a_video", "JPEG 2000 image"),
    (b"%PDF", 0, "not_a_video", "PDF document"),
    (b"PK\x03\x04", 0, "not_a_video", "ZIP archive or Office document"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 0, "not_a_video", "Office document"),
    (b"Rar!", 0, "not_a_video", "RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", 0, "not_a_video", "7z archive"),
    (b"\x1f\x8b", 0, "not_a_video", "gzip archive"),
    (b"ID3", 0, "no_video_stream", "MP3 audio"),
    (b"fLaC", 0, "no_video_stream", "FLAC audio"),
    (b"#!AMR", 0, "no_video_stream", "AMR audio"),
    (b"MAC ", 0, "no_video_stream", "APE audio"),
    (b"wvpk", 0, "no_video_stream", "WavPack audio"),
    (b"caff", 0, "no_video_stream", "CAF audio"),
    (b"MThd", 0, "no_video_stream", "MIDI"),
    (b"\x00\x00\x01\xb3", 0, "unsupported_container", "MPEG video elementary stream"),
    (b"\x00\x00\x00\x01", 0, "unsupported_container", "raw H.264/HEVC elementary stream"),
    (b"\x00\x00\x01\x09", 0, "unsupported_container", "raw H.264 elementary stream"),
    (b"\x00\x00\x01\x67", 0, "unsupported_container", "raw H.264 elementary stream"),
    (b"\x00\x00\x01\x40\x01", 0, "unsupported_container", "raw HEVC elementary stream"),
    (b"DHAV", 0, "unsupported_container", "DVR recording (Dahua)"),
    (b"IMKH", 0, "unsupported_container", "DVR recording (Hikvision)"),
    (b"\x06\x0e\x2b\x34", 0, "unsupported_container", "MXF broadcast file"),
    (b"nut/multimedia container", 0, "unsupported_container", "NUT file"),
    (b"DKIF", 0, "unsupported_container", "IVF (raw VP8/VP9/AV1) file"),
    (b"YUV4MPEG2", 0, "unsupported_container", "raw YUV4MPEG video"),
    (b"FWS", 0, "unsupported_container", "Flash SWF animation"),
    (b"CWS", 0, "unsupported_container", "Flash SWF animation"),
    (b"ZWS", 0, "unsupported_container", "Flash SWF animation"),
    (b"QIYI VIDEO", 0, "unsupported_container", "iQiyi download (QSV)"),
    (b"BIK", 0, "unsupported_container", "Bink video"),
]


def _refused(head: bytes) -> tuple[str, str]:
    for magic, offset, code, what in _SIGNATURES:
        if head[offset:].startswith(magic):
            return code, what
    if head.startswith(b"RIFF"):
        kind = head[8:12]
        if kind == b"WAVE":
            return "no_video_stream", "WAV audio"
        if kind == b"WEBP":
            return "not_a_video", "WebP image"
        return "unsupported_container", f"RIFF {kind.decode('latin-1')!r}"
    if head.startswith(b"FORM") and head[8:12] in (b"AIFF", b"AIFC"):
        return "no_video_stream", "AIFF audio"
    if head.startswith(b"OggS"):
        if b"\x80theora" in head[:512] or b"OVP80" in head[:512] or b"\x80kate" in head[:512]:
            return "unsupported_container", "Ogg video"
        return "no_video_stream", "Ogg audio"
    if _is_mpeg_audio(head):
        return "no_video_stream", "MPEG/AAC audio"
    text = _as_text(head)
    if text is not None:
        first = text.lstrip().splitlines()[0].strip() if text.strip() else ""
        if first.startswith("#EXTM3U") or first.startswith("#EXTINF"):
            return "unsupported_container", "HLS/M3U playlist"
        if first.startswith("ffconcat"):
            return "unsupported_container", "ffconcat script"
        if first.startswith("v=0") and "\nm=" in text:
            return "unsupported_container", "SDP session description"
        if first.startswith("[playlist]") or (first.lower().startswith("<?xml") and "<MPD" in text):
            return "unsupported_container", "playlist"
        return "not_a_video", "text"
    return "not_a_video", "unrecognised data"


def _is_mpeg_audio(head: bytes) -> bool:
    """An MP3 frame header or an AAC ADTS header with valid (non-reserved) fields."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
    if layer == 0:  # ADTS: MPEG-4/2 AAC, layer bits are 00
        return head[1] & 0xF6 == 0xF0 and (head[2] >> 2) & 0xF < 13
    return version != 1 and (head[2] >> 4) not in (0, 15) and (head[2] >> 2) & 3 != 3


def _as_text(head: bytes) -> str | None:
    """The head decoded as text when it looks like text (UTF-8/16, no control bytes)."""
    sample = head[:4096]
    for bom, enc in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if sample.startswith(bom):
            sample = sample[len(bom) :]
            try:
                return sample.decode(enc, "ignore")
            except UnicodeDecodeError:
                return None
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(sample) - 4:  # only a character cut at the end of the sample is fine
            return None
        text = sample[: e.start].decode("utf-8")
    controls = sum(1 for c in text if ord(c) < 32 and c not in "\t\r\n\f")
    return text if controls == 0 else None
