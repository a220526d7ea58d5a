"""Resumable uploads in numbered parts, finished into a content-addressed blob, on either backend.

S3: a native multipart upload (``core.storage_s3_multipart``); clients PUT parts to presigned URLs or
through the API. Local: parts are files in ``<root>/uploads/<staging>/``, concatenated into the store
on completion.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from core.storage import CHUNK_BYTES, BlobStore, atomic_write
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


def _copy_limited(src: BinaryIO, dst: BinaryIO, limit: int) -> int:
    n = 0
    while chunk := src.read(CHUNK_BYTES):
        n += len(chunk)
        if n > limit:
            raise PartTooLarge(f"part is larger than {limit} bytes")
        dst.write(chunk)
    return n


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
    def put_part(self, staging: Staging, number: int, body: BinaryIO, limit: int) -> Part:
        """Store part ``number`` from ``body`` (at most ``limit`` bytes), replacing an earlier copy."""

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

    def put_part(self, staging: Staging, number: int, body: BinaryIO, limit: int) -> Part:
        size = 0

        def write(tmp: Path) -> None:
            nonlocal size
            with open(tmp, "wb") as out:
                size = _copy_limited(body, out, limit)

        atomic_write(self._dir(staging) / f"{number:05d}", write)
        return Part(number, size, "")

    def list_parts(self, staging: Staging, confirmed: dict[int, str] | None = None) -> list[Part]:
        d = self._dir(staging)  # one file per number: a part sent again replaced the earlier copy
        if not d.is_dir():
            return []
        return [Part(int(p.name), p.stat().st_size, "") for p in sorted(d.iterdir()) if p.name.isdigit()]

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

    def put_part(self, staging: Staging, number: int, body: BinaryIO, limit: int) -> Part:
        self.store.spool_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=self.store.spool_dir) as spool:
            size = _copy_limited(body, spool, limit)
            spool.seek(0)
            resp = self.store.client.upload_part(
                Bucket=self.store.bucket,
                Key=staging.key,
                UploadId=staging.backend_id,
                PartNumber=number,
                Body=spool,
                ContentLength=size,
            )
        return Part(number, size, resp["ETag"])

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
                    chosen[n] = (rank, Part(n, p["Size"], p["ETag"]))
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
