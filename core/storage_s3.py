"""Blob store on S3 (AWS or any S3-compatible server) through boto3, path-style addressing."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from typing import Any, BinaryIO

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from core.settings import Settings
from core.storage import (
    CHUNK_BYTES,
    KEY_PREFIX,
    BlobInfo,
    BlobNotFound,
    BlobStore,
    atomic_write,
    check_range,
    is_valid_key,
    key_for_digest,
    parse_s3_url,
    sha256_file,
    validate_key,
    validate_prefix,
)

DEFAULT_PART_BYTES = 64 * 1024**2
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


def make_s3_client(
    endpoint_url: str | None = None,
    region: str = "us-east-1",
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    session_token: str | None = None,
    max_pool_connections: int = 16,
) -> Any:
    """A boto3 S3 client: SigV4, path-style addressing, bounded timeouts and standard retries.

    Keys left ``None`` come from boto3's default credential chain.
    """
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        retries={"max_attempts": 5, "mode": "standard"},
        connect_timeout=10,
        read_timeout=60,
        max_pool_connections=max_pool_connections,
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        aws_session_token=session_token,
        config=config,
    )


class S3BlobStore(BlobStore):
    """Blobs as objects ``<prefix>/sha256/<hex>`` in one bucket.

    Objects of ``multipart_threshold`` bytes or more go up in parts of ``multipart_chunksize``; every
    upload carries a SHA-256 checksum the server verifies (whole object, or per part).
    """

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str = "",
        *,
        spool_dir: Path,
        multipart_threshold: int = DEFAULT_PART_BYTES,
        multipart_chunksize: int = DEFAULT_PART_BYTES,
        max_concurrency: int = 4,
    ):
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.spool_dir = Path(spool_dir)
        self.multipart_threshold = multipart_threshold
        self.transfer = TransferConfig(
            multipart_threshold=multipart_threshold,
            multipart_chunksize=multipart_chunksize,
            max_concurrency=max_concurrency,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> S3BlobStore:
        """The store ``EVIDENCE_STORAGE=s3://bucket/prefix`` names, its bucket created when missing."""
        bucket, prefix = parse_s3_url(settings.storage or "")
        secret, token = settings.aws_secret_access_key, settings.aws_session_token
        client = make_s3_client(
            endpoint_url=settings.aws_endpoint_url,
            region=settings.aws_region,
            access_key_id=settings.aws_access_key_id,
            secret_access_key=secret.get_secret_value() if secret else None,
            session_token=token.get_secret_value() if token else None,
        )
        store = cls(
            client,
            bucket,
            prefix,
            spool_dir=settings.home / "spool",
            multipart_threshold=settings.s3_multipart_threshold_bytes,
            multipart_chunksize=settings.s3_multipart_chunk_bytes,
        )
        store.ensure_bucket()
        return store

    def ensure_bucket(self) -> None:
        """Create the bucket unless it exists (safe when several processes race to create it)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as e:
            if _code(e) not in _NOT_FOUND | {"NoSuchBucket"}:
                raise
        region = self.client.meta.region_name
        extra = {}
        if region not in (None, "us-east-1"):
            extra["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self.client.create_bucket(Bucket=self.bucket, **extra)
        except ClientError as e:
            if _code(e) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise

    def object_key(self, key: str) -> str:
        """The S3 object key of a blob key."""
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    # -- writing ---------------------------------------------------------------------------------------
    def put_file(self, path: Path) -> str:
        """Hash the file, then upload it straight from disk unless the content is already stored
        (then it is touched)."""
        digest = sha256_file(path)
        key = key_for_digest(digest)
        if self.exists(key):
            self.touch(key)
        else:
            self._upload(Path(path), key, digest)
        return key

    def touch(self, key: str) -> None:
        """Copy the object onto itself: its ``LastModified`` becomes now (server-side, no transfer)."""
        obj = self.object_key(key)
        with _blob_errors(key):
            self.client.copy_object(
                Bucket=self.bucket,
                Key=obj,
                CopySource={"Bucket": self.bucket, "Key": obj},
                MetadataDirective="REPLACE",
            )

    # -- reading ---------------------------------------------------------------------------------------
    def get_file(self, key: str, dest: Path) -> Path:
        """Download (in parallel ranged parts for large objects) to ``dest`` atomically."""
        obj = self.object_key(key)
        with _blob_errors(key):
            return atomic_write(
                dest, lambda tmp: self.client.download_file(self.bucket, obj, str(tmp), Config=self.transfer)
            )

    def open(self, key: str) -> BinaryIO:
        """A buffered, seekable reader; each seek away from the current position starts a ranged GET."""
        size = self.size(key)
        raw = _S3ObjectReader(self.client, self.bucket, self.object_key(key), key, size)
        return io.BufferedReader(raw, buffer_size=CHUNK_BYTES)

    def read_range(self, key: str, start: int, end_inclusive: int) -> bytes:
        check_range(start, end_inclusive)
        obj = self.object_key(key)
        try:
            with _blob_errors(key):
                resp = self.client.get_object(
                    Bucket=self.bucket, Key=obj, Range=f"bytes={start}-{end_inclusive}"
                )
        except ClientError as e:
            if _code(e) != "InvalidRange":
                raise
            self._head(key)  # BlobNotFound if it is missing; else start is past the end
            return b""
        with _blob_errors(key):
            return resp["Body"].read()

    def exists(self, key: str) -> bool:
        try:
            self._head(key)
        except BlobNotFound:
            return False
        return True

    def size(self, key: str) -> int:
        return int(self._head(key)["ContentLength"])

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.object_key(key))

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.object_key(key)}"

    def presigned_get_url(self, key: str, expires_s: int = 900) -> str | None:
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self.object_key(key)}, ExpiresIn=expires_s
        )

    def iter_keys(self, prefix: str = KEY_PREFIX) -> Iterator[str]:
        return (blob.key for blob in self.iter_blobs(prefix))

    def iter_blobs(self, prefix: str = KEY_PREFIX) -> Iterator[BlobInfo]:
        validate_prefix(prefix)
        base = f"{self.prefix}/" if self.prefix else ""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=base + prefix):
            for item in page.get("Contents", []):
                key = item["Key"][len(base) :]
                if is_valid_key(key):
                    yield BlobInfo(key, int(item["Size"]), item["LastModified"].astimezone(UTC))

    # -- backend hooks ---------------------------------------------------------------------------------
    def _store_bytes(self, data: bytes, key: str, digest: str) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=self.object_key(key), Body=data, ChecksumSHA256=_b64(digest)
        )

    def _adopt_spooled(self, tmp: Path, key: str, digest: str) -> None:
        self._upload(tmp, key, digest)

    def _upload(self, path: Path, key: str, digest: str) -> None:
        obj = self.object_key(key)
        if path.stat().st_size < self.multipart_threshold:
            with open(path, "rb") as f:  # one PUT; the server checks the body against the key's digest
                self.client.put_object(Bucket=self.bucket, Key=obj, Body=f, ChecksumSHA256=_b64(digest))
        else:
            self.client.upload_file(
                str(path), self.bucket, obj, Config=self.transfer, ExtraArgs={"ChecksumAlgorithm": "SHA256"}
            )

    def _head(self, key: str) -> dict:
        obj = self.object_key(key)
        with _blob_errors(key):
            return self.client.head_object(Bucket=self.bucket, Key=obj)


class _S3ObjectReader(io.RawIOBase):
    """Raw seekable reader over one object: streams from the current position until the next seek."""

    def __init__(self, client: Any, bucket: str, obj: str, key: str, size: int):
        self._client, self._bucket, self._obj, self._key, self._size = client, bucket, obj, key, size
        self._pos = 0
        self._body: Any = None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        pos = base + offset
        if pos < 0:
            raise ValueError(f"negative seek position {pos}")
        if pos != self._pos:
            self._drop_body()
            self._pos = pos
        return pos

    def readinto(self, buffer: Any) -> int:
        if self._pos >= self._size:
            return 0
        if self._body is None:
            with _blob_errors(self._key):
                resp = self._client.get_object(
                    Bucket=self._bucket, Key=self._obj, Range=f"bytes={self._pos}-"
                )
            self._body = resp["Body"]
        want = min(len(buffer), self._size - self._pos)
        with _blob_errors(self._key):
            data = self._body.read(want)
        if not data:
            raise OSError(f"{self._key}: stream ended at byte {self._pos} of {self._size}")
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def readall(self) -> bytes:
        out = bytearray()
        while chunk := self.read(CHUNK_BYTES):
            out += chunk
        return bytes(out)

    def close(self) -> None:
        self._drop_body()
        super().close()

    def _drop_body(self) -> None:
        if self._body is not None:
            self._body.close()
            self._body = None


def _code(e: ClientError) -> str:
    return str(e.response.get("Error", {}).get("Code", ""))


@contextmanager
def _blob_errors(key: str) -> Iterator[None]:
    """Turn S3's "no such key" into ``BlobNotFound``."""
    try:
        yield
    except ClientError as e:
        if _code(e) in _NOT_FOUND:
            raise BlobNotFound(key) from e
        raise


def _b64(hexdigest: str) -> str:
    return base64.b64encode(bytes.fromhex(hexdigest)).decode()
