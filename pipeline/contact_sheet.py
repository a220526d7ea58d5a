"""One JPEG grid of keyframes with a timestamp on each tile, for reviewers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

BACKGROUND = (32, 32, 32)  # BGR of the gaps and of empty cells
GAP = 4  # pixels between tiles and around the grid
FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass(frozen=True)
class SheetLayout:
    columns: int
    rows: int
    tile_width: int
    tile_height: int
    gap: int = GAP

    def cell_origin(self, i: int) -> tuple[int, int]:
        """Top-left (x, y) of tile ``i`` in the sheet, row by row."""
        row, col = divmod(i, self.columns)
        return self.gap + col * (self.tile_width + self.gap), self.gap + row * (self.tile_height + self.gap)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the whole sheet."""
        return (
            self.gap + self.columns * (self.tile_width + self.gap),
            self.gap + self.rows * (self.tile_height + self.gap),
        )


def format_timestamp(t: float) -> str:
    """``mm:ss``, or ``h:mm:ss`` from one hour on (seconds rounded down, as a player seeks)."""
    s = max(0, int(t))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:02d}:{sec:02d}"


def sheet_layout(n: int, aspect: float, tile_side: int = 320) -> SheetLayout:
    """A grid for ``n`` tiles of width/height ``aspect``, about 16:9 overall (4x4 for 16 landscape
    tiles, two wide rows for portrait ones); tiles fit a ``tile_side`` box."""
    if n < 1:
        raise ValueError("a contact sheet needs at least one tile")
    tile_w = tile_side if aspect >= 1 else max(1, round(tile_side * aspect))
    tile_h = max(1, round(tile_w / aspect)) if aspect >= 1 else tile_side
    columns = min(n, max(1, math.ceil(math.sqrt(n * (16 / 9) * tile_h / tile_w) - 1e-9)))
    return SheetLayout(columns=columns, rows=math.ceil(n / columns), tile_width=tile_w, tile_height=tile_h)


def _fit_into(image: np.ndarray, width: int, height: int) -> np.ndarray:
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(image, size, interpolation=interp)


def _draw_label(tile: np.ndarray, text: str) -> None:
    scale = max(0.4, tile.shape[1] / 640)
    (tw, th), base = cv2.getTextSize(text, FONT, scale, 1)
    x, y = 4, tile.shape[0] - 4 - base
    cv2.rectangle(tile, (x - 3, y - th - 3), (x + tw + 3, y + base + 2), (0, 0, 0), -1)
    cv2.putText(tile, text, (x, y), FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)


def write_contact_sheet(
    images: Sequence[np.ndarray], labels: Sequence[str], path: Path, tile_side: int = 320, quality: int = 85
) -> SheetLayout:
    """Write ``images`` (BGR) as one JPEG grid to ``path``, ``labels[i]`` drawn on tile ``i``.
    Every tile is letterboxed into the same cell; returns the layout used."""
    if not images or len(images) != len(labels):
        raise ValueError("a contact sheet needs at least one image and one label per image")
    aspect = float(np.median([im.shape[1] / im.shape[0] for im in images]))
    layout = sheet_layout(len(images), aspect, tile_side)
    sheet_w, sheet_h = layout.size
    sheet = np.full((sheet_h, sheet_w, 3), BACKGROUND, np.uint8)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        x, y = layout.cell_origin(i)
        cell = np.zeros((layout.tile_height, layout.tile_width, 3), np.uint8)
        fitted = _fit_into(image, layout.tile_width, layout.tile_height)
        oy = (layout.tile_height - fitted.shape[0]) // 2
        ox = (layout.tile_width - fitted.shape[1]) // 2
        cell[oy : oy + fitted.shape[0], ox : ox + fitted.shape[1]] = fitted
        _draw_label(cell, label)
        sheet[y : y + layout.tile_height, x : x + layout.tile_width] = cell
    if not cv2.imwrite(str(path), sheet, [cv2.IMWRITE_JPEG_QUALITY, quality]):
        raise OSError(f"could not write {path}")
    return layout
