"""Geometric registration of keyframe thumbnails: crops, picture-in-picture and filmed screens.

PDQ compares whole frames, so a copy that shows the lesson smaller, shifted or in perspective hashes
far from it. Given a time alignment hint (from the audio, or from a few frames that still match), the
transform between the two pictures is estimated once from thumbnails at aligned times (multi-scale
template matching, refined to a homography by ECC); both sides are then re-hashed on the common region
and verified like ordinary frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.dedup.align import Line
from pipeline.dedup.pdq import pdq_gray
from pipeline.dedup.visual import VisualFingerprint

SCALES = np.arange(0.5, 1.0001, 0.025)  # size of the contained picture relative to the container
MAX_PAIRS = 6  # thumbnail pairs used to estimate the transform
TRIALS = 2  # best placements refined and scored on all pairs
MIN_NCC = 0.45  # median correlation over the pairs below this is no registration
GOOD_NCC = 0.6  # ... above this the mirror image is not tried
MIN_OVERLAP = 0.25  # common region smaller than this share of the query picture: give up
HASH_SIDE = 64
MAX_ECC_MOVE = 0.12  # ECC may move a corner this far (normalised) from the template-matching estimate


@dataclass(frozen=True)
class Registration:
    """Homography from query to candidate picture, both in normalised [0, 1] coordinates."""

    homography: np.ndarray
    mirrored: bool
    ncc: float

    def describe(self) -> str:
        area = float(cv2.contourArea(_corners(self.homography).astype(np.float32)))
        mirrored = ", mirrored" if self.mirrored else ""
        if area <= 1:
            return f"the query's picture is {np.sqrt(area):.0%} of the candidate's size{mirrored}"
        return f"the candidate's picture is {1 / np.sqrt(area):.0%} of the query's size{mirrored}"


def _norm(w: int, h: int) -> np.ndarray:
    return np.diag([float(w), float(h), 1.0])


def _prep(img: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(img, (3, 3), 0).astype(np.float32)


def _template_search(q: np.ndarray, c: np.ndarray) -> tuple[float, np.ndarray] | None:
    """Best placement of the whole of ``q`` inside ``c`` over ``SCALES``: (NCC, homography q -> c in
    normalised coordinates)."""
    hc, wc = c.shape
    hq, wq = q.shape
    best: tuple[float, np.ndarray] | None = None
    if float(q.std()) < 1.0 or float(c.std()) < 1.0:
        return None
    for s in SCALES:
        tw = round(s * wc)
        th = round(tw * hq / wq)
        if th > hc:
            th = round(s * hc)
            tw = round(th * wq / hq)
        if tw < 16 or th < 12 or tw > wc or th > hc:
            continue
        tpl = cv2.resize(q, (tw, th), interpolation=cv2.INTER_AREA)
        res = cv2.matchTemplate(c, tpl, cv2.TM_CCOEFF_NORMED)
        _, score, _, (x, y) = cv2.minMaxLoc(res)
        if best is None or score > best[0]:
            h = np.array([[tw / wc, 0, x / wc], [0, th / hc, y / hc], [0, 0, 1]], np.float64)
            best = (float(score), h)
    return best


def _place(q: np.ndarray, c: np.ndarray) -> tuple[float, np.ndarray] | None:
    """Similarity placement (NCC, normalised homography) of query picture ``q`` onto ``c``: the
    query shown smaller inside the candidate, or the candidate shown smaller inside the query."""
    found = []
    inside = _template_search(q, c)
    if inside:
        found.append(inside)
    around = _template_search(c, q)
    if around:
        found.append((around[0], np.linalg.inv(around[1])))
    return max(found, key=lambda f: f[0]) if found else None


def _corners(h_norm: np.ndarray) -> np.ndarray:
    corners = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float64)
    return cv2.perspectiveTransform(corners[None], h_norm)[0]


def _refine_ecc(q: np.ndarray, c: np.ndarray, h_norm: np.ndarray) -> np.ndarray:
    """ECC refinement of a normalised query -> candidate homography; kept only when it converges
    near the starting point (small thumbnails make ECC wander otherwise)."""
    hq, wq = q.shape
    hc, wc = c.shape
    start = _corners(h_norm)
    for motion in (cv2.MOTION_AFFINE, cv2.MOTION_HOMOGRAPHY):
        warp = (_norm(wc, hc) @ h_norm @ np.linalg.inv(_norm(wq, hq))).astype(np.float32)
        warp /= warp[2, 2]
        if motion == cv2.MOTION_AFFINE:
            warp = warp[:2]
        try:
            criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-5)
            # ECC warps the input (candidate) into the template's (query's) frame: x_c = warp @ x_q
            _, warp = cv2.findTransformECC(q, c, warp, motion, criteria, None, 3)
        except cv2.error:
            return h_norm
        if motion == cv2.MOTION_AFFINE:
            warp = np.vstack([warp, [0, 0, 1]])
        refined = np.linalg.inv(_norm(wc, hc)) @ warp.astype(np.float64) @ _norm(wq, hq)
        refined /= refined[2, 2]
        if np.abs(_corners(refined) - start).max() > MAX_ECC_MOVE:
            return h_norm
        h_norm = refined
    return h_norm


def _overlap_box(h_norm: np.ndarray) -> tuple[float, float, float, float] | None:
    """Axis-aligned box of the query picture (normalised) whose content lies inside the candidate."""
    inv = np.linalg.inv(h_norm)
    corners = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float64)
    p = cv2.perspectiveTransform(corners[None], inv)[0]  # candidate corners in query coordinates
    x0 = max(0.0, p[0, 0], p[3, 0])
    x1 = min(1.0, p[1, 0], p[2, 0])
    y0 = max(0.0, p[0, 1], p[1, 1])
    y1 = min(1.0, p[2, 1], p[3, 1])
    pad_x, pad_y = 0.02 * (x1 - x0), 0.02 * (y1 - y0)
    box = (x0 + pad_x, y0 + pad_y, x1 - pad_x, y1 - pad_y)
    if box[2] <= box[0] or box[3] <= box[1] or (box[2] - box[0]) * (box[3] - box[1]) < MIN_OVERLAP:
        return None
    return box


def _crop_hash(img: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    h, w = img.shape
    x0, y0, x1, y1 = round(box[0] * w), round(box[1] * h), round(box[2] * w), round(box[3] * h)
    crop = cv2.resize(img[y0 : max(y1, y0 + 1), x0 : max(x1, x0 + 1)], (HASH_SIDE, HASH_SIDE))
    return pdq_gray(crop)[0]


def _warp_hash(img: np.ndarray, h_norm: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """PDQ of candidate picture ``img`` warped into the query's ``box``."""
    hc, wc = img.shape
    x0, y0, x1, y1 = box
    # output pixel -> query normalised -> candidate normalised -> candidate pixel
    out_to_q = np.array(
        [[(x1 - x0) / HASH_SIDE, 0, x0], [0, (y1 - y0) / HASH_SIDE, y0], [0, 0, 1]], np.float64
    )
    m = _norm(wc, hc) @ h_norm @ out_to_q
    warped = cv2.warpPerspective(
        img,
        m,
        (HASH_SIDE, HASH_SIDE),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return pdq_gray(warped)[0]


def _pairs(q: VisualFingerprint, c: VisualFingerprint, lines: list[Line]) -> list[tuple[int, int]]:
    """Thumbnail index pairs shown at aligned times, spread over the video."""
    out: list[tuple[int, int]] = []
    for line in lines:
        mapped = line.at(q.thumb_times.astype(np.float64))
        j = np.clip(np.searchsorted(c.thumb_times, mapped), 1, len(c.thumb_times) - 1)
        j = np.where(np.abs(c.thumb_times[j - 1] - mapped) < np.abs(c.thumb_times[j] - mapped), j - 1, j)
        ok = np.abs(c.thumb_times[j] - mapped) <= 1.5
        out += [(int(i), int(j[i])) for i in np.flatnonzero(ok)]
    if len(out) > MAX_PAIRS:
        out = [out[k] for k in np.linspace(0, len(out) - 1, MAX_PAIRS).round().astype(int)]
    return out


def register(q: VisualFingerprint, c: VisualFingerprint, lines: list[Line]) -> Registration | None:
    """The transform between the two pictures, from thumbnails aligned by ``lines``."""
    if len(q.thumbs) < 2 or len(c.thumbs) < 2:
        return None
    pairs = _pairs(q, c, lines)
    if not pairs:
        return None
    best: Registration | None = None
    cs = {j: _prep(c.thumbs[j]) for _, j in pairs}
    for mirrored in (False, True):
        qs = {i: _prep(cv2.flip(q.thumbs[i], 1) if mirrored else q.thumbs[i]) for i, _ in pairs}
        placed = [(f[0], f[1], i, j) for i, j in pairs if (f := _place(qs[i], cs[j])) is not None]
        for _, h, i, j in sorted(placed, key=lambda f: -f[0])[:TRIALS]:
            h = _refine_ecc(qs[i], cs[j], h)
            box = _overlap_box(h)
            if box is None:
                continue
            score = float(np.median([_ncc(qs[a], cs[b], h, box) for a, b in pairs]))
            if score >= MIN_NCC and (best is None or score > best.ncc):
                best = Registration(h, mirrored, score)
        if best is not None and best.ncc >= GOOD_NCC:
            break  # no need to try the mirror image
    return best


def _ncc(q: np.ndarray, c: np.ndarray, h_norm: np.ndarray, box: tuple[float, float, float, float]) -> float:
    hq, wq = q.shape
    hc, wc = c.shape
    x0, y0, x1, y1 = round(box[0] * wq), round(box[1] * hq), round(box[2] * wq), round(box[3] * hq)
    m = _norm(wc, hc) @ h_norm @ np.array([[1 / wq, 0, box[0]], [0, 1 / hq, box[1]], [0, 0, 1]])
    warped = cv2.warpPerspective(c, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    a = q[y0:y1, x0:x1].ravel()
    b = warped.ravel()
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else 0.0


def registered_fingerprints(
    q: VisualFingerprint, c: VisualFingerprint, reg: Registration, step: float = 1.5
) -> tuple[VisualFingerprint, VisualFingerprint] | None:
    """Both sides' thumbnails re-hashed on the common region, as point-run fingerprints."""
    box = _overlap_box(reg.homography)
    if box is None:
        return None
    qs = [cv2.flip(t, 1) if reg.mirrored else t for t in q.thumbs]
    qh = np.array([_crop_hash(t, box) for t in qs], np.uint8)
    ch = np.array([_warp_hash(t, reg.homography, box) for t in c.thumbs], np.uint8)

    def points(times: np.ndarray, hashes: np.ndarray, src: VisualFingerprint) -> VisualFingerprint:
        t = times.astype(np.float32)
        q100 = np.full(len(t), 100, np.uint8)
        return VisualFingerprint(t, t.copy(), hashes, hashes, q100, step, src.samples, src.hashed)

    return points(q.thumb_times, qh, q), points(c.thumb_times, ch, c)
