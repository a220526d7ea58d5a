"""Enrolment: photo checks, the gallery in the database and blob store, erasure, and the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from sqlmodel import select

from core.db import make_engine, session_scope
from core.enrolment import TeacherNotFound, enroll, forget, load_gallery
from core.storage_local import LocalBlobStore
from models.teachers import Teacher, TeacherFace
from pipeline.enrolment_photo import EnrolmentPhotoError, encode_enrolment_photo
from pipeline.presence.face_models import encoder_name
from tests.fixtures.media import DATA

FACES = DATA / "faces"
OBAMA = (FACES / "obama/ref1.jpg", FACES / "obama/ref2.jpg")
KIT = FACES / "kit_harington/ref1.jpg"
ROSE = FACES / "rose_leslie/ref1.jpg"
ASTRONAUT = FACES / "mixed/astronaut_with_patch.png"


# -- photo checks ---------------------------------------------------------------------------------------


def test_a_good_photo_gives_an_encoding_of_that_person():
    ref = encode_enrolment_photo(OBAMA[0])
    assert ref.shape == (128,) and ref.dtype == np.float64
    assert np.linalg.norm(ref - encode_enrolment_photo(FACES / "obama/probe1.jpg")) < 0.5
    assert np.linalg.norm(ref - encode_enrolment_photo(KIT)) > 0.6


@pytest.mark.parametrize("name", ["two_people.jpg", "obama_and_biden.jpg", "kit_with_rose.jpg"])
def test_photos_with_several_people_are_refused(name):
    with pytest.raises(EnrolmentPhotoError) as exc:
        encode_enrolment_photo(FACES / "mixed" / name)
    assert exc.value.problem == "several_faces"
    assert name in str(exc.value)


def test_the_mission_patch_that_fools_hog_is_not_counted_as_a_face(tmp_path):
    """HOG alone finds two faces on the astronaut photo (her face and the round mission patch); the
    CNN confirms only the face, so the photo is accepted and the encoding is hers."""
    encoding = encode_enrolment_photo(ASTRONAUT)
    image = cv2.imread(str(ASTRONAUT))
    face_only, patch_only = tmp_path / "face.png", tmp_path / "patch.png"
    cv2.imwrite(str(face_only), image[:250, 60:400])
    cv2.imwrite(str(patch_only), image[290:470, 80:270])
    assert np.linalg.norm(encoding - encode_enrolment_photo(face_only)) < 0.15
    with pytest.raises(EnrolmentPhotoError) as exc:
        encode_enrolment_photo(patch_only)
    assert exc.value.problem == "no_face"


@pytest.mark.parametrize(
    ("photo", "problem"),
    [
        (FACES / "obama/obama-240p.jpg", "face_too_small"),
        (FACES / "obama/partial1.jpg", "face_cut_off"),
        (FACES / "obama/partial2.jpg", "face_cut_off"),
    ],
)
def test_small_and_cut_off_faces_are_refused(photo, problem):
    with pytest.raises(EnrolmentPhotoError) as exc:
        encode_enrolment_photo(photo)
    assert exc.value.problem == problem
    assert exc.value.message and exc.value.message_zh


def test_blurred_unreadable_missing_and_faceless_files_are_refused(tmp_path):
    image = cv2.imread(str(OBAMA[0]))
    cases = {
        "blurred.jpg": "too_blurred",
        "garbage.jpg": "unreadable",
        "missing.jpg": "missing",
        "wall.png": "no_face",
    }
    cv2.imwrite(str(tmp_path / "blurred.jpg"), cv2.GaussianBlur(image, (0, 0), 8))
    (tmp_path / "garbage.jpg").write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(3000))
    cv2.imwrite(str(tmp_path / "wall.png"), np.full((400, 600, 3), (200, 180, 160), np.uint8))
    for name, problem in cases.items():
        with pytest.raises(EnrolmentPhotoError) as exc:
            encode_enrolment_photo(tmp_path / name)
        assert exc.value.problem == problem, name


def test_phone_photos_are_read_upright_from_their_exif_orientation(tmp_path):
    upright = Image.open(OBAMA[0])
    sideways = upright.transpose(Image.Transpose.ROTATE_90)  # pixels stored turned a quarter left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    sideways.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    sideways.save(tmp_path / "no_exif.jpg", quality=95)
    assert (
        np.linalg.norm(encode_enrolment_photo(tmp_path / "phone.jpg") - encode_enrolment_photo(OBAMA[0]))
        < 0.1
    )
    with pytest.raises(EnrolmentPhotoError):
        encode_enrolment_photo(tmp_path / "no_exif.jpg")


# -- the gallery ----------------------------------------------------------------------------------------


def test_enroll_load_gallery_and_forget(engine, blob_store):
    with session_scope(engine) as s:
        teacher = enroll(
            s, blob_store, "T-obama", OBAMA, school_code="S1", subject="math", enrolled_by="admin"
        )
        enroll(s, blob_store, "T-kit", [KIT], school_code="S1", enrolled_by="admin")
        enroll(s, blob_store, "T-rose", [ROSE], school_code="S2", enrolled_by="admin")
    assert (teacher.school_code, teacher.subject) == ("S1", "math")
    with session_scope(engine) as s:
        faces = s.exec(select(TeacherFace).where(TeacherFace.teacher_id == "T-obama")).all()
        assert len(faces) == 2
        assert {f.enrolled_by for f in faces} == {"admin"} and all(f.enrolled_at for f in faces)
        assert all(f.model == encoder_name() and blob_store.exists(f.photo_key) for f in faces)
        keys = [f.photo_key for f in faces]
        own, colleagues = load_gallery(s, "T-obama")
    assert len(own) == 2 and np.linalg.norm(own[0] - encode_enrolment_photo(OBAMA[0])) < 1e-9
    assert list(colleagues) == ["T-kit"] and len(colleagues["T-kit"]) == 1  # same school only

    with session_scope(engine) as s:
        assert forget(s, blob_store, "T-obama") == 2
    with session_scope(engine) as s:
        assert load_gallery(s, "T-obama") == ([], {})
        assert s.get(Teacher, "T-obama") is not None  # submissions may still refer to the teacher
        assert s.exec(select(TeacherFace).where(TeacherFace.teacher_id == "T-obama")).all() == []
        _, kit_colleagues = load_gallery(s, "T-kit")
        assert kit_colleagues == {}
    assert not any(blob_store.exists(k) for k in keys)
    with session_scope(engine) as s, pytest.raises(TeacherNotFound):
        forget(s, blob_store, "T-nobody")


def test_one_bad_photo_stores_nothing(engine, local_store, tmp_path):
    with pytest.raises(EnrolmentPhotoError) as exc, session_scope(engine) as s:
        enroll(s, local_store, "T-x", [OBAMA[0], FACES / "mixed/two_people.jpg"], enrolled_by="admin")
    assert "two_people.jpg" in str(exc.value)
    with session_scope(engine) as s:
        assert s.get(Teacher, "T-x") is None
        assert s.exec(select(TeacherFace)).all() == []
    assert list(local_store.iter_keys()) == []


def test_reenrolling_a_photo_is_idempotent_and_shared_photos_survive_forget(engine, local_store):
    with session_scope(engine) as s:
        enroll(s, local_store, "T-a", [OBAMA[0]], enrolled_by="admin")
        enroll(s, local_store, "T-a", [OBAMA[0], OBAMA[1]], name="Barack", enrolled_by="admin")
        enroll(s, local_store, "T-b", [OBAMA[1]], enrolled_by="clerk")  # the same file for someone else
    with session_scope(engine) as s:
        assert len(s.exec(select(TeacherFace).where(TeacherFace.teacher_id == "T-a")).all()) == 2
        assert s.get(Teacher, "T-a").name == "Barack"
        assert forget(s, local_store, "T-a") == 2
    with session_scope(engine) as s:
        (shared,) = s.exec(select(TeacherFace).where(TeacherFace.teacher_id == "T-b")).all()
    assert local_store.exists(shared.photo_key)  # content-addressed: still T-b's photo
    assert len(list(local_store.iter_keys())) == 1


# -- the commands ---------------------------------------------------------------------------------------

APP = "import typer; from cli.faces import register; app = typer.Typer(); register(app); app()"


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "EVIDENCE_HOME": str(home)}
    for name in ("DATABASE_URL", "EVIDENCE_STORAGE"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-c", APP, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path.cwd(),
    )


def test_enroll_and_forget_commands(tmp_path):
    deep = tmp_path / ("a-long-directory-name-" * 4) / ("nested-" * 6) / "partial1.jpg"
    deep.parent.mkdir(parents=True)
    shutil.copy(FACES / "obama/partial1.jpg", deep)
    bad = _cli(tmp_path, "enroll", "T-1", str(OBAMA[0]), str(deep))
    assert bad.returncode == 4, bad.stderr
    (line,) = bad.stderr.splitlines()  # one line however long the path, so scripts can grep it
    assert str(deep) in line and "cut off" in line

    ok = _cli(
        tmp_path, "enroll", "T-1", *map(str, OBAMA), "--school", "S9", "--name", "B. O.", "--by", "registrar"
    )
    assert ok.returncode == 0, ok.stderr
    engine = make_engine(f"sqlite:///{tmp_path / 'evidence.db'}")
    with session_scope(engine, immediate=False) as s:
        faces = s.exec(select(TeacherFace)).all()
        assert [f.enrolled_by for f in faces] == ["registrar", "registrar"]
        assert s.get(Teacher, "T-1").school_code == "S9"

    gone = _cli(tmp_path, "forget", "T-1")
    assert gone.returncode == 0, gone.stderr
    with session_scope(engine, immediate=False) as s:
        assert s.exec(select(TeacherFace)).all() == []
    engine.dispose()
    assert list(LocalBlobStore(tmp_path / "blobs").iter_keys()) == []  # the photos are gone from the store

    unknown = _cli(tmp_path, "forget", "T-unknown")
    assert unknown.returncode == 5
    assert "T-unknown" in unknown.stderr
