"""Request bodies read on the event loop, never by a thread that waits for the network.

Each chunk must arrive within the read timeout (else 408 ``request_timeout``). The bytes go to a sink
(a ``BlobSpool``, an upload part) in batches through a small bounded pool of I/O threads, so a stalled
or slow client holds a socket and a little memory, not a thread. A ``multipart/form-data`` body is
parsed as it arrives; its file part is hashed and spooled by ``BlobSpool``, never whole in memory or
on disk twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import anyio
import anyio.to_thread
from fastapi.concurrency import run_in_threadpool
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from api.errors import BODY_READ, ApiError
from core.storage import CHUNK_BYTES, BlobSpool, BlobStore

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 200


class Sink(Protocol[T_co]):
    """Where a body goes: ``write`` each batch, then ``commit`` (or ``discard``, also after commit)."""

    def write(self, chunk: bytes) -> None: ...
    def commit(self) -> T_co: ...
    def discard(self) -> None: ...


@dataclass(frozen=True)
class BodyLimits:
    """How a body is read: the longest wait for one chunk, and the pool that writes it to storage."""

    read_timeout_s: float
    io: anyio.CapacityLimiter


@dataclass
class StreamedForm:
    """The text fields (repeatable) and the stored file of a form."""

    fields: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    key: str | None = None  # blob key of the file part
    size: int = 0
    filename: str | None = None


def boundary_of(request: Request) -> bytes:
    """The multipart boundary of the request, or a 422 ``invalid_request``."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise ApiError(422, "invalid_request", "send multipart/form-data")
    return boundary


class _Body:
    """The request body, chunk by chunk, each within the read timeout."""

    def __init__(self, request: Request, timeout_s: float):
        self.request, self.timeout_s = request, timeout_s
        self._chunks = request.stream()

    async def next(self) -> bytes:
        """The next chunk; ``b""`` at the end. ``ClientDisconnect`` when the client went away."""
        try:
            with anyio.fail_after(self.timeout_s):
                return await self._chunks.__anext__()
        except StopAsyncIteration:
            self.request.scope[BODY_READ] = True
            return b""
        except TimeoutError:
            raise ApiError(408, "request_timeout", f"no data for {self.timeout_s:g} s") from None


class _Batch:
    """Bytes for a sink, written in batches of ``CHUNK_BYTES`` through the I/O pool."""

    def __init__(self, sink: Sink, io: anyio.CapacityLimiter):
        self.sink, self.io = sink, io
        self.buf = bytearray()

    async def add(self, data: bytes | bytearray) -> None:
        self.buf.extend(data)
        if len(self.buf) >= CHUNK_BYTES:
            await self.flush()

    async def flush(self) -> None:
        if self.buf:
            data, self.buf = bytes(self.buf), bytearray()
            await anyio.to_thread.run_sync(self.sink.write, data, limiter=self.io)


async def receive_into(request: Request, sink: Sink[T], limits: BodyLimits) -> T:
    """Write the whole body to ``sink`` and commit it; the sink is discarded on any failure."""
    body, batch = _Body(request, limits.read_timeout_s), _Batch(sink, limits.io)
    try:
        while chunk := await body.next():
            await batch.add(chunk)
        await batch.flush()
        return await anyio.to_thread.run_sync(sink.commit, limiter=limits.io)
    finally:
        sink.discard()


class _FormParser:
    """Push-parser state: text fields in memory, the file part's bytes buffered for the spool."""

    def __init__(self, boundary: bytes, file_field: str, text_fields: set[str]):
        self.file_field, self.text_fields = file_field, text_fields
        self.form = StreamedForm()
        self.ended = False
        self.in_file = False  # the file part's data is flowing
        self.file_seen = False
        self.file_bytes = bytearray()  # file data parsed and not yet taken
        self._name: str | None = None
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._disposition: bytes | None = None
        self._value = bytearray()
        self._count = 0
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": lambda d, s, e: self._header_field.extend(d[s:e]),
                "on_header_value": lambda d, s, e: self._header_value.extend(d[s:e]),
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_end": self._end,
            },
        )

    def write(self, chunk: bytes) -> None:
        """Parse one chunk; a malformed body is a 422 ``invalid_request``."""
        try:
            self.parser.write(chunk)
        except FormParserError as exc:
            raise ApiError(422, "invalid_request", f"malformed multipart body: {exc}") from None

    def take_file_bytes(self) -> bytearray:
        data, self.file_bytes = self.file_bytes, bytearray()
        return data

    # -- parser callbacks ------------------------------------------------------------------------------
    def _part_begin(self) -> None:
        self._count += 1
        if self._count > MAX_FIELDS:
            raise ApiError(422, "invalid_request", "too many form fields")
        self._disposition, self._name = None, None
        self._value.clear()

    def _header_end(self) -> None:
        if bytes(self._header_field).strip().lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._disposition or b"")
        name = params.get(b"name")
        if name is None:
            raise ApiError(422, "invalid_request", "a form part has no name")
        self._name = name.decode("utf-8", "replace")
        if self._name == self.file_field:
            if self.file_seen:
                raise ApiError(422, "invalid_request", "send one file")
            self.file_seen = self.in_file = True
            filename = params.get(b"filename")
            self.form.filename = filename.decode("utf-8", "replace")[:500] if filename else None
        elif self._name not in self.text_fields:
            raise ApiError(422, "unknown_field", [self._name])

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self.in_file:
            self.file_bytes.extend(data[start:end])
            return
        self._value.extend(data[start:end])
        if len(self._value) > MAX_FIELD_BYTES:
            raise ApiError(422, "invalid_request", f"field {self._name!r} is too long")

    def _part_end(self) -> None:
        if self.in_file:
            self.in_file = False
        elif self._name is not None:
            try:
                self.form.fields[self._name].append(self._value.decode("utf-8"))
            except UnicodeDecodeError:
                raise ApiError(422, "invalid_request", f"field {self._name!r} is not UTF-8") from None

    def _end(self) -> None:
        self.ended = True


async def receive_form(
    request: Request,
    store: BlobStore,
    limits: BodyLimits,
    *,
    max_bytes: int,
    text_fields: set[str],
    file_field: str = "file",
    before_file: Callable[[dict[str, list[str]]], None] = lambda fields: None,
) -> StreamedForm:
    """Parse the request's form, storing its file part as it arrives (at most ``max_bytes``).

    Unknown parts are a 422 ``unknown_field``; ``before_file(fields)`` runs (in a worker thread)
    when the file part starts, with the fields sent before it, and may raise to refuse early.
    """
    parser = _FormParser(boundary_of(request), file_field, text_fields)
    body = _Body(request, limits.read_timeout_s)
    spool: BlobSpool | None = None
    try:
        while chunk := await body.next():
            parser.write(chunk)
            if parser.file_seen and spool is None:
                await run_in_threadpool(before_file, parser.form.fields)
                spool = BlobSpool(store, max_bytes)
                batch = _Batch(spool, limits.io)
            if spool is not None:
                await batch.add(parser.take_file_bytes())
        if not parser.ended:
            raise ApiError(422, "invalid_request", "the multipart body is incomplete")
        if spool is not None:
            await batch.flush()
            form = parser.form
            form.key, form.size = await anyio.to_thread.run_sync(spool.commit, limiter=limits.io)
        return parser.form
    finally:
        if spool is not None:
            spool.discard()
