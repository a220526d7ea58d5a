"""Content-addressed blob store: one interface, a local-directory and an S3 implementation.

Keys look like ``sha256/<64 lowercase hex>``: the SHA-256 of the content. Storing the same bytes twice
stores them once. Implementations: ``core.storage_local.LocalBlobStore``, ``core.storage_s3.S3BlobStore``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from core.settings import Settings
from pipeline.errors import MediaError

KEY_PREFIX = "sha256/"
CHUNK_BYTES = 1024 * 1024
_KEY_RE = re.compile(r"sha256/[0-9a-f]{64}")
_PREFIX_RE = re.compile(r"sha256/[0-9a-f]{0,64}")


class BlobNotFound(KeyError):
    """No blob is stored under this key."""


class InvalidBlobKey(ValueError):
    """The string is not a blob key (``sha256/<64 lowercase hex>``)."""


class BlobTooLarge(MediaError):
    """An upload went past its size cap (a ``file_too_large`` rejection); nothing was stored."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        super().__init__("file_too_large", f"more than {max_bytes} bytes")


def validate_key(key: str) -> str:
    """Return ``key`` unchanged, or raise ``InvalidBlobKey`` (blocks path traversal and foreign keys)."""
    if not is_valid_key(key):
        raise InvalidBlobKey(f"not a blob key: {key!r}")
    return key


def is_valid_key(key: object) -> bool:
    """Whether ``key`` is a blob key (``sha256/<64 lowercase hex>``)."""
    return isinstance(key, str) and _KEY_RE.fullmatch(key) is not None


def validate_prefix(prefix: str) -> str:
    """Return a key prefix (``sha256/`` plus up to 64 hex digits) unchanged, or raise ``InvalidBlobKey``."""
    if not isinstance(prefix, str) or not _PREFIX_RE.fullmatch(prefix):
        raise InvalidBlobKey(f"not a blob key prefix: {prefix!r}")
    return prefix


def key_for_digest(hexdigest: str) -> str:
    """The key of content whose SHA-256 is ``hexdigest``."""
    return validate_key(KEY_PREFIX + hexdigest.lower())


def digest_of_key(key: str) -> str:
    """The SHA-256 hex digest a key names."""
    return validate_key(key)[len(KEY_PREFIX) :]


def sha256_file(path: Path) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            h.update(chunk)
    return h.hexdigest()


def atomic_write(dest: Path, write: Callable[[Path], object]) -> Path:
    """Let ``write`` fill a temp file next to ``dest``, then ``os.replace`` it into place; return ``dest``.

    A reader never sees a partial ``dest``; on failure the temp file is removed and ``dest`` is untouched.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{dest.name}.{uuid.uuid4().hex}.part"
    try:
        write(tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


class BlobStore(ABC):
    """A content-addressed store of immutable blobs."""

    spool_dir: Path  # where ``put_stream`` spools uploads (local: inside the store, for atomic renames)

    # -- writing ---------------------------------------------------------------------------------------
    def put_file(self, path: Path) -> str:
        """Store a file (once: skipped when the content is already there); return its key."""
        with open(path, "rb") as f:
            return self.put_stream(f)[0]

    def put_bytes(self, data: bytes) -> str:
        """Store bytes (once; an existing copy is touched); return their key."""
        digest = hashlib.sha256(data).hexdigest()
        key = key_for_digest(digest)
        if self.exists(key):
            self.touch(key)
        else:
            self._store_bytes(data, key, digest)
        return key

    def put_stream(self, fileobj: BinaryIO, max_bytes: int | None = None) -> tuple[str, int]:
        """Store a stream (an upload): spool it to a temp file while hashing, never whole in memory.

        Returns ``(key, size)``. Raises ``BlobTooLarge`` as soon as more than ``max_bytes`` arrive.
        """
        spool = BlobSpool(self, max_bytes)
        try:
            while chunk := fileobj.read(CHUNK_BYTES):
                spool.write(chunk)
            return spool.commit()
        finally:
            spool.discard()

    @abstractmethod
    def touch(self, key: str) -> None:
        """Make a stored blob count as just written (the orphan collection spares young blobs)."""

    # -- reading ---------------------------------------------------------------------------------------
    def get_file(self, key: str, dest: Path) -> Path:
        """Download a blob to ``dest`` atomically (temp file + rename); return ``dest``."""
        with self.open(key) as src:

            def copy(tmp: Path) -> None:
                with open(tmp, "wb") as out:
                    shutil.copyfileobj(src, out, CHUNK_BYTES)

            return atomic_write(dest, copy)

    def read_range(self, key: str, start: int, end_inclusive: int) -> bytes:
        """Bytes ``start..end_inclusive`` of a blob, clipped at its end (``b""`` if ``start`` is past it)."""
        check_range(start, end_inclusive)
        with self.open(key) as f:
            end = min(end_inclusive + 1, f.seek(0, os.SEEK_END))
            if start >= end:
                return b""
            f.seek(start)
            return f.read(end - start)

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A readable, seekable binary file object over the blob; raises ``BlobNotFound``."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether a blob is stored under ``key``."""

    @abstractmethod
    def size(self, key: str) -> int:
        """Size of a blob in bytes; raises ``BlobNotFound``."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove a blob; deleting a missing blob is not an error."""

    @abstractmethod
    def uri(self, key: str) -> str:
        """Where the blob lives: ``file:///abs/path`` or ``s3://bucket/prefix/key``."""

    @abstractmethod
    def presigned_get_url(self, key: str, expires_s: int = 900) -> str | None:
        """A time-limited plain-HTTP download URL, or ``None`` when the backend has none (local)."""

    @abstractmethod
    def iter_keys(self, prefix: str = KEY_PREFIX) -> Iterator[str]:
        """Every stored key starting with ``prefix``, in sorted order."""

    @abstractmethod
    def iter_blobs(self, prefix: str = KEY_PREFIX) -> Iterator[BlobInfo]:
        """Every stored blob whose key starts with ``prefix``, with its size and last write."""

    # -- backend hooks ---------------------------------------------------------------------------------
    @abstractmethod
    def _store_bytes(self, data: bytes, key: str, digest: str) -> None:
        """Store bytes."""

    @abstractmethod
    def _adopt_spooled(self, tmp: Path, key: str, digest: str) -> None:
        """Store a spooled temp file (the implementation may move it)."""


@dataclass(frozen=True)
class BlobInfo:
    key: str
    size: int
    modified_at: datetime  # aware, UTC: the last write or touch


class BlobSpool:
    """A blob arriving in chunks (``write``), hashed and spooled to a temp file, then stored under
    its digest (``commit``) or dropped (``discard``, a no-op after ``commit``)."""

    def __init__(self, store: BlobStore, max_bytes: int | None = None):
        store.spool_dir.mkdir(parents=True, exist_ok=True)
        self.store, self.max_bytes, self.size = store, max_bytes, 0
        self.path = store.spool_dir / f"upload-{uuid.uuid4().hex}.part"
        self._file: BinaryIO = open(self.path, "xb")  # noqa: SIM115 - closed by commit or discard
        self._hash = hashlib.sha256()

    def write(self, chunk: bytes) -> None:
        """Append ``chunk``; ``BlobTooLarge`` as soon as more than ``max_bytes`` arrived."""
        self.size += len(chunk)
        if self.max_bytes is not None and self.size > self.max_bytes:
            raise BlobTooLarge(self.max_bytes)
        self._hash.update(chunk)
        self._file.write(chunk)

    def commit(self) -> tuple[str, int]:
        """Store what arrived (once: an existing copy is touched instead); returns ``(key, size)``."""
        self._file.close()
        digest = self._hash.hexdigest()
        key = key_for_digest(digest)
        try:
            if self.store.exists(key):
                self.store.touch(key)
            else:
                self.store._adopt_spooled(self.path, key, digest)
        finally:
            self.path.unlink(missing_ok=True)
        return key, self.size

    def discard(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


def check_range(start: int, end_inclusive: int) -> None:
    """Reject a negative or inverted byte range."""
    if start < 0 or end_inclusive < start:
        raise ValueError(f"bad byte range {start}-{end_inclusive}")


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ``("bucket", "some/prefix")`` (prefix may be empty)."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"EVIDENCE_STORAGE must look like s3://bucket/prefix, got {url!r}")
    return parts.netloc, parts.path.strip("/")


def open_blob_store(settings: Settings) -> BlobStore:
    """The configured store: S3 when ``EVIDENCE_STORAGE=s3://bucket/prefix``, else ``settings.blob_dir``."""
    if settings.storage:
        from core.storage_s3 import S3BlobStore

        return S3BlobStore.from_settings(settings)
    from core.storage_local import LocalBlobStore

    return LocalBlobStore(settings.blob_dir)
