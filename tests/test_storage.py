"""Blob store contract, run against the local directory store and S3 on a real SeaweedFS server."""

from __future__ import annotations

import hashlib
import io
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from core.settings import Settings
from core.storage import (
    BlobNotFound,
    BlobStore,
    BlobTooLarge,
    InvalidBlobKey,
    key_for_digest,
    open_blob_store,
    parse_s3_url,
)
from core.storage_local import LocalBlobStore
from core.storage_s3 import S3BlobStore
from core.storage_s3_multipart import S3MultipartUploads
from pipeline.errors import MediaError
from tests.fixtures.s3 import S3Server

MiB = 1024 * 1024


def blob(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


def sha_key(data: bytes) -> str:
    return "sha256/" + hashlib.sha256(data).hexdigest()


class ChunkedReader:
    """A non-seekable upload stream that hands out at most ``chunk`` bytes per read."""

    def __init__(self, data: bytes, chunk: int = 64 * 1024):
        self._buf = io.BytesIO(data)
        self._chunk = chunk
        self.largest_read = 0

    def read(self, n: int = -1) -> bytes:
        out = self._buf.read(self._chunk if n < 0 else min(n, self._chunk))
        self.largest_read = max(self.largest_read, len(out))
        return out


# -- the contract, for every backend ------------------------------------------------------------------


def test_put_bytes_round_trip(blob_store: BlobStore, tmp_path: Path) -> None:
    data = blob(5000)
    key = blob_store.put_bytes(data)
    assert key == sha_key(data)
    assert blob_store.exists(key)
    assert blob_store.size(key) == 5000
    with blob_store.open(key) as f:
        assert f.read() == data
    dest = blob_store.get_file(key, tmp_path / "out" / "nested" / "copy.bin")
    assert dest == tmp_path / "out" / "nested" / "copy.bin"
    assert dest.read_bytes() == data
    assert [p.name for p in dest.parent.iterdir()] == ["copy.bin"]  # no temp file left behind


def test_content_addressing_dedups_across_put_methods(blob_store: BlobStore, tmp_path: Path) -> None:
    data = blob(20_000, seed=1)
    src = tmp_path / "lesson.mp4"
    src.write_bytes(data)
    k_file = blob_store.put_file(src)
    k_bytes = blob_store.put_bytes(data)
    k_stream, size = blob_store.put_stream(io.BytesIO(data))
    assert k_file == k_bytes == k_stream == sha_key(data)
    assert size == len(data)
    other = blob_store.put_bytes(data + b"!")
    assert other != k_file
    assert sorted(blob_store.iter_keys()) == sorted([k_file, other])


def test_get_file_replaces_existing_destination(blob_store: BlobStore, tmp_path: Path) -> None:
    key = blob_store.put_bytes(b"new content")
    dest = tmp_path / "video.mp4"
    dest.write_bytes(b"stale partial download")
    blob_store.get_file(key, dest)
    assert dest.read_bytes() == b"new content"


def test_empty_blob(blob_store: BlobStore) -> None:
    key = blob_store.put_bytes(b"")
    assert key == sha_key(b"")
    assert blob_store.size(key) == 0
    assert blob_store.read_range(key, 0, 10) == b""
    with blob_store.open(key) as f:
        assert f.read() == b""


def test_exists_size_delete(blob_store: BlobStore, tmp_path: Path) -> None:
    key = blob_store.put_bytes(b"to be deleted")
    keep = blob_store.put_bytes(b"to be kept")
    blob_store.delete(key)
    assert not blob_store.exists(key)
    assert blob_store.exists(keep)
    blob_store.delete(key)  # idempotent
    assert list(blob_store.iter_keys()) == [keep]
    assert blob_store.put_bytes(b"to be deleted") == key  # stored again after a delete
    assert blob_store.exists(key)


def test_missing_key_errors(blob_store: BlobStore, tmp_path: Path) -> None:
    missing = sha_key(b"never stored")
    assert not blob_store.exists(missing)
    dest = tmp_path / "dl" / "x.bin"
    calls = [
        lambda: blob_store.size(missing),
        lambda: blob_store.open(missing),
        lambda: blob_store.read_range(missing, 0, 9),
        lambda: blob_store.read_range(missing, 100, 200),
        lambda: blob_store.get_file(missing, dest),
    ]
    for call in calls:
        with pytest.raises(BlobNotFound) as err:
            call()
        assert isinstance(err.value, KeyError)
    assert not dest.exists()


def test_range_reads(blob_store: BlobStore) -> None:
    data = blob(3000, seed=2)
    key = blob_store.put_bytes(data)
    assert blob_store.read_range(key, 0, 0) == data[:1]
    assert blob_store.read_range(key, 10, 19) == data[10:20]
    assert blob_store.read_range(key, 2990, 5000) == data[2990:]  # clipped at the end
    assert blob_store.read_range(key, 3000, 3100) == b""  # starts past the end
    assert blob_store.read_range(key, 5, 10**15) == data[5:]  # a huge range is not allocated up front
    for start, end in [(-1, 5), (10, 9)]:
        with pytest.raises(ValueError):
            blob_store.read_range(key, start, end)


def test_open_is_seekable(blob_store: BlobStore) -> None:
    data = blob(3 * MiB + 123, seed=3)  # spans several read buffers
    key = blob_store.put_bytes(data)
    with blob_store.open(key) as f:
        assert f.seekable()
        assert f.read(10) == data[:10]
        f.seek(2 * MiB + 5)
        assert f.read(MiB) == data[2 * MiB + 5 : 3 * MiB + 5]
        assert f.tell() == 3 * MiB + 5
        f.seek(100)  # backwards
        assert f.read(7) == data[100:107]
        f.seek(-50, io.SEEK_END)
        assert f.read() == data[-50:]
        assert f.read(10) == b""
        f.seek(0)
        chunks = []
        while piece := f.read(333_333):
            chunks.append(piece)
        assert b"".join(chunks) == data


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "../../etc/passwd",
        "sha256/../../../etc/passwd",
        "sha256/" + "A" * 64,  # uppercase hex is not a key
        "sha256/" + "0" * 63,
        "sha256/" + "0" * 65,
        "sha256/" + "0" * 64 + "/x",
        "sha256/" + "0" * 64 + "\n",
        "/sha256/" + "0" * 64,
        "md5/" + "0" * 32,
        "sha256/" + "g" * 64,
    ],
)
def test_invalid_keys_rejected(blob_store: BlobStore, tmp_path: Path, bad: str) -> None:
    calls = [
        lambda: blob_store.exists(bad),
        lambda: blob_store.size(bad),
        lambda: blob_store.delete(bad),
        lambda: blob_store.open(bad),
        lambda: blob_store.read_range(bad, 0, 1),
        lambda: blob_store.get_file(bad, tmp_path / "x"),
        lambda: blob_store.uri(bad),
        lambda: blob_store.presigned_get_url(bad),
    ]
    for call in calls:
        with pytest.raises(InvalidBlobKey):
            call()
    assert not (tmp_path / "x").exists()


def test_iter_keys_with_prefix(blob_store: BlobStore) -> None:
    keys = sorted(blob_store.put_bytes(blob(100, seed=s)) for s in range(12))
    assert list(blob_store.iter_keys()) == keys
    first = keys[0]
    for n in (1, 2, 3, 4, 5, 64):
        prefix = first[: len("sha256/") + n]
        assert list(blob_store.iter_keys(prefix)) == [k for k in keys if k.startswith(prefix)]
    assert list(blob_store.iter_keys("sha256/" + "f" * 64)) == [k for k in keys if k == "sha256/" + "f" * 64]
    for bad in ("../", "sha256/../", "other/", "sha256/G"):
        with pytest.raises(InvalidBlobKey):
            list(blob_store.iter_keys(bad))


def test_put_stream_spools_and_caps(blob_store: BlobStore) -> None:
    data = blob(300_000, seed=4)
    stream = ChunkedReader(data)
    key, size = blob_store.put_stream(stream, max_bytes=len(data))
    assert (key, size) == (sha_key(data), len(data))
    assert stream.largest_read <= 64 * 1024
    with blob_store.open(key) as f:
        assert f.read() == data

    too_big = blob(300_001, seed=5)
    with pytest.raises(BlobTooLarge) as err:
        blob_store.put_stream(ChunkedReader(too_big), max_bytes=300_000)
    assert isinstance(err.value, MediaError)
    assert err.value.code == "file_too_large"
    assert err.value.max_bytes == 300_000
    assert not blob_store.exists(sha_key(too_big))
    assert list(blob_store.iter_keys()) == [key]
    assert list(blob_store.spool_dir.iterdir()) == []  # the partial spool file is gone


def test_concurrent_puts_of_same_content(blob_store: BlobStore) -> None:
    data = blob(200_000, seed=6)
    keys: list[str] = []
    errors: list[BaseException] = []

    def put() -> None:
        try:
            keys.append(blob_store.put_stream(io.BytesIO(data))[0])
        except BaseException as e:  # surfaced by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=put) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert keys == [sha_key(data)] * 4
    assert blob_store.read_range(keys[0], 0, len(data) - 1) == data
    assert list(blob_store.iter_keys()) == [keys[0]]


def test_uri_names_the_stored_object(blob_store: BlobStore) -> None:
    data = b"poster bytes"
    key = blob_store.put_bytes(data)
    uri = blob_store.uri(key)
    parts = urlsplit(uri)
    if isinstance(blob_store, LocalBlobStore):
        assert parts.scheme == "file"
        assert Path(parts.path).is_absolute()
        assert Path(parts.path).read_bytes() == data
    else:
        assert isinstance(blob_store, S3BlobStore)
        assert parts.scheme == "s3"
        assert uri.endswith("/" + key)
        obj = blob_store.client.get_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"))
        assert obj["Body"].read() == data


# -- local directory specifics ------------------------------------------------------------------------


def test_local_layout_and_second_put_writes_nothing(local_store: LocalBlobStore, tmp_path: Path) -> None:
    data = blob(1000, seed=7)
    key = local_store.put_bytes(data)
    hexdigest = key.removeprefix("sha256/")
    path = local_store.root / "sha256" / hexdigest[:2] / hexdigest[2:4] / hexdigest
    assert local_store.path(key) == path
    assert path.read_bytes() == data
    inode = path.stat().st_ino
    src = tmp_path / "same.bin"
    src.write_bytes(data)
    assert local_store.put_file(src) == key
    assert local_store.put_bytes(data) == key
    assert path.stat().st_ino == inode  # not rewritten
    assert list(local_store.spool_dir.iterdir()) == []
    streamed = local_store.path(local_store.put_stream(io.BytesIO(b"uploaded"))[0])
    assert streamed.stat().st_mode == path.stat().st_mode  # spooled uploads get the usual permissions


def test_local_iter_keys_ignores_stray_files(local_store: LocalBlobStore) -> None:
    key = local_store.put_bytes(b"real")
    fan_out = local_store.path(key).parent
    (fan_out / ".partial.part").write_bytes(b"x")
    (fan_out / "README").write_bytes(b"x")
    (local_store.spool_dir / "upload-123.part").parent.mkdir(exist_ok=True)
    (local_store.spool_dir / "upload-123.part").write_bytes(b"x")
    (local_store.root / "sha256" / "zz").mkdir()
    assert list(local_store.iter_keys()) == [key]


def test_local_has_no_presigned_urls(local_store: LocalBlobStore) -> None:
    assert local_store.presigned_get_url(local_store.put_bytes(b"x")) is None


# -- S3 specifics -------------------------------------------------------------------------------------


def test_s3_multipart_upload_and_download(s3_server: S3Server, tmp_path: Path) -> None:
    store = s3_server.blob_store(
        tmp_path / "spool", multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_concurrency=2
    )
    data = blob(12 * MiB, seed=8)
    src = tmp_path / "lesson.mp4"
    src.write_bytes(data)
    key = store.put_file(src)
    assert key == sha_key(data)
    head = store.client.head_object(Bucket=store.bucket, Key=store.object_key(key), ChecksumMode="ENABLED")
    assert head["ETag"].strip('"').endswith("-3")  # three parts: 5 + 5 + 2 MiB
    assert head["ChecksumSHA256"].endswith("-3")  # each part's SHA-256 was checked by the server
    assert head["ContentLength"] == len(data)
    assert store.read_range(key, 5 * MiB - 3, 5 * MiB + 2) == data[5 * MiB - 3 : 5 * MiB + 3]
    dest = store.get_file(key, tmp_path / "down.mp4")
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == key.removeprefix("sha256/")

    # An upload stream over the threshold also goes up in parts.
    streamed, size = store.put_stream(ChunkedReader(data[: 6 * MiB], chunk=MiB))
    assert size == 6 * MiB
    head = store.client.head_object(Bucket=store.bucket, Key=store.object_key(streamed))
    assert head["ETag"].strip('"').endswith("-2")
    assert list(store.spool_dir.iterdir()) == []


def test_s3_small_upload_is_single_part(s3_store: S3BlobStore) -> None:
    key = s3_store.put_bytes(blob(1000, seed=9))
    head = s3_store.client.head_object(Bucket=s3_store.bucket, Key=s3_store.object_key(key))
    assert "-" not in head["ETag"]


def test_s3_second_put_sends_no_upload(s3_store: S3BlobStore, tmp_path: Path) -> None:
    data = blob(4000, seed=10)
    src = tmp_path / "a.bin"
    src.write_bytes(data)
    uploads: list[str] = []
    for op in ("PutObject", "CreateMultipartUpload"):
        s3_store.client.meta.events.register(f"before-call.s3.{op}", lambda **kw: uploads.append("up"))
    key = s3_store.put_file(src)
    assert uploads == ["up"]
    assert s3_store.put_file(src) == key
    assert s3_store.put_bytes(data) == key
    assert s3_store.put_stream(io.BytesIO(data)) == (key, len(data))
    assert uploads == ["up"]


def test_s3_server_checks_content_against_key(s3_store: S3BlobStore) -> None:
    """The upload's SHA-256 checksum is the key's digest: the server refuses bytes that do not match."""
    lying_key = sha_key(b"what the key claims")
    with pytest.raises(ClientError) as err:
        s3_store._store_bytes(b"other bytes", lying_key, lying_key.removeprefix("sha256/"))
    assert err.value.response["Error"]["Code"] in {"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch"}
    assert not s3_store.exists(lying_key)


def test_s3_presigned_get(s3_store: S3BlobStore) -> None:
    data = blob(50_000, seed=11)
    key = s3_store.put_bytes(data)
    url = s3_store.presigned_get_url(key, expires_s=300)
    assert url is not None and url.startswith(s3_store.client.meta.endpoint_url)
    with urllib.request.urlopen(url) as resp:
        assert resp.read() == data
    ranged = urllib.request.Request(url, headers={"Range": "bytes=100-199"})
    with urllib.request.urlopen(ranged) as resp:
        assert resp.status == 206
        assert resp.read() == data[100:200]

    query = urlsplit(url).query
    signature = next(p for p in query.split("&") if p.startswith("X-Amz-Signature="))
    digits = signature.split("=", 1)[1]
    forged_sig = ("0" if digits[0] != "0" else "1") + digits[1:]
    forged = [
        url.replace(signature, "X-Amz-Signature=" + forged_sig),
        url.replace(key.removeprefix("sha256/"), sha_key(b"other").removeprefix("sha256/")),
        url.replace("X-Amz-Expires=300", "X-Amz-Expires=3000"),
    ]
    for bad in forged:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(bad)
        assert err.value.code == 403

    expiring = s3_store.presigned_get_url(key, expires_s=1)
    assert expiring is not None
    time.sleep(2.5)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(expiring)
    assert err.value.code == 403


def test_s3_refuses_wrong_credentials(s3_server: S3Server, tmp_path: Path) -> None:
    bad = S3Server(s3_server.endpoint_url, s3_server.access_key, "not-the-secret")
    settings = bad.settings(tmp_path)
    with pytest.raises(ClientError) as err:
        open_blob_store(settings).put_bytes(b"x")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_s3_iter_keys_ignores_foreign_objects(s3_store: S3BlobStore) -> None:
    key = s3_store.put_bytes(b"real")
    base = s3_store.object_key(key).removesuffix(key)
    for foreign in ("sha256/notakey", "sha256/" + "0" * 64 + ".part", "elsewhere/file"):
        s3_store.client.put_object(Bucket=s3_store.bucket, Key=base + foreign, Body=b"x")
    assert list(s3_store.iter_keys()) == [key]


# -- choosing the backend from settings ---------------------------------------------------------------


def test_open_blob_store_defaults_to_local(tmp_path: Path) -> None:
    store = open_blob_store(Settings(home=tmp_path / "home", storage=None))
    assert isinstance(store, LocalBlobStore)
    assert store.root == (tmp_path / "home" / "blobs").resolve()
    key = store.put_bytes(b"local")
    assert store.uri(key).startswith((tmp_path / "home" / "blobs").resolve().as_uri())


def test_open_blob_store_s3_from_environment(
    s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = f"fresh-{uuid.uuid4().hex[:10]}"
    storage = f"s3://{bucket}/deep/prefix"
    for name, value in s3_server.env(storage).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("EVIDENCE_HOME", str(tmp_path / "home"))
    settings = Settings()
    assert settings.aws_secret_access_key is not None
    assert s3_server.secret_key not in repr(settings)  # the secret is not printed
    store = open_blob_store(settings)  # creates the missing bucket
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix) == (bucket, "deep/prefix")
    key = store.put_bytes(b"on s3")
    assert store.uri(key) == f"s3://{bucket}/deep/prefix/{key}"
    raw = s3_server.client().get_object(Bucket=bucket, Key=f"deep/prefix/{key}")
    assert raw["Body"].read() == b"on s3"
    again = open_blob_store(s3_server.settings(tmp_path / "home", storage=storage))  # bucket exists now
    assert again.read_range(key, 3, 4) == b"s3"


def test_storage_url_parsing() -> None:
    assert parse_s3_url("s3://bucket") == ("bucket", "")
    assert parse_s3_url("s3://bucket/a/b/") == ("bucket", "a/b")
    for bad in ("bucket/prefix", "file:///tmp/x", "s3:///prefix", "s3://bucket/p?x=1"):
        with pytest.raises(ValueError):
            parse_s3_url(bad)
    with pytest.raises(ValueError):
        open_blob_store(Settings(storage="https://example.com/bucket"))


def test_key_for_digest_normalises_case() -> None:
    digest = hashlib.sha256(b"x").hexdigest()
    assert key_for_digest(digest.upper()) == "sha256/" + digest
    with pytest.raises(InvalidBlobKey):
        key_for_digest("abc")


# -- resumable uploads on S3 --------------------------------------------------------------------------


def put_part(url: str, data: bytes) -> str:
    req = urllib.request.Request(url, data=data, method="PUT")
    with urllib.request.urlopen(req) as resp:
        return resp.headers["ETag"]


def test_s3_resumable_upload_through_presigned_parts(s3_server: S3Server, tmp_path: Path) -> None:
    store = s3_server.blob_store(tmp_path / "spool", multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    uploads = S3MultipartUploads(store)
    data = blob(11 * MiB, seed=12)
    pieces = [data[: 5 * MiB], data[5 * MiB : 10 * MiB], data[10 * MiB :]]
    staging, upload_id = uploads.create()
    # Parts arrive out of order and one is re-sent, as a resuming client would.
    etags = {3: put_part(uploads.presigned_part_url(staging, upload_id, 3), pieces[2])}
    put_part(uploads.presigned_part_url(staging, upload_id, 1), b"garbage from a broken attempt" * 1000)
    etags[1] = put_part(uploads.presigned_part_url(staging, upload_id, 1), pieces[0])
    listed = uploads.list_parts(staging, upload_id)
    assert {p["PartNumber"] for p in listed} == {1, 3}
    received = {(p["PartNumber"], p["ETag"], p["Size"]) for p in listed}
    assert received >= {(1, etags[1], 5 * MiB), (3, etags[3], MiB)}
    etags[2] = put_part(uploads.presigned_part_url(staging, upload_id, 2), pieces[1])

    forged = uploads.presigned_part_url(staging, upload_id, 2).replace("partNumber=2", "partNumber=4")
    with pytest.raises(urllib.error.HTTPError) as err:
        put_part(forged, b"x")
    assert err.value.code == 403

    key, size = uploads.complete(staging, upload_id, list(etags.items()), max_bytes=len(data))
    assert (key, size) == (sha_key(data), len(data))
    assert store.read_range(key, 5 * MiB - 2, 5 * MiB + 1) == data[5 * MiB - 2 : 5 * MiB + 2]
    assert store.get_file(key, tmp_path / "joined.mp4").read_bytes() == data
    assert list(store.iter_keys()) == [key]
    assert store.client.list_objects_v2(Bucket=store.bucket, Prefix=staging).get("KeyCount", 0) == 0

    for bad in ("../x", store.object_key(key), staging + "0"):
        with pytest.raises(ValueError):
            uploads.presigned_part_url(bad, upload_id, 1)


def test_s3_resumable_upload_cap_and_abort(s3_server: S3Server, tmp_path: Path) -> None:
    store = s3_server.blob_store(tmp_path / "spool")
    uploads = S3MultipartUploads(store)
    staging, upload_id = uploads.create()
    put_part(uploads.presigned_part_url(staging, upload_id, 1), b"x" * 1000)
    with pytest.raises(BlobTooLarge):
        uploads.complete(staging, upload_id, max_bytes=999)
    assert list(store.iter_keys()) == []
    assert store.client.list_objects_v2(Bucket=store.bucket, Prefix=staging).get("KeyCount", 0) == 0

    staging, upload_id = uploads.create()
    put_part(uploads.presigned_part_url(staging, upload_id, 1), b"y" * 1000)
    uploads.abort(staging, upload_id)
    with pytest.raises(ClientError) as err:
        uploads.list_parts(staging, upload_id)
    assert err.value.response["Error"]["Code"] == "NoSuchUpload"
    with pytest.raises(ValueError):
        uploads.complete(*uploads.create())  # nothing uploaded

    staging, upload_id = uploads.create()
    for body in (b"first", b"second"):  # SeaweedFS lists both: which one counts needs the client's ETag
        put_part(uploads.presigned_part_url(staging, upload_id, 1), body)
    with pytest.raises(ValueError, match="more than once"):
        uploads.complete(staging, upload_id)
