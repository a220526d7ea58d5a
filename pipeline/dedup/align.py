"""Temporal alignment: Hough voting over (speed, offset) from matched pairs, line refinement, segments.

A line maps query time to candidate time: ``t_match = speed * t_query + offset``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_SPEED, MAX_SPEED = 0.8, 1.25
SPEEDS = np.exp(np.arange(np.log(MIN_SPEED), np.log(MAX_SPEED) + 1e-9, np.log(1.005)))
# ties between lines go to the speed nearest 1.0 (most copies keep the speed)
_PRIOR = 1.0 - 0.05 * np.abs(np.log(SPEEDS)) / np.log(MAX_SPEED)


@dataclass(frozen=True)
class Line:
    speed: float
    offset: float
    votes: float

    def at(self, t: np.ndarray | float) -> np.ndarray | float:
        return self.speed * t + self.offset


def _bin_width(span_s: float) -> float:
    # half a speed step of error drifts 0.25% over the span; the bin must absorb it
    return max(1.0, 0.003 * span_s)


def _peaks(acc: np.ndarray, origin: float, width: float, max_lines: int, min_votes: float) -> list[Line]:
    acc = acc * _PRIOR[:, None]
    lines: list[Line] = []
    for _ in range(max_lines):
        si, oi = np.unravel_index(int(np.argmax(acc)), acc.shape)
        votes = float(acc[si, oi]) / _PRIOR[si]
        if votes < min_votes or votes <= 0:
            break
        lines.append(Line(float(SPEEDS[si]), origin + (oi + 0.5) * width, votes))
        acc[max(0, si - 12) : si + 13, max(0, oi - 3) : oi + 4] = 0
    return lines


def vote_points(
    tq: np.ndarray, tc: np.ndarray, w: np.ndarray, span_s: float, max_lines: int = 4, min_votes: float = 1.0
) -> list[Line]:
    """Best lines through matched points (query time, candidate time) with weights ``w``."""
    if len(tq) == 0:
        return []
    width = _bin_width(span_s)
    offs = tc[None, :] - SPEEDS[:, None] * tq[None, :]
    origin = float(offs.min()) - width
    idx = ((offs - origin) / width).astype(np.int64)
    n_bins = int(idx.max()) + 2
    flat = idx + np.arange(len(SPEEDS))[:, None] * n_bins
    acc = np.bincount(flat.ravel(), np.broadcast_to(w, offs.shape).ravel(), len(SPEEDS) * n_bins)
    acc = acc.reshape(len(SPEEDS), n_bins)
    acc = acc + 0.5 * (np.roll(acc, 1, axis=1) + np.roll(acc, -1, axis=1))  # straddling a bin edge
    return _peaks(acc, origin, width, max_lines, min_votes)


def vote_intervals(
    q0: np.ndarray,
    q1: np.ndarray,
    c0: np.ndarray,
    c1: np.ndarray,
    w: np.ndarray,
    span_s: float,
    tol: float,
    max_lines: int = 4,
    min_votes: float = 1.0,
) -> list[Line]:
    """Best lines through matched time intervals ([q0, q1] of the query shows what [c0, c1] of the
    candidate shows); each pair votes ``w`` for every offset it allows."""
    if len(q0) == 0:
        return []
    width = _bin_width(span_s)
    lo = c0[None, :] - SPEEDS[:, None] * q1[None, :] - tol
    hi = c1[None, :] - SPEEDS[:, None] * q0[None, :] + tol
    origin = float(lo.min()) - width
    lo_i = ((lo - origin) / width).astype(np.int64)
    hi_i = ((hi - origin) / width).astype(np.int64) + 1
    n_bins = int(hi_i.max()) + 2
    rows = np.arange(len(SPEEDS))[:, None] * n_bins
    wb = np.broadcast_to(w, lo.shape).ravel()
    diff = np.bincount((lo_i + rows).ravel(), wb, len(SPEEDS) * n_bins)
    diff -= np.bincount((hi_i + rows).ravel(), wb, len(SPEEDS) * n_bins)
    acc = np.cumsum(diff.reshape(len(SPEEDS), n_bins), axis=1)
    return _peaks(acc, origin, width, max_lines, min_votes)


def refine(line: Line, tq: np.ndarray, tc: np.ndarray, w: np.ndarray, tol: float) -> Line:
    """Weighted least-squares fit of the pairs within ``tol`` seconds of ``line`` (speed clamped)."""
    for t in (max(tol, _bin_width(float(np.ptp(tq)) if len(tq) else 0.0)), tol):
        near = np.abs(tc - line.at(tq)) <= t
        if near.sum() < 2:
            return line
        x, y, ww = tq[near], tc[near], w[near]
        xm, ym = np.average(x, weights=ww), np.average(y, weights=ww)
        var = np.average((x - xm) ** 2, weights=ww)
        speed = line.speed
        if var > 4.0:  # enough spread in time to trust a slope
            speed = float(np.clip(np.average((x - xm) * (y - ym), weights=ww) / var, MIN_SPEED, MAX_SPEED))
        line = Line(speed, float(ym - speed * xm), float(ww.sum()))
    return line


def segments(t: np.ndarray, ok: np.ndarray, gap: float, step: float) -> list[tuple[float, float]]:
    """Stretches of times ``t`` (sorted) where ``ok`` holds, bridging gaps up to ``gap`` seconds.
    Each stretch is (first time, last time + step)."""
    hits = t[ok]
    if len(hits) == 0:
        return []
    breaks = np.flatnonzero(np.diff(hits) > gap + 1e-6)
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [len(hits) - 1]])
    return [(float(hits[a]), float(hits[b]) + step) for a, b in zip(starts, ends, strict=True)]
