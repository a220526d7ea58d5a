"""Serving stored media: a redirect to a presigned GET where the store has one (S3), else the bytes
from the API with HTTP Range support."""

from __future__ import annotations

import re
from collections.abc import Iterator

from fastapi import Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse

from api.errors import ApiError
from core.storage import CHUNK_BYTES, BlobNotFound, BlobStore

PRESIGNED_EXPIRES_S = 900
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def sniff_type(head: bytes) -> str:
    """The media type of a stored artifact from its first bytes."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp":
        return "video/mp4"
    if head.startswith(b"{") or head.startswith(b"["):
        return "application/json"
    return "application/octet-stream"


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, end_inclusive)`` of a single ``bytes=`` range, None for the whole file; raises a 416
    ``ApiError`` when it lies outside the file. Multi-range and malformed headers are ignored."""
    if not header:
        return None
    m = _RANGE.fullmatch(header.strip())
    if m is None:
        return None
    first, last = m.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            raise ApiError(416, "range_not_satisfiable", headers={"Content-Range": f"bytes */{size}"})
        return max(0, size - n), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise ApiError(416, "range_not_satisfiable", headers={"Content-Range": f"bytes */{size}"})
    return start, end


def _chunks(store: BlobStore, key: str, start: int, length: int) -> Iterator[bytes]:
    with store.open(key) as f:
        f.seek(start)
        while length > 0:
            data = f.read(min(CHUNK_BYTES, length))
            if not data:
                return
            length -= len(data)
            yield data


def blob_response(request: Request, store: BlobStore, key: str, filename: str) -> Response:
    """The blob as the client should get it: 307 to a presigned URL, or 200/206 with Range support."""
    try:
        url = store.presigned_get_url(key, PRESIGNED_EXPIRES_S)
        if url is not None:
            return RedirectResponse(url, status_code=307, headers={"Cache-Control": "private, no-store"})
        size = store.size(key)
        with store.open(key) as f:
            media_type = sniff_type(f.read(16))
    except BlobNotFound:
        raise ApiError(404, "no_media") from None
    span = parse_range(request.headers.get("range"), size)
    start, end = span if span is not None else (0, size - 1)
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Length": str(max(0, end - start + 1)),
        "Content-Disposition": f'inline; filename="{filename}"',
        "Cache-Control": "private, no-store",
    }
    status = 200
    if span is not None:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return StreamingResponse(
        _chunks(store, key, start, end - start + 1),
        status_code=status,
        media_type=media_type,
        headers=headers,
    )
