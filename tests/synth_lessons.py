"""Synthetic lesson videos made from the shared face photos, with known ground truth.

A ``Lesson`` is a background (changing slides or a plain classroom wall) and ``Appearance``s: a
person's head cut out of a photo, composited for a time span. A live appearance is a person: it
sways, bobs, scales and tilts a little, and its face deforms as a face does (jaw and lips open and
close as in speech, brows lift, the nose shifts against the cheeks as the head turns, eyes blink).
A ``still`` one never moves (a photo on a slide); a ``held_photo`` moves and tilts in perspective
but stays flat (a printed photo held up to the camera). Frames are piped to ffmpeg (libx264), so the
tests see real compression."""

from __future__ import annotations

import math
import subprocess
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from pipeline.presence.detection import detect, suppress_overlaps
from tests.fixtures.media import DATA

FACES = DATA / "faces"
CUTOUT_FACE_PX = 220  # cut-outs are stored with the face this wide, then scaled per frame


@dataclass(frozen=True)
class Appearance:
    photo: Path
    start: float
    end: float
    x: float = 0.5  # face centre as a share of the frame width
    y: float = 0.42  # and height
    face_px: int = 110  # face width in output pixels
    still: bool = False  # a still picture (never moves) rather than a person
    held_photo: bool = False  # a flat picture moved and tilted by hand (no face deformation)
    phase: float = 0.0  # offsets the sway so two people do not move in step


@dataclass(frozen=True)
class Lesson:
    seconds: float
    width: int = 640
    height: int = 360
    fps: int = 10
    background: str = "slides"  # "slides" (a new slide every few seconds) or "wall"
    slide_every_s: float = 6.0
    appearances: tuple[Appearance, ...] = field(default_factory=tuple)

    def seconds_on_screen(self, photo: Path) -> float:
        """Ground truth: how long faces from ``photo`` are visible (overlaps counted once)."""
        spans = sorted(
            (max(0.0, a.start), min(self.seconds, a.end)) for a in self.appearances if a.photo == photo
        )
        total, reach = 0.0, 0.0
        for s, e in spans:
            s = max(s, reach)
            if e > s:
                total += e - s
                reach = e
        return total


def render_lesson(lesson: Lesson, path: Path) -> Path:
    """Write ``lesson`` as an H.264 MP4 at ``path``."""
    w, h = lesson.width, lesson.height
    cmd = [
        *("ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y"),
        *("-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{w}x{h}", "-r", str(lesson.fps), "-i", "-"),
        *("-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", "-threads", "1"),
        *("-movflags", "+faststart", str(path)),
    ]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None
    try:
        for i in range(round(lesson.seconds * lesson.fps)):
            proc.stdin.write(_frame(lesson, i / lesson.fps).tobytes())
    finally:
        proc.stdin.close()
        stderr = proc.stderr.read().decode() if proc.stderr else ""
        rc = proc.wait()
    if rc != 0:
        raise RuntimeError(f"ffmpeg failed: {stderr}")
    return path


def _frame(lesson: Lesson, t: float) -> np.ndarray:
    frame = _background(lesson.background, lesson.width, lesson.height, int(t // lesson.slide_every_s)).copy()
    for a in lesson.appearances:
        if a.start <= t < a.end:
            _paste(frame, a, t)
    return frame


@cache
def _background(kind: str, w: int, h: int, slide: int) -> np.ndarray:
    """A slide (title bar, bullet lines, a chart; content changes with ``slide``) or a classroom wall."""
    if kind == "wall":
        img = np.empty((h, w, 3), np.uint8)
        img[:] = (176, 196, 206)
        cv2.rectangle(img, (int(0.1 * w), int(0.12 * h)), (int(0.9 * w), int(0.55 * h)), (60, 80, 50), -1)
        cv2.rectangle(img, (0, int(0.8 * h)), (w, h), (90, 110, 140), -1)
        return img
    rng = np.random.default_rng(slide)
    img = np.full((h, w, 3), 250, np.uint8)
    cv2.rectangle(img, (0, 0), (w, int(0.16 * h)), (150, 80, 30), -1)
    scale = h / 720
    cv2.putText(
        img, f"Lesson part {slide + 1}", (int(0.04 * w), int(0.11 * h)), cv2.FONT_HERSHEY_SIMPLEX,
        1.6 * scale, (255, 255, 255), max(1, int(3 * scale)), cv2.LINE_AA,
    )  # fmt: skip
    for k in range(5):
        y = int((0.28 + 0.12 * k) * h)
        words = " ".join("x" * int(n) for n in rng.integers(2, 9, size=5))
        cv2.circle(img, (int(0.06 * w), y - int(8 * scale)), max(2, int(6 * scale)), (60, 60, 60), -1)
        cv2.putText(
            img, words, (int(0.09 * w), y), cv2.FONT_HERSHEY_SIMPLEX, 0.9 * scale, (40, 40, 40),
            max(1, int(2 * scale)), cv2.LINE_AA,
        )  # fmt: skip
    for k, v in enumerate(rng.uniform(0.2, 1.0, size=4)):
        x0 = int((0.62 + 0.08 * k) * w)
        cv2.rectangle(
            img, (x0, int((0.9 - 0.4 * v) * h)), (x0 + int(0.05 * w), int(0.9 * h)), (40, 140, 200), -1
        )
    return img


@cache
def cutout(photo: Path) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """Head and shoulders cut from ``photo``, the face ``CUTOUT_FACE_PX`` wide; a feathered
    elliptical alpha; and the face centre inside the cut-out."""
    img = cv2.imread(str(photo))
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    faces = suppress_overlaps(detect(gray, min(2.0, 1600 / max(gray.shape))))
    box = max(faces, key=lambda d: d.box.w).box
    ih, iw = gray.shape
    x0, x1 = max(0, int(box.x0 - 0.55 * box.w)), min(iw, int(box.x1 + 0.55 * box.w))
    y0, y1 = max(0, int(box.y0 - 0.7 * box.h)), min(ih, int(box.y1 + 0.9 * box.h))
    s = CUTOUT_FACE_PX / box.w
    crop = cv2.resize(img[y0:y1, x0:x1], None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    ch, cw = crop.shape[:2]
    alpha = np.zeros((ch, cw), np.float32)
    cv2.ellipse(alpha, (cw // 2, ch // 2), (int(cw * 0.46), int(ch * 0.48)), 0, 0, 360, 1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 0.04 * cw)
    centre = ((box.cx - x0) * s, (box.cy - y0) * s)
    return crop, alpha, centre


@cache
def _landmarks(photo: Path) -> np.ndarray:
    """The 68 face landmarks of the cut-out (x, y)."""
    import dlib
    import face_recognition.api as fr

    crop, _, _ = cutout(photo)
    gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    box = max(suppress_overlaps(detect(gray, 1.0)), key=lambda d: d.box.w).box
    rgb = np.ascontiguousarray(cv2.cvtColor(crop, cv2.COLOR_BGR2RGB))
    rect = dlib.rectangle(*(round(v) for v in box.as_tuple()))
    return np.array([(q.x, q.y) for q in fr.pose_predictor_68_point(rgb, rect).parts()], np.float64)


def speaking_face(photo: Path, t: float, phase: float) -> np.ndarray:
    """The cut-out with its face as at time ``t`` of speech: landmark displacements spread smoothly
    around each landmark (Gaussian weights, on a quarter-size grid), the rest of the head in place."""
    crop, _, _ = cutout(photo)
    pts = _landmarks(photo)
    iod = float(np.linalg.norm(pts[36:42].mean(0) - pts[42:48].mean(0)))
    disp = np.zeros_like(pts)
    speech = 0.5 * (1 + math.sin(2 * math.pi * t / 0.9 + phase))
    disp[[56, 57, 58, 65, 66, 67], 1] += 0.40 * iod * speech  # lower lip
    disp[[5, 6, 7, 8, 9, 10, 11], 1] += 0.28 * iod * speech  # jaw
    disp[[48, 54, 60, 64], 0] += np.array([1, -1, 1, -1]) * 0.04 * iod * speech  # lip corners narrow
    disp[17:27, 1] -= 0.07 * iod * max(0.0, math.sin(2 * math.pi * t / 2.3 + phase))  # brows lift
    disp[27:36, 0] += 0.16 * iod * math.sin(2 * math.pi * t / 4.3 + phase)  # nose against cheeks: a turn
    if (t + phase) % 3.1 < 0.3:  # a blink
        disp[[37, 38, 43, 44], 1] += 0.5 * (pts[[41, 40, 47, 46], 1] - pts[[37, 38, 43, 44], 1])
    h, w = crop.shape[:2]
    q = 4
    ys, xs = np.mgrid[0:h:q, 0:w:q].astype(np.float32)
    sigma2 = 2 * (0.16 * iod) ** 2
    num_x, num_y, den = np.zeros_like(xs), np.zeros_like(xs), np.zeros_like(xs)
    for (px, py), (dx, dy) in zip(pts, disp, strict=True):
        g = np.exp(-((xs - px) ** 2 + (ys - py) ** 2) / sigma2)
        num_x += g * dx
        num_y += g * dy
        den += g
    den = np.maximum(den, 1.0)
    fx = cv2.resize(num_x / den, (w, h), interpolation=cv2.INTER_LINEAR)
    fy = cv2.resize(num_y / den, (w, h), interpolation=cv2.INTER_LINEAR)
    full_y, full_x = np.mgrid[0:h, 0:w].astype(np.float32)
    return cv2.remap(crop, full_x - fx, full_y - fy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _paste(frame: np.ndarray, a: Appearance, t: float) -> None:
    crop, alpha, (fcx, fcy) = cutout(a.photo)
    fh, fw = frame.shape[:2]
    if a.still:
        scale, angle, dx, dy = a.face_px / CUTOUT_FACE_PX, 0.0, 0.0, 0.0
    else:
        p = a.phase
        scale = a.face_px / CUTOUT_FACE_PX * (1 + 0.08 * math.sin(2 * math.pi * t / 4.1 + p))
        angle = 4.0 * math.sin(2 * math.pi * t / 5.3 + p)
        dx = 0.3 * a.face_px * math.sin(2 * math.pi * t / 3.7 + p)
        dy = 0.1 * a.face_px * math.sin(2 * math.pi * t / 2.9 + p)
        if not a.held_photo:
            crop = speaking_face(a.photo, t, p)
    m = np.vstack([cv2.getRotationMatrix2D((fcx, fcy), angle, scale), [0.0, 0.0, 1.0]])
    m[0, 2] += a.x * fw + dx - fcx
    m[1, 2] += a.y * fh + dy - fcy
    if a.held_photo:  # the picture turns about its vertical axis and tips back: a perspective change
        yaw = 0.0006 * math.sin(2 * math.pi * t / 3.3 + a.phase)
        pitch = 0.0004 * math.sin(2 * math.pi * t / 4.7 + a.phase)
        about_face = np.array([[1, 0, -fcx], [0, 1, -fcy], [0, 0, 1]], np.float64)
        m = m @ np.linalg.inv(about_face) @ np.array([[1, 0, 0], [0, 1, 0], [yaw, pitch, 1]]) @ about_face
    ch, cw = crop.shape[:2]
    corners = np.array([[0, 0, 1], [cw, 0, 1], [0, ch, 1], [cw, ch, 1]], np.float64) @ m.T
    corners = corners[:, :2] / corners[:, 2:]
    x0, y0 = max(0, int(corners[:, 0].min())), max(0, int(corners[:, 1].min()))
    x1, y1 = min(fw, int(np.ceil(corners[:, 0].max()))), min(fh, int(np.ceil(corners[:, 1].max())))
    if x1 <= x0 or y1 <= y0:
        return
    m = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64) @ m
    size = (x1 - x0, y1 - y0)
    layer = cv2.warpPerspective(crop, m, size, flags=cv2.INTER_LINEAR).astype(np.float32)
    mask = cv2.warpPerspective(alpha, m, size, flags=cv2.INTER_LINEAR)[..., None]
    roi = frame[y0:y1, x0:x1]
    np.copyto(roi, (roi * (1 - mask) + layer * mask).astype(np.uint8))
