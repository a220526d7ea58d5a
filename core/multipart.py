"""Resumable uploads in numbered parts, finished into a content-addressed blob, on either backend.

S3: a native multipart upload (``core.storage_s3_multipart``); clients PUT parts to presigned URLs or
through the API. Local: parts are files in ``<root>/uploads/<staging>/``, concatenated into the store
on completion.
"""

from __future__ import annotations

import os
import shutil
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from core.storage import CHUNK_BYTES, BlobStore
from core.storage_local import LocalBlobStore
from core.storage_s3 import S3BlobStore
from core.storage_s3_multipart import S3MultipartUploads

MAX_PARTS = 10_000
MIN_PART_BYTES = 5 * 1024**2  # S3's minimum for every part but the last


class PartTooLarge(ValueError):
    """A part body is larger than announced."""


@dataclass(frozen=True)
class Part:
    number: int  # 1-based
    size: int
    etag: str  # S3's ETag; empty on local storage
    at: datetime | None = None  # when it arrived (aware, UTC)


class PartSink(ABC):
    """One part arriving in chunks (``write``), then stored (``commit``) or dropped (``discard``, a
    no-op after ``commit``)."""

    def __init__(self, number: int, limit: int, spool: Path):
        self.number, self.limit, self.size = number, limit, 0
        self.spool = spool
        self._file: BinaryIO = open(spool, "xb")  # noqa: SIM115 - closed by commit or discard

    def write(self, chunk: bytes) -> None:
        """Append ``chunk``; ``PartTooLarge`` past ``limit`` bytes."""
        self.size += len(chunk)
        if self.size > self.limit:
            raise PartTooLarge(f"part is larger than {self.limit} bytes")
        self._file.write(chunk)

    def commit(self) -> Part:
        self._file.close()
        try:
            return self._store()
        finally:
            self.spool.unlink(missing_ok=True)

    def discard(self) -> None:
        self._file.close()
        self.spool.unlink(missing_ok=True)

    @abstractmethod
    def _store(self) -> Part:
        """Store the spooled part (the spool is removed afterwards)."""


@dataclass(frozen=True)
class Staging:
    """Where an upload's parts wait: a staging key (S3) or directory name (local), and S3's upload id."""

    key: str
    backend_id: str | None = None


class PartUploads(ABC):
    """One backend's multipart operations."""

    min_part_bytes = 1  # every part but the last is at least this large
    max_parts = MAX_PARTS

    @abstractmethod
    def start(self) -> Staging:
        """Begin an upload."""

    @abstractmethod
    def part_url(self, staging: Staging, number: int, expires_s: int) -> str | None:
        """A presigned URL the client PUTs part ``number`` to, or None (send it through the API)."""

    @abstractmethod
    def part_sink(self, staging: Staging, number: int, limit: int) -> PartSink:
        """Where part ``number`` (at most ``limit`` bytes) is written; replaces an earlier copy."""

    def put_part(self, staging: Staging, number: int, body: BinaryIO, limit: int) -> Part:
        """Store part ``number`` from ``body`` (at most ``limit`` bytes), replacing an earlier copy."""
        sink = self.part_sink(staging, number, limit)
        try:
            while chunk := body.read(CHUNK_BYTES):
                sink.write(chunk)
            return sink.commit()
        finally:
            sink.discard()

    @abstractmethod
    def list_staged(self) -> list[tuple[Staging, datetime]]:
        """Every upload whose parts are waiting (open, or left behind), with when it started."""

    @abstractmethod
    def list_parts(self, staging: Staging, confirmed: dict[int, str] | None = None) -> list[Part]:
        """The parts received so far, one per number, in order: the copy whose ETag the client
        ``confirmed`` for that number, else the latest copy."""

    @abstractmethod
    def complete(self, staging: Staging, parts: list[Part], max_bytes: int) -> tuple[str, int]:
        """Join ``parts`` (in order) into a blob; returns ``(key, size)``; the staging data is removed.
        Raises ``BlobTooLarge`` past ``max_bytes``."""

    @abstractmethod
    def abort(self, staging: Staging) -> None:
        """Drop everything received for the upload."""


class LocalPartUploads(PartUploads):
    def __init__(self, store: LocalBlobStore):
        self.store = store

    def _dir(self, staging: Staging) -> Path:
        if not staging.key.isalnum():
            raise ValueError(f"bad staging key {staging.key!r}")
        return self.store.root / "uploads" / staging.key

    def start(self) -> Staging:
        staging = Staging(uuid.uuid4().hex)
        self._dir(staging).mkdir(parents=True)
        return staging

    def part_url(self, staging: Staging, number: int, expires_s: int) -> str | None:
        return None

    def part_sink(self, staging: Staging, number: int, limit: int) -> PartSink:
        dest = self._dir(staging) / f"{number:05d}"
        return _LocalPartSink(number, limit, dest.parent / f".{dest.name}.{uuid.uuid4().hex}.part", dest)

    def list_parts(self, staging: Staging, confirmed: dict[int, str] | None = None) -> list[Part]:
        d = self._dir(staging)  # one file per number: a part sent again replaced the earlier copy
        if not d.is_dir():
            return []
        parts = []
        for p in sorted(d.iterdir()):
            if p.name.isdigit():
                st = p.stat()
                parts.append(Part(int(p.name), st.st_size, "", datetime.fromtimestamp(st.st_mtime, UTC)))
        return parts

    def list_staged(self) -> list[tuple[Staging, datetime]]:
        root = self.store.root / "uploads"
        if not root.is_dir():
            return []
        return [
            (Staging(d.name), datetime.fromtimestamp(d.stat().st_mtime, UTC))
            for d in sorted(root.iterdir())
            if d.is_dir() and d.name.isalnum()
        ]

    def complete(self, staging: Staging, parts: list[Part], max_bytes: int) -> tuple[str, int]:
        d = self._dir(staging)
        try:
            reader = _Concat([d / f"{p.number:05d}" for p in parts])
            return self.store.put_stream(reader, max_bytes)  # type: ignore[arg-type]
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def abort(self, staging: Staging) -> None:
        shutil.rmtree(self._dir(staging), ignore_errors=True)


class S3PartUploads(PartUploads):
    """Parts go to S3 directly (presigned URLs) or through the API; see ``core.storage_s3_multipart``."""

    min_part_bytes = MIN_PART_BYTES

    def __init__(self, store: S3BlobStore):
        self.store = store
        self.s3 = S3MultipartUploads(store)

    def start(self) -> Staging:
        key, upload_id = self.s3.create()
        return Staging(key, upload_id)

    def part_url(self, staging: Staging, number: int, expires_s: int) -> str | None:
        return self.s3.presigned_part_url(staging.key, staging.backend_id or "", number, expires_s)

    def part_sink(self, staging: Staging, number: int, limit: int) -> PartSink:
        self.store.spool_dir.mkdir(parents=True, exist_ok=True)
        spool = self.store.spool_dir / f"part-{uuid.uuid4().hex}.part"
        return _S3PartSink(number, limit, spool, self.store, staging)

    def list_staged(self) -> list[tuple[Staging, datetime]]:
        return [(Staging(key, upload_id), at) for key, upload_id, at in self.s3.list_open()]

    def list_parts(self, staging: Staging, confirmed: dict[int, str] | None = None) -> list[Part]:
        """One entry per part number. SeaweedFS lists every copy of a part sent again, and copies
        sent within the same second cannot be ordered by ``LastModified``: the copy whose ETag the
        client confirmed wins, else the newest (on a tie, the first listed)."""
        want = {n: etag.strip('"') for n, etag in (confirmed or {}).items()}
        paginator = self.store.client.get_paginator("list_parts")
        pages = paginator.paginate(Bucket=self.store.bucket, Key=staging.key, UploadId=staging.backend_id)
        chosen: dict[int, tuple[tuple[bool, Any], Part]] = {}
        for page in pages:
            for p in page.get("Parts", []):
                n = p["PartNumber"]
                rank = (want.get(n) == p["ETag"].strip('"'), p["LastModified"])
                if n not in chosen or rank > chosen[n][0]:
                    chosen[n] = (rank, Part(n, p["Size"], p["ETag"], p["LastModified"].astimezone(UTC)))
        return [part for _, (_, part) in sorted(chosen.items())]

    def complete(self, staging: Staging, parts: list[Part], max_bytes: int) -> tuple[str, int]:
        pairs = [(p.number, p.etag) for p in parts]
        return self.s3.complete(staging.key, staging.backend_id or "", pairs, max_bytes)

    def abort(self, staging: Staging) -> None:
        self.s3.abort(staging.key, staging.backend_id or "")


def part_uploads(store: BlobStore) -> PartUploads:
    """The multipart operations of ``store``'s backend."""
    if isinstance(store, S3BlobStore):
        return S3PartUploads(store)
    if isinstance(store, LocalBlobStore):
        return LocalPartUploads(store)
    raise TypeError(f"no multipart uploads for {type(store).__name__}")


class _LocalPartSink(PartSink):
    def __init__(self, number: int, limit: int, spool: Path, dest: Path):
        super().__init__(number, limit, spool)
        self.dest = dest

    def _store(self) -> Part:
        os.replace(self.spool, self.dest)
        return Part(self.number, self.size, "", datetime.now(UTC))


class _S3PartSink(PartSink):
    def __init__(self, number: int, limit: int, spool: Path, store: S3BlobStore, staging: Staging):
        super().__init__(number, limit, spool)
        self.store, self.staging = store, staging

    def _store(self) -> Part:
        with open(self.spool, "rb") as body:
            resp = self.store.client.upload_part(
                Bucket=self.store.bucket,
                Key=self.staging.key,
                UploadId=self.staging.backend_id,
                PartNumber=self.number,
                Body=body,
                ContentLength=self.size,
            )
        return Part(self.number, self.size, resp["ETag"], datetime.now(UTC))


class _Concat:
    """Reads files one after another, as one stream."""

    def __init__(self, paths: list[Path]):
        self._paths: Iterator[Path] = iter(paths)
        self._f: BinaryIO | None = None

    def read(self, n: int = -1) -> bytes:
        while True:
            if self._f is None:
                path = next(self._paths, None)
                if path is None:
                    return b""
                self._f = open(path, "rb")  # noqa: SIM115 - closed when exhausted
            data = self._f.read(n)
            if data:
                return data
            self._f.close()
            self._f = None
