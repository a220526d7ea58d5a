"""Resumable uploads on S3: the client PUTs parts straight to S3 through presigned URLs.

Parts land in a staging object (``<prefix>/uploads/<hex>``); completing the upload joins them, hashes the
result and copies it server-side to its content key, so the blob store stays content-addressed.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from core.storage import CHUNK_BYTES, BlobTooLarge, key_for_digest
from core.storage_s3 import S3BlobStore


class S3MultipartUploads:
    """Multipart uploads into an ``S3BlobStore``. Parts must be at least 5 MiB, except the last."""

    def __init__(self, store: S3BlobStore):
        self.store = store
        base = f"{store.prefix}/" if store.prefix else ""
        self._staging_prefix = base + "uploads/"
        self._staging_re = re.compile(re.escape(self._staging_prefix) + r"[0-9a-f]{32}")

    def create(self) -> tuple[str, str]:
        """Start an upload; returns ``(staging_key, upload_id)`` to keep until it completes."""
        staging = self._staging_prefix + uuid.uuid4().hex
        resp = self.store.client.create_multipart_upload(Bucket=self.store.bucket, Key=staging)
        return staging, resp["UploadId"]

    def presigned_part_url(
        self, staging: str, upload_id: str, part_number: int, expires_s: int = 3600
    ) -> str:
        """A URL the client PUTs part ``part_number`` (1..10000) to, without credentials."""
        if not 1 <= part_number <= 10000:
            raise ValueError(f"part number {part_number} outside 1..10000")
        params = {
            "Bucket": self.store.bucket,
            "Key": self._check(staging),
            "UploadId": upload_id,
            "PartNumber": part_number,
        }
        return self.store.client.generate_presigned_url("upload_part", Params=params, ExpiresIn=expires_s)

    def list_parts(self, staging: str, upload_id: str) -> list[dict[str, Any]]:
        """The parts received so far: ``[{"PartNumber", "ETag", "Size"}]`` in part order.

        Some servers (SeaweedFS) list a part that was sent twice twice; its last ETag is the one to use.
        """
        paginator = self.store.client.get_paginator("list_parts")
        pages = paginator.paginate(Bucket=self.store.bucket, Key=self._check(staging), UploadId=upload_id)
        parts = [
            {"PartNumber": p["PartNumber"], "ETag": p["ETag"], "Size": p["Size"]}
            for page in pages
            for p in page.get("Parts", [])
        ]
        return sorted(parts, key=lambda p: p["PartNumber"])

    def complete(
        self,
        staging: str,
        upload_id: str,
        parts: Sequence[tuple[int, str]] | None = None,
        max_bytes: int | None = None,
    ) -> tuple[str, int]:
        """Join the parts and store the result as a blob; returns ``(key, size)``.

        ``parts`` are ``(part_number, etag)`` as the client's part PUTs answered; ``None`` takes every
        listed part (refused if a part number was sent more than once). Raises ``BlobTooLarge`` (and
        discards the upload) when the joined object exceeds ``max_bytes``.
        """
        s3, bucket = self.store.client, self.store.bucket
        if parts is None:
            parts = [(p["PartNumber"], p["ETag"]) for p in self.list_parts(staging, upload_id)]
            numbers = [n for n, _ in parts]
            if len(set(numbers)) != len(numbers):
                raise ValueError("a part was uploaded more than once: pass the ETags the client received")
        if not parts:
            raise ValueError("no parts were uploaded")
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key=self._check(staging),
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in sorted(parts)]},
        )
        try:
            body = s3.get_object(Bucket=bucket, Key=staging)["Body"]
            h, size = hashlib.sha256(), 0
            while chunk := body.read(CHUNK_BYTES):
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    body.close()
                    raise BlobTooLarge(max_bytes)
                h.update(chunk)
            key = key_for_digest(h.hexdigest())
            if self.store.exists(key):
                self.store.touch(key)
            else:
                source = {"Bucket": bucket, "Key": staging}
                s3.copy(source, bucket, self.store.object_key(key), Config=self.store.transfer)
            return key, size
        finally:
            s3.delete_object(Bucket=bucket, Key=staging)

    def list_open(self) -> list[tuple[str, str, datetime]]:
        """Every multipart upload of this store not completed or aborted: ``(staging_key, upload_id,
        initiated)``."""
        paginator = self.store.client.get_paginator("list_multipart_uploads")
        found = []
        for page in paginator.paginate(Bucket=self.store.bucket, Prefix=self._staging_prefix):
            for u in page.get("Uploads", []):
                if self._staging_re.fullmatch(u["Key"]):
                    found.append((u["Key"], u["UploadId"], u["Initiated"].astimezone(UTC)))
        return found

    def abort(self, staging: str, upload_id: str) -> None:
        """Discard an upload and the parts it received (done already: nothing to do)."""
        try:
            self.store.client.abort_multipart_upload(
                Bucket=self.store.bucket, Key=self._check(staging), UploadId=upload_id
            )
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") != "NoSuchUpload":
                raise

    def _check(self, staging: str) -> str:
        if not self._staging_re.fullmatch(staging):
            raise ValueError(f"not a staging key of this store: {staging!r}")
        return staging
