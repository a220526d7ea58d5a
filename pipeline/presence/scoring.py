"""Who a track is: a few encodings, each compared with the claimed teacher and the colleagues."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.presence.face_models import encode_face
from pipeline.presence.policy import PresencePolicy
from pipeline.presence.tracking import Track


@dataclass(frozen=True)
class Gallery:
    """The claimed teacher's encodings and those of the other teachers enrolled at the same school."""

    teacher: np.ndarray  # n x 128
    colleagues: dict[str, np.ndarray]  # colleague id -> m x 128

    @classmethod
    def build(cls, teacher: Sequence[np.ndarray], colleagues: Mapping[str, Sequence[np.ndarray]]) -> Gallery:
        return cls(
            np.asarray(teacher, dtype=np.float64).reshape(-1, 128),
            {k: np.asarray(v, dtype=np.float64).reshape(-1, 128) for k, v in colleagues.items() if len(v)},
        )


@dataclass(frozen=True)
class FaceMatch:
    """One encoded face: its distance to the teacher and to the closest colleague."""

    t: float
    teacher: float
    colleague: float | None
    colleague_id: str | None
    label: str  # teacher | colleague | uncertain | other


@dataclass(frozen=True)
class TrackIdentity:
    identity: str  # teacher | colleague | other | uncertain | too_small
    distance: float | None  # median distance to the teacher over the encoded faces
    colleague_id: str | None
    colleague_distance: float | None
    matches: list[FaceMatch]


def match_face(gallery: Gallery, t: float, encoding: np.ndarray, policy: PresencePolicy) -> FaceMatch:
    """Label one encoding. A colleague who matches as well as the teacher (within the impostor
    margin) means it is not confirmed as the claimant."""
    d_teacher = float(np.linalg.norm(gallery.teacher - encoding, axis=1).min())
    best_id, d_colleague = None, None
    for cid, encs in gallery.colleagues.items():
        d = float(np.linalg.norm(encs - encoding, axis=1).min())
        if d_colleague is None or d < d_colleague:
            best_id, d_colleague = cid, d
    colleague_close = d_colleague is not None and d_colleague <= d_teacher + policy.impostor_margin
    if colleague_close and d_colleague is not None and d_colleague <= policy.match_threshold:
        label = "colleague"
    elif d_teacher <= policy.match_threshold and not colleague_close:
        label = "teacher"
    elif d_teacher <= policy.uncertain_threshold:
        label = "uncertain"
    else:
        label = "other"
    return FaceMatch(t, d_teacher, d_colleague, best_id, label)


def identify_track(track: Track, gallery: Gallery, policy: PresencePolicy) -> TrackIdentity:
    """Encode the track's best faces, fewest first: stop once the answer is clear, else encode more
    (up to ``policy.max_encodings``). The track is judged whole on the median distance: a track whose
    faces are mostly the teacher counts whole; a colleague as close as the teacher vetoes."""
    too_small = track.face_px < policy.min_judge_px
    budget = policy.min_encodings if too_small else policy.max_encodings
    matches: list[FaceMatch] = []
    for cand in track.pool.best_first()[:budget]:
        rgb = np.ascontiguousarray(cv2.cvtColor(cand.crop, cv2.COLOR_BGR2RGB))
        matches.append(match_face(gallery, cand.t, encode_face(rgb, cand.box.as_tuple()), policy))
        if len(matches) >= policy.min_encodings and _clear(matches, policy):
            break
    track.pool.clear()
    if not matches:
        return TrackIdentity("too_small", None, None, None, [])
    distance = float(np.median([m.teacher for m in matches]))
    c_id, c_dist = _closest_colleague(matches)
    vetoed = c_dist is not None and c_dist <= min(
        distance + policy.impostor_margin, policy.uncertain_threshold
    )
    if vetoed and c_dist is not None:
        identity = "colleague" if c_dist <= policy.match_threshold else "uncertain"
    elif distance <= policy.match_threshold:
        identity = "teacher"
    elif distance <= policy.uncertain_threshold:
        identity = "uncertain"
    else:
        identity = "other"
    if too_small:
        identity = "too_small"
    return TrackIdentity(identity, distance, c_id, c_dist, matches)


def _closest_colleague(matches: list[FaceMatch]) -> tuple[str | None, float | None]:
    """The colleague closest to most faces of the track and the median distance to them."""
    ids = [m.colleague_id for m in matches if m.colleague_id is not None]
    if not ids:
        return None, None
    cid = Counter(ids).most_common(1)[0][0]
    return cid, float(
        np.median([m.colleague for m in matches if m.colleague_id == cid and m.colleague is not None])
    )


def _clear(matches: list[FaceMatch], policy: PresencePolicy) -> bool:
    """All encodings agree and none sits near a threshold."""
    labels = {m.label for m in matches}
    if len(labels) != 1 or labels == {"uncertain"}:
        return False
    margin = policy.clear_margin
    edges = (policy.match_threshold, policy.uncertain_threshold)
    return all(abs(m.teacher - e) > margin for m in matches for e in edges)
