"""Blob store in a local directory: ``ROOT/sha256/ab/cd/<hex>``, written by temp file + ``os.replace``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from core.storage import (
    KEY_PREFIX,
    BlobInfo,
    BlobNotFound,
    BlobStore,
    atomic_write,
    digest_of_key,
    is_valid_key,
    validate_key,
    validate_prefix,
)


class LocalBlobStore(BlobStore):
    """Blobs as files under ``root``; temp files live in ``root/tmp`` (same filesystem, atomic renames)."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.spool_dir = self.root / "tmp"

    def path(self, key: str) -> Path:
        """The file that holds (or would hold) a blob."""
        hexdigest = digest_of_key(key)
        return self.root / "sha256" / hexdigest[:2] / hexdigest[2:4] / hexdigest

    def open(self, key: str) -> BinaryIO:
        """The blob's file, opened for reading."""
        try:
            return open(self.path(key), "rb")
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def size(self, key: str) -> int:
        return self._existing(key).stat().st_size

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def uri(self, key: str) -> str:
        return self.path(key).as_uri()

    def presigned_get_url(self, key: str, expires_s: int = 900) -> str | None:
        validate_key(key)
        return None

    def touch(self, key: str) -> None:
        try:
            os.utime(self.path(key))
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    def iter_blobs(self, prefix: str = KEY_PREFIX) -> Iterator[BlobInfo]:
        for key in self.iter_keys(prefix):
            try:
                st = self.path(key).stat()
            except FileNotFoundError:  # deleted meanwhile
                continue
            yield BlobInfo(key, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))

    def iter_keys(self, prefix: str = KEY_PREFIX) -> Iterator[str]:
        hex_prefix = validate_prefix(prefix)[len(KEY_PREFIX) :]
        for d1 in _fanout_dirs(self.root / "sha256", hex_prefix[:2]):
            for d2 in _fanout_dirs(d1, hex_prefix[2:4]):
                for name in sorted(os.listdir(d2)):
                    key = KEY_PREFIX + name
                    if name.startswith(hex_prefix) and name[:4] == d1.name + d2.name and is_valid_key(key):
                        yield key

    # -- backend hooks ---------------------------------------------------------------------------------
    def _store_bytes(self, data: bytes, key: str, digest: str) -> None:
        dest = atomic_write(self.path(key), lambda tmp: _write_synced(tmp, data))
        _fsync(dest.parent)  # persist the rename

    def _adopt_spooled(self, tmp: Path, key: str, digest: str) -> None:
        _fsync(tmp)
        dest = self.path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, dest)
        _fsync(dest.parent)  # persist the rename

    def _existing(self, key: str) -> Path:
        p = self.path(key)
        if not p.is_file():
            raise BlobNotFound(key)
        return p


def _fanout_dirs(parent: Path, name_prefix: str) -> list[Path]:
    """Fan-out subdirectories (two hex digits) of ``parent`` whose names start with ``name_prefix``."""
    try:
        names = sorted(os.listdir(parent))
    except FileNotFoundError:
        return []
    return [parent / n for n in names if len(n) == 2 and n.startswith(name_prefix) and (parent / n).is_dir()]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_synced(tmp: Path, data: bytes) -> None:
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
