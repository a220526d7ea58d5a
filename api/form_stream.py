"""A ``multipart/form-data`` body streamed straight into the blob store, never whole in memory or on
disk twice: the file part is hashed and spooled by ``BlobStore.put_stream`` while it arrives.

The parse runs in a worker thread that pulls body chunks from the event loop, one at a time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO, TypeVar

import anyio
import anyio.from_thread
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from api.errors import ApiError
from core.storage import BlobStore

T = TypeVar("T")
MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 200


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


class _FormParser:
    """Push-parser state plus a pull-reader over the file part for ``put_stream``."""

    def __init__(
        self,
        boundary: bytes,
        pull: Callable[[], bytes],
        file_field: str,
        text_fields: set[str],
        before_file: Callable[[dict[str, list[str]]], None],
    ):
        self.pull, self.file_field, self.text_fields, self.before_file = (
            pull,
            file_field,
            text_fields,
            before_file,
        )
        self.form = StreamedForm()
        self.ended = False
        self.in_file = False  # the file part's data is flowing
        self.file_seen = False
        self.file_done = False
        self.buf = bytearray()
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
            self.before_file(self.form.fields)
        elif self._name not in self.text_fields:
            raise ApiError(422, "unknown_field", [self._name])

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self.in_file:
            self.buf.extend(data[start:end])
            return
        self._value.extend(data[start:end])
        if len(self._value) > MAX_FIELD_BYTES:
            raise ApiError(422, "invalid_request", f"field {self._name!r} is too long")

    def _part_end(self) -> None:
        if self.in_file:
            self.in_file, self.file_done = False, True
        elif self._name is not None:
            try:
                self.form.fields[self._name].append(self._value.decode("utf-8"))
            except UnicodeDecodeError:
                raise ApiError(422, "invalid_request", f"field {self._name!r} is not UTF-8") from None

    def _end(self) -> None:
        self.ended = True

    # -- pulling ---------------------------------------------------------------------------------------
    def _feed(self) -> bool:
        """Parse the next body chunk; False at the end of the body."""
        chunk = self.pull()
        if not chunk:
            return False
        self.parser.write(chunk)
        return True

    def read(self, n: int = -1) -> bytes:
        """File-like read of the file part (blocks for the next chunk; ``b""`` at its end)."""
        while not self.buf and not self.file_done:
            if not self._feed():
                raise ApiError(422, "invalid_request", "the body ended inside the file")
        n = len(self.buf) if n is None or n < 0 else min(n, len(self.buf))
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def run(self, store: BlobStore, max_bytes: int) -> StreamedForm:
        while not self.file_seen and self._feed():
            pass
        if self.file_seen:
            self.form.key, self.form.size = store.put_stream(self, max_bytes)  # type: ignore[arg-type]
        while self._feed():
            pass
        if not self.ended:
            raise ApiError(422, "invalid_request", "the multipart body is incomplete")
        return self.form


async def receive_form(
    request: Request,
    store: BlobStore,
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
    boundary = boundary_of(request)
    parser = _FormParser(boundary, _puller(request), file_field, text_fields, before_file)
    return await anyio.to_thread.run_sync(parser.run, store, max_bytes)


class _PullReader:
    """A blocking file-like reader over body chunks pulled from the event loop."""

    def __init__(self, pull: Callable[[], bytes]):
        self.pull = pull
        self.buf = b""
        self.eof = False

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            parts = [self.buf]
            while not self.eof and (chunk := self.pull()):
                parts.append(chunk)
            self.buf, self.eof = b"", True
            return b"".join(parts)
        if not self.buf and not self.eof:
            self.buf = self.pull()
            self.eof = not self.buf
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def _puller(request: Request) -> Callable[[], bytes]:
    chunks = request.stream()

    async def next_chunk() -> bytes:
        try:
            return await chunks.__anext__()
        except StopAsyncIteration:
            return b""

    return lambda: anyio.from_thread.run(next_chunk)


async def receive_body(request: Request, consume: Callable[[BinaryIO], T]) -> T:
    """Run ``consume(reader)`` in a worker thread over the request body as it arrives."""
    reader = _PullReader(_puller(request))
    return await anyio.to_thread.run_sync(consume, reader)
