"""Structural completeness of a container, from its top-level element headers only (no decode).

A file whose top-level MP4 box or Matroska segment claims more bytes than the file holds was cut
short: the recording or the upload stopped before the end."""

from __future__ import annotations

from pathlib import Path

MAX_TOP_LEVEL = 10_000  # a real file has a handful of top-level boxes
# Box types found at the top level of MP4/QuickTime files. Anything else where a box should start is
# trailing data (a phone maker's trailer, bytes appended by some tool), not a box cut short.
TOP_LEVEL_BOXES = frozenset(
    {b"ftyp", b"moov", b"mdat", b"moof", b"mfra", b"free", b"skip", b"wide", b"uuid", b"meta",
     b"sidx", b"ssix", b"styp", b"emsg", b"prft", b"pdin", b"udta", b"junk", b"pnot", b"PICT"}
)  # fmt: skip


def structurally_truncated(path: Path, demuxer: str) -> bool:
    """True when the container's own sizes say bytes are missing at the end of the file."""
    size = Path(path).stat().st_size
    with open(path, "rb") as f:
        if demuxer == "mov":
            return _mp4_truncated(f, size)
        if demuxer == "matroska":
            return _mkv_truncated(f, size)
    return False


def _mp4_truncated(f, size: int) -> bool:
    offset = 0
    for _ in range(MAX_TOP_LEVEL):
        if offset + 8 > size:
            return False
        f.seek(offset)
        header = f.read(16)
        box_size, kind = int.from_bytes(header[:4], "big"), header[4:8]
        if kind not in TOP_LEVEL_BOXES:
            return False  # trailing bytes that are not a box: leave it to the demuxer
        if box_size == 1:
            if len(header) < 16:
                return True
            box_size = int.from_bytes(header[8:16], "big")
        elif box_size == 0:
            return False  # the last box runs to the end of the file by definition
        if box_size < 8:
            return False
        if offset + box_size > size:
            return True
        offset += box_size
    return False


def _vint(data: bytes, pos: int) -> tuple[int, int, bool]:
    """EBML variable-length integer at ``pos``: (value, length, all value bits set = unknown size)."""
    first = data[pos]
    length = 1
    while length <= 8 and not first & (0x80 >> (length - 1)):
        length += 1
    if length > 8 or pos + length > len(data):
        raise ValueError("bad EBML vint")
    value = first & (0xFF >> length)
    for b in data[pos + 1 : pos + length]:
        value = (value << 8) | b
    return value, length, value == (1 << (7 * length)) - 1


def _mkv_truncated(f, size: int) -> bool:
    head = f.read(4096)
    try:
        pos = 4  # past the EBML header ID
        header_size, n, _ = _vint(head, pos)
        pos += n + header_size
        if head[pos : pos + 4] != b"\x18\x53\x80\x67":  # Segment
            return False
        seg_size, n, unknown = _vint(head, pos + 4)
    except (ValueError, IndexError):
        return False
    return not unknown and pos + 4 + n + seg_size > size
