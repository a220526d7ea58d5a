"""Resumable uploads expire (410 ``upload_expired``); the cleanup run removes expired uploads and
collects orphan blobs, among them those of refused requests, and nothing anything refers to or that
is younger than 24 h."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.app import create_app
from core.cleanup import run_cleanup
from core.db import session_scope
from core.multipart import part_uploads
from core.settings import Settings
from core.storage import key_for_digest
from models.base import utcnow
from models.dedup import AllowlistItem, DedupSignature, DedupSnapshot
from models.jobs import StageResult
from models.teachers import TeacherFace
from models.uploads import Upload, UploadStatus
from tests.api.conftest import build_world

PART = 5 * 1024**2
TWO_DAYS = 2 * 86400


@pytest.fixture
def local(tmp_path, world_db, screened_lessons):
    settings = Settings(
        home=tmp_path / "home",
        database_url=world_db,
        jwt_secret="cleanup-" + "c" * 40,
        upload_part_bytes=PART,
    )
    world = build_world(settings, screened_lessons)
    with TestClient(create_app(settings)) as client:
        yield world, client
    world.engine.dispose()


def _start(client, world, size: int = PART + 10) -> dict:
    body = {"teacher_id": "t_a", "micro_capabilities": "A1", "size_bytes": size}
    resp = client.post("/v1/uploads", json=body, headers=world.auth("teacher"))
    assert resp.status_code == 201, resp.text
    return resp.json()


def _send_part(client, upload: dict, data: bytes, auth: dict, number: int = 1):
    return client.put(f"/v1/uploads/{upload['id']}/parts/{number}", content=data, headers=auth)


def _backdate(world, upload_id: str, *, started_h: float, deadline_h: float) -> None:
    """Move an upload's start and recorded deadline into the past (hours ago)."""
    now = utcnow()
    with session_scope(world.engine) as session:
        session.connection().execute(
            sa.update(Upload)
            .where(Upload.id == upload_id)
            .values(created_at=now - timedelta(hours=started_h), expires_at=now - timedelta(hours=deadline_h))
        )


def _age(path: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_an_upload_without_new_parts_expires(local):
    world, client = local
    auth = world.auth("teacher")
    upload = _start(client, world)
    assert (
        client.put(f"/v1/uploads/{upload['id']}/parts/1", content=b"x" * PART, headers=auth).status_code
        == 200
    )
    with Session(world.engine) as session:
        row = session.get(Upload, upload["id"])
    parts_dir = world.store.root / "uploads" / row.staging_key
    # a slow link: started 3 days ago, the recorded deadline passed, but a part arrived 1 h ago
    _backdate(world, upload["id"], started_h=72, deadline_h=1)
    _age(parts_dir / "00001", 3600)
    resumed = client.get(f"/v1/uploads/{upload['id']}", headers=auth)
    assert resumed.status_code == 200 and [p["number"] for p in resumed.json()["parts"]] == [2]
    # the last part 25 h ago: expired, its parts dropped, every call answers 410
    _backdate(world, upload["id"], started_h=72, deadline_h=1)
    _age(parts_dir / "00001", 25 * 3600)
    for call in (
        lambda: client.get(f"/v1/uploads/{upload['id']}", headers=auth),
        lambda: client.put(f"/v1/uploads/{upload['id']}/parts/2", content=b"x" * 10, headers=auth),
        lambda: client.post(f"/v1/uploads/{upload['id']}/complete", headers=auth),
        lambda: client.delete(f"/v1/uploads/{upload['id']}", headers=auth),
    ):
        resp = call()
        assert resp.status_code == 410 and resp.json()["error"]["code"] == "upload_expired"
    assert not parts_dir.exists()
    with Session(world.engine) as session:
        assert session.get(Upload, upload["id"]).status == UploadStatus.expired
    # open for more than upload_max_days (7) expires however recent the last part
    other = _start(client, world)
    _backdate(world, other["id"], started_h=7 * 24 + 1, deadline_h=0.1)
    assert client.get(f"/v1/uploads/{other['id']}", headers=auth).status_code == 410


def _form(fields_after_file: dict[str, str], data: bytes) -> tuple[bytes, str]:
    """A multipart body with the file part first (fields after it)."""
    b = "cleanupboundary"
    body = (
        f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="x.mp4"\r\n\r\n'.encode()
        + data
        + b"\r\n"
        + "".join(
            f'--{b}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
            for k, v in fields_after_file.items()
        ).encode()
        + f"--{b}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={b}"


def _references(world) -> dict[str, str]:
    """A blob referred to from each place the cleanup must look, besides submissions."""
    store, keys = world.store, {}
    for name in ("photo", "thumbs", "snapshot", "stage", "allowlist"):
        keys[name] = store.put_bytes(f"referenced by {name}".encode())
    with session_scope(world.engine) as session:
        session.add(
            TeacherFace(
                teacher_id="t_a", photo_key=keys["photo"], encoding=b"\x00" * 8, model="m", enrolled_by="x"
            )
        )
        session.add(
            DedupSignature(
                submission_id=world.subs["a"],
                shard_key=1,
                visual_version="v",
                audio_version="v",
                allowlisted=False,
                duration_s=1.0,
                signature=b"s",
                fingerprint=b"f",
                thumbs_key=keys["thumbs"],
            )
        )
        session.add(
            DedupSnapshot(shards=1, shard=0, seq=1, blob_key=keys["snapshot"], entries=1, size_bytes=1)
        )
        session.add(
            StageResult(
                submission_id=world.subs["d"],
                stage="fingerprint",
                version="1",
                data={"thumbnails": [store.uri(keys["stage"])]},
            )
        )
        session.add(
            AllowlistItem(
                submission_id=world.subs["d"],
                title="t",
                added_by="x",
                details={"clip": store.uri(keys["allowlist"])},
            )
        )
    return keys


def test_cleanup_collects_orphans_and_nothing_else(local):
    world, client = local
    store, auth = world.store, world.auth("teacher")
    data = {"teacher_id": "t_a", "micro_capabilities": "A1"}
    headers = {**auth, "Idempotency-Key": "cleanup-1"}
    first = client.post(
        "/v1/submissions", files={"file": ("a.mp4", b"first" * 100)}, data=data, headers=headers
    )
    assert first.status_code == 201
    # refused after the file was stored: another file under the same key, a teacher out of scope
    mismatch = client.post(
        "/v1/submissions", files={"file": ("a.mp4", b"second" * 100)}, data=data, headers=headers
    )
    assert mismatch.status_code == 422 and mismatch.json()["error"]["code"] == "idempotency_mismatch"
    body, ctype = _form({"teacher_id": "t_c", "micro_capabilities": "A1"}, b"third" * 100)
    scope = client.post("/v1/submissions", content=body, headers={**auth, "Content-Type": ctype})
    assert scope.status_code == 404
    orphans = {store.put_bytes(b"second" * 100), store.put_bytes(b"third" * 100), store.put_bytes(b"stray")}
    references = _references(world)
    # an open upload with a part, and parts left behind by an upload that no row owns
    upload = _start(client, world)
    assert (
        client.put(f"/v1/uploads/{upload['id']}/parts/1", content=b"x" * PART, headers=auth).status_code
        == 200
    )
    left_behind = part_uploads(store).start()
    every = set(store.iter_keys())
    assert orphans < every and set(references.values()) < every

    assert run_cleanup(world.engine, store, world.settings).deleted_blobs == 0  # all younger than 24 h
    for key in every:
        _age(store.path(key), TWO_DAYS)
    for staged, _ in part_uploads(store).list_staged():
        _age(store.root / "uploads" / staged.key, TWO_DAYS)
    touched = store.put_bytes(b"stray")  # stored again just now: young again
    dry = run_cleanup(world.engine, store, world.settings, dry_run=True)
    assert dry.deleted_blobs == 2 and set(store.iter_keys()) == every
    report = run_cleanup(world.engine, store, world.settings)
    assert report.deleted_blobs == 2 and report.dropped_stagings == 1
    assert set(store.iter_keys()) == every - (orphans - {touched})
    assert not (store.root / "uploads" / left_behind.key).exists()
    resumed = client.get(f"/v1/uploads/{upload['id']}", headers=auth)
    assert resumed.status_code == 200 and [p["number"] for p in resumed.json()["received"]] == [1]
    for name in ("rendition", "poster", "keyframe", "sheet", "other_keyframe"):
        assert store.exists(world.blobs[name])
    assert store.exists(key_for_digest(first.json()["sha256"]))


def test_cleanup_on_s3(tmp_path, world_db, screened_lessons, s3_server):
    settings = s3_server.settings(tmp_path / "home", database_url=world_db, jwt_secret="cleanup-" + "c" * 40)
    world = build_world(settings, screened_lessons)
    store = world.store
    orphan, kept = store.put_bytes(b"s3 orphan"), store.put_bytes(b"s3 photo")
    with session_scope(world.engine) as session:
        session.add(
            TeacherFace(teacher_id="t_a", photo_key=kept, encoding=b"\x00" * 8, model="m", enrolled_by="x")
        )
    before = next(store.iter_blobs(orphan)).modified_at
    time.sleep(1.1)  # S3 keeps whole seconds
    store.touch(orphan)
    assert next(store.iter_blobs(orphan)).modified_at > before
    left_behind = part_uploads(store).start()
    assert left_behind.key in {s.key for s, _ in part_uploads(store).list_staged()}
    report = run_cleanup(world.engine, store, settings, now=utcnow() + timedelta(hours=25))
    assert not store.exists(orphan) and store.exists(kept) and store.exists(world.blobs["keyframe"])
    assert report.dropped_stagings >= 1
    assert left_behind.key not in {s.key for s, _ in part_uploads(store).list_staged()}
    world.engine.dispose()
