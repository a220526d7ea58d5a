"""Where the files of a manifest live: a local folder (paths relative to it, or to the manifest), an S3
prefix (``s3://bucket/prefix/``), or the blob store itself (``sha256/<hex>`` keys)."""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from core.settings import Settings
from core.storage import BlobStore, is_valid_key, parse_s3_url
from core.storage_s3 import make_s3_client
from core.submissions import store_file

_CACHE = 256  # recently stored files: rows pointing at the same file are hashed once


def open_manifest(location: str, settings: Settings) -> TextIO:
    """A manifest as text, streamed: a local file, or an ``s3://bucket/key`` object (read from a pod
    that has no copy of it)."""
    if not location.startswith("s3://"):
        return open(location, newline="", encoding="utf-8-sig")  # noqa: SIM115 — the caller closes it
    bucket, key = parse_s3_url(location)
    try:
        body = _client(settings).get_object(Bucket=bucket, Key=key)["Body"]
    except (ClientError, BotoCoreError) as exc:
        raise Unreadable(f"{location}: {exc}") from exc
    return io.TextIOWrapper(body, encoding="utf-8-sig", newline="")


def _client(settings: Settings) -> Any:
    return make_s3_client(
        settings.aws_endpoint_url,
        settings.aws_region,
        settings.aws_access_key_id,
        settings.aws_secret_access_key.get_secret_value() if settings.aws_secret_access_key else None,
        settings.aws_session_token.get_secret_value() if settings.aws_session_token else None,
    )


class Unreadable(OSError):
    """The row's file cannot be read."""


class ArchiveSource:
    """Resolves a manifest ``path`` to a description (its identity in the run) and stores its bytes."""

    def __init__(self, base: Path | str, settings: Settings):
        self.s3: Any = None
        if isinstance(base, str) and base.startswith("s3://"):
            self.bucket, prefix = parse_s3_url(base)
            self.prefix = f"{prefix}/" if prefix else ""
            self.s3 = _client(settings)
        else:
            self.base = Path(base).expanduser().resolve()
        self._stored: OrderedDict[tuple, tuple[str, int]] = OrderedDict()

    def describe(self, path: str) -> str:
        """The row's file as one string: a blob key, an ``s3://`` URL or an absolute local path."""
        if is_valid_key(path):
            return path
        if self.s3 is not None:
            return f"s3://{self.bucket}/{self.prefix}{path.lstrip('/')}"
        return str((self.base / path).resolve())

    def check(self, path: str, store: BlobStore) -> int:
        """The file's size, or ``Unreadable`` (a dry run reads no bytes)."""
        if is_valid_key(path):
            if not store.exists(path):
                raise Unreadable(f"no blob {path} in the store")
            return store.size(path)
        if self.s3 is not None:
            return self._head(path)["ContentLength"]
        local = Path(self.describe(path))
        if not local.is_file():
            raise Unreadable(f"{local} is not a readable file")
        return local.stat().st_size

    def store(self, path: str, store: BlobStore, max_bytes: int | None) -> tuple[str, int]:
        """Copy the file into the blob store (streamed); ``(key, size)``. ``Unreadable``, or the store's
        refusals (``BlobTooLarge``)."""
        if is_valid_key(path):
            return path, self.check(path, store)
        if self.s3 is not None:
            head = self._head(path)
            return self._once(("s3", path, head.get("ETag")), lambda: self._copy_s3(path, store, max_bytes))
        local = Path(self.describe(path))
        try:
            st = local.stat()
        except OSError as exc:
            raise Unreadable(exc.strerror or str(exc)) from exc
        try:
            return self._once(
                ("file", str(local), st.st_size, st.st_mtime_ns), lambda: store_file(store, local, max_bytes)
            )
        except (OSError, ValueError) as exc:
            if isinstance(exc, Unreadable):
                raise
            raise Unreadable(getattr(exc, "strerror", None) or str(exc)) from exc

    def _once(self, identity: tuple, put: Callable[[], tuple[str, int]]) -> tuple[str, int]:
        if identity in self._stored:
            self._stored.move_to_end(identity)
            return self._stored[identity]
        result = self._stored[identity] = put()
        if len(self._stored) > _CACHE:
            self._stored.popitem(last=False)
        return result

    def _head(self, path: str) -> dict:
        try:
            return self.s3.head_object(Bucket=self.bucket, Key=self.prefix + path.lstrip("/"))
        except (ClientError, BotoCoreError) as exc:
            raise Unreadable(f"{self.describe(path)}: {exc}") from exc

    def _copy_s3(self, path: str, store: BlobStore, max_bytes: int | None) -> tuple[str, int]:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=self.prefix + path.lstrip("/"))["Body"]
        except (ClientError, BotoCoreError) as exc:
            raise Unreadable(f"{self.describe(path)}: {exc}") from exc
        with body:
            return store.put_stream(body, max_bytes)
