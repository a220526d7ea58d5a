"""Enrolment photos: exactly one face, large, sharp and whole, encoded once for the gallery."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from pipeline.presence.detection import Box, detect, suppress_overlaps
from pipeline.presence.face_models import encode_face, face_models
from pipeline.presence.quality import sharpness

MAX_PHOTO_BYTES = 40 * 1024**2
MAX_PHOTO_PIXELS = 60_000_000
MIN_FACE_PX = 80  # narrower faces are upscaled into dlib's 150 px chip and encode poorly
MIN_SHARPNESS = 0.06  # sharp portraits measure 0.17-1.1; a blur that moves the encoding by ~0.3 gives < 0.05
MAX_CUT_OFF = 0.10  # share of the face box allowed outside the photo
SCAN_MAX_SIDE = 2000  # photos are scanned at 2x up to this long side (faces of ~40 px in small photos)
CANDIDATE_THRESHOLD = -0.3  # scan permissively, then let the CNN confirm every candidate
MAX_CANDIDATES = 8
CNN_FACE_PX = 120  # candidates are confirmed on a crop where the face is this wide

PROBLEMS: dict[str, tuple[str, str]] = {
    "missing": ("the file does not exist", "文件不存在"),
    "unreadable": ("the file cannot be read as an image", "无法作为图片读取该文件"),
    "too_large": ("the image file is too large", "图片文件过大"),
    "no_face": ("no frontal face was found", "未检测到正面人脸"),
    "several_faces": (
        "more than one face was found; use a photo of the teacher alone",
        "检测到多张人脸；请使用只有该教师本人的照片",
    ),
    "face_too_small": ("the face is too small to encode well", "人脸太小，无法可靠提取特征"),
    "face_cut_off": ("the face is cut off by the edge of the photo", "人脸被照片边缘截断"),
    "too_blurred": ("the face is too blurred to encode well", "人脸过于模糊，无法可靠提取特征"),
}


class EnrolmentPhotoError(ValueError):
    """A photo that cannot be enrolled; ``problem`` is one of ``PROBLEMS``."""

    def __init__(self, photo: str | Path, problem: str, detail: str | None = None):
        if problem not in PROBLEMS:
            raise ValueError(f"unknown enrolment photo problem {problem!r}")
        self.photo = str(photo)
        self.problem = problem
        self.detail = detail
        super().__init__(f"{self.photo}: {self.message}")

    @property
    def message(self) -> str:
        text = PROBLEMS[self.problem][0]
        return f"{text} ({self.detail})" if self.detail else text

    @property
    def message_zh(self) -> str:
        text = PROBLEMS[self.problem][1]
        return f"{text}（{self.detail}）" if self.detail else text


@dataclass(frozen=True)
class _Candidate:
    box: Box  # in photo pixels
    score: float


def encode_enrolment_photo(path: str | Path) -> np.ndarray:
    """The 128-d encoding of the one face in an enrolment photo; raises ``EnrolmentPhotoError``."""
    image = _read(Path(path))
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    faces = _confirmed_faces(image, gray)
    if not faces:
        raise EnrolmentPhotoError(path, "no_face")
    if len(faces) > 1:
        raise EnrolmentPhotoError(path, "several_faces", f"{len(faces)} faces")
    box = faces[0].box
    h, w = gray.shape
    inside = Box(max(0.0, box.x0), max(0.0, box.y0), min(float(w), box.x1), min(float(h), box.y1))
    if inside.w * inside.h < (1 - MAX_CUT_OFF) * box.w * box.h:
        raise EnrolmentPhotoError(path, "face_cut_off")
    if box.w < MIN_FACE_PX:
        raise EnrolmentPhotoError(
            path, "face_too_small", f"{box.w:.0f} px wide, at least {MIN_FACE_PX} needed"
        )
    sharp = sharpness(gray, box)
    if sharp < MIN_SHARPNESS:
        raise EnrolmentPhotoError(path, "too_blurred", f"sharpness {sharp:.3f}, at least {MIN_SHARPNESS}")
    return _encode(image, box)


def _read(path: Path) -> np.ndarray:
    """The photo as BGR, EXIF orientation applied; size checked before decoding."""
    if not path.is_file():
        raise EnrolmentPhotoError(path, "missing")
    try:
        if path.stat().st_size > MAX_PHOTO_BYTES:
            raise EnrolmentPhotoError(path, "too_large", f"more than {MAX_PHOTO_BYTES // 1024**2} MB")
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                width, height = im.size
    except EnrolmentPhotoError:
        raise
    except (OSError, ValueError, Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise EnrolmentPhotoError(path, "unreadable", type(e).__name__) from e
    if width * height > MAX_PHOTO_PIXELS:
        raise EnrolmentPhotoError(path, "too_large", f"{width}x{height} pixels")
    image = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise EnrolmentPhotoError(path, "unreadable")
    return image


def _confirmed_faces(image: np.ndarray, gray: np.ndarray) -> list[_Candidate]:
    """HOG candidates, each confirmed by the CNN detector on a crop around it. Two independent
    detectors must agree: HOG alone takes some badges and patches for faces."""
    scale = min(2.0, SCAN_MAX_SIDE / max(gray.shape))
    found = suppress_overlaps(detect(gray, scale, threshold=CANDIDATE_THRESHOLD))[:MAX_CANDIDATES]
    return [_Candidate(d.box, d.score) for d in found if _cnn_confirms(image, d.box)]


def _cnn_confirms(image: np.ndarray, box: Box) -> bool:
    h, w = image.shape[:2]
    region = box.expand(0.6, 0.6, w, h)
    crop = image[int(region.y0) : int(np.ceil(region.y1)), int(region.x0) : int(np.ceil(region.x1))]
    if crop.shape[0] < 8 or crop.shape[1] < 8:
        return False
    s = CNN_FACE_PX / box.w
    crop = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    rgb = np.ascontiguousarray(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB))
    mapped = Box(
        (box.x0 - region.x0) * s, (box.y0 - region.y0) * s, (box.x1 - region.x0) * s, (box.y1 - region.y0) * s
    )
    for d in face_models().cnn_detector(rgb, 0):
        r = d.rect
        if Box(r.left(), r.top(), r.right(), r.bottom()).iou(mapped) >= 0.3:
            return True
    return False


def _encode(image: np.ndarray, box: Box) -> np.ndarray:
    """Encode on a crop around the face, downscaled so the face is at most 300 px wide."""
    h, w = image.shape[:2]
    region = box.expand(0.5, 0.5, w, h)
    crop = image[int(region.y0) : int(np.ceil(region.y1)), int(region.x0) : int(np.ceil(region.x1))]
    s = min(1.0, 300.0 / box.w)
    if s < 1.0:
        crop = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    rgb = np.ascontiguousarray(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB))
    local = (
        (box.x0 - region.x0) * s,
        (box.y0 - region.y0) * s,
        (box.x1 - region.x0) * s,
        (box.y1 - region.y0) * s,
    )
    return encode_face(rgb, local)
