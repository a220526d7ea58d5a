"""PDQ hashing of frames: content box (bars removed), hash + mirrored hash, Hamming distances."""

from __future__ import annotations

import cv2
import numpy as np
import pdqhash

HASH_BYTES = 32  # 256-bit PDQ
WORK_SIDE = 320  # long side of the image the content box and hashes are computed on
MIRROR = 5  # index of the horizontal flip in pdqhash.compute_dihedral's eight hashes


def work_image(image: np.ndarray, side: int = WORK_SIDE) -> np.ndarray:
    """``image`` (BGR) shrunk so its long side is at most ``side``."""
    h, w = image.shape[:2]
    scale = side / max(h, w)
    if scale >= 1:
        return image
    return cv2.resize(
        image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
    )


def _uniform_lines(lines: np.ndarray, tol: int, frac: float, text: float = 0.25) -> int:
    """How many leading lines (rows of ``lines``) form a bar in the colour of the first one: the last
    bar-coloured line such that at most ``text`` of the lines before it are not (a caption in a bar)."""
    if len(lines) == 0:
        return 0
    ref = np.median(lines[0])
    ok = (np.abs(lines - ref) <= tol).mean(axis=1) >= frac
    if not ok[0]:
        return 0
    k = np.arange(1, len(ok) + 1)
    ends = np.flatnonzero(ok & (np.cumsum(ok) >= (1 - text) * k))
    return int(ends[-1]) + 1


def content_box(
    gray: np.ndarray, tol: int = 14, frac: float = 0.9, max_side_frac: float = 0.45
) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of ``gray`` once uniform borders (letterbox, pillarbox, padding of any colour,
    a caption line in a bar tolerated) are stripped; repeated so bars around a uniform edge both go."""
    h, w = gray.shape
    g = gray.astype(np.int16)
    x0, y0, x1, y1 = 0, 0, w, h
    mh, mw = int(h * max_side_frac), int(w * max_side_frac)
    for _ in range(3):
        before = (x0, y0, x1, y1)
        sub = g[y0:y1, x0:x1]
        top = _uniform_lines(sub[: max(0, mh - y0)], tol, frac)
        bottom = _uniform_lines(sub[::-1][: max(0, mh - (h - y1))], tol, frac)
        left = _uniform_lines(sub.T[: max(0, mw - x0)], tol, frac)
        right = _uniform_lines(sub.T[::-1][: max(0, mw - (w - x1))], tol, frac)
        y0, y1, x0, x1 = y0 + top, y1 - bottom, x0 + left, x1 - right
        if (x0, y0, x1, y1) == before or x1 - x0 < 8 or y1 - y0 < 8:
            break
    return x0, y0, x1, y1


def pdq(image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """(hash, mirrored hash, quality 0-100) of a BGR image; hashes are 32 packed bytes."""
    rgb = np.ascontiguousarray(image_bgr[:, :, ::-1])
    hashes, quality = pdqhash.compute_dihedral(rgb)
    return _pack(hashes[0]), _pack(hashes[MIRROR]), int(quality)


def pdq_gray(gray: np.ndarray) -> tuple[np.ndarray, int]:
    """(hash, quality) of a single-channel image."""
    h, quality = pdqhash.compute(np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2)))
    return _pack(h), int(quality)


def pdq_gray_pair(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hash, mirrored hash) of a single-channel image."""
    hashes, _ = pdqhash.compute_dihedral(np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2)))
    return _pack(hashes[0]), _pack(hashes[MIRROR])


def _pack(bits) -> np.ndarray:
    return np.packbits(np.asarray(bits, dtype=np.uint8))


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise Hamming distances between packed hashes ``a`` (n, 32) and ``b`` (m, 32): (n, m) int16,
    computed in row blocks so the temporaries stay small for long videos."""
    out = np.zeros((len(a), len(b)), dtype=np.int16)
    if len(a) == 0 or len(b) == 0:
        return out
    av = np.ascontiguousarray(a).view(np.uint64)
    bv = np.ascontiguousarray(b).view(np.uint64)
    rows = max(1, (1 << 20) // len(b))
    for r in range(0, len(a), rows):
        out[r : r + rows] = np.bitwise_count(av[r : r + rows, None, :] ^ bv[None, :, :]).sum(
            axis=2, dtype=np.int16
        )
    return out


def hamming_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Hamming distances between equally long arrays of packed hashes."""
    av = np.ascontiguousarray(a).view(np.uint64)
    bv = np.ascontiguousarray(b).view(np.uint64)
    return np.bitwise_count(av ^ bv).sum(axis=1, dtype=np.int32)
