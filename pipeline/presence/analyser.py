"""The presence stage: is the enrolled teacher in the video, in person, for long enough?"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from pipeline.analysis.analyser import Analyser, FinishContext, FrameFeed, Setting, StageOutput
from pipeline.frames import Frame
from pipeline.presence.enrolled import EnrolledFaces
from pipeline.presence.face_models import model_versions
from pipeline.presence.flatness import Flatness, face_patches, measure_flatness
from pipeline.presence.policy import PresencePolicy
from pipeline.presence.scoring import Gallery, TrackIdentity, identify_track
from pipeline.presence.small_faces import FrameSample, SmallFaces, find_small_faces
from pipeline.presence.tracking import FaceTracker, Track, TrackingConfig
from pipeline.presence.verdict import JudgedTrack, decide, not_checked

MAX_LISTED_TRACKS = 200


class PresenceAnalyser(Analyser):
    """Tracks faces over the sampled frames, judges each track once it ends (a few encodings), and
    at the end applies the policy. Without an enrolled teacher it does no face work at all and
    reports ``not_checked``."""

    stage = "presence"
    # 4: full scans on a downscaled frame, small faces searched finely only where the picture changed
    version = "4"
    settings = (Setting("enrolled_faces", EnrolledFaces()), Setting("presence_policy", PresencePolicy()))
    feed = FrameFeed.SAMPLED

    def __init__(
        self,
        enrolled_faces: EnrolledFaces | None = None,
        presence_policy: PresencePolicy | None = None,
        tracking: TrackingConfig | None = None,
    ) -> None:
        faces = enrolled_faces or EnrolledFaces()
        self.teacher_id = faces.teacher_id
        self.policy = presence_policy or PresencePolicy()
        self.tracking = tracking or TrackingConfig()
        self._checking = bool(faces.teacher_id) and len(faces.teacher) > 0
        self._gallery = Gallery.build(faces.teacher, faces.colleagues) if self._checking else None
        self._tracker = FaceTracker(self.tracking)
        self._judged: list[tuple[Track, TrackIdentity, Flatness | None]] = []
        self._first_t: float | None = None
        self._last_t: float | None = None
        self._samples = 0
        self._sample = FrameSample(self.policy.small_face_frames)

    def process(self, frame: Frame) -> None:
        if self._first_t is None:
            self._first_t = frame.t
        self._last_t = frame.t
        self._samples += 1
        if self._checking:
            self._judge(self._tracker.update(frame.t, frame.image))
            self._sample.offer(frame.t, frame.image)

    def finish(self, ctx: FinishContext) -> StageOutput:
        interval = self._interval()
        duration = (
            ctx.duration_s if ctx.duration_s and ctx.duration_s > 0 else (self._last_t or 0.0) + interval
        )
        small: SmallFaces | None = None
        if not self._checking:
            decision = not_checked(self.teacher_id)
            tracks: list[JudgedTrack] = []
        else:
            self._judge(self._tracker.close_all())
            tracks = [self._finalise(*judged, interval, duration) for judged in self._judged]
            small = self._small_faces() if not tracks else None
            decision = decide(tracks, duration, self.policy, small)
        data: dict[str, Any] = {
            "verdict": decision.verdict,
            "teacher_id": self.teacher_id,
            "teacher_seconds": decision.teacher_seconds,
            "teacher_ratio": round(decision.teacher_seconds / duration, 4) if duration > 0 else 0.0,
            "required_seconds": round(self.policy.required_seconds(duration), 2),
            "duration_s": round(duration, 2),
            "segments": decision.segments,
            "tracks": _track_summary(tracks),
            "reasons": decision.reasons,
            "reasons_zh": decision.reasons_zh,
            "small_faces": small.as_dict() if small else None,
            "thresholds": {**self.policy.as_dict(), "tracking": asdict(self.tracking)},
            "models": model_versions(),
            "work": {
                "samples": self._samples,
                "sample_interval_s": round(interval, 3),
                "encodings": sum(len(t.identity.matches) for t in tracks),
                **asdict(self._tracker.counts),
            },
        }
        return StageOutput(data=data)

    def _small_faces(self) -> SmallFaces:
        """With no face tracked at all: look again, finer, at frames sampled over the whole video."""
        p = self.policy
        found = find_small_faces(self._sample, p.small_face_px, p.small_face_score)
        self._sample.frames.clear()
        return found

    def _judge(self, closed: list[Track]) -> None:
        """Encode and judge tracks as they end (their face crops are dropped then); a track that may
        be the teacher is also checked for moving only as a flat picture does."""
        if self._gallery is None:
            return
        for track in closed:
            faces = track.pool.best_first()  # kept: identify_track empties the pool
            identity = identify_track(track, self._gallery, self.policy)
            may_count = identity.identity in ("teacher", "uncertain") and len(faces) >= 2
            self._judged.append(
                (track, identity, measure_flatness(face_patches(faces)) if may_count else None)
            )

    def _finalise(
        self,
        track: Track,
        identity: TrackIdentity,
        flatness: Flatness | None,
        interval: float,
        duration: float,
    ) -> JudgedTrack:
        stillness = track.stillness.result()
        p = self.policy
        static = stillness.is_static(p.static_max_change, p.static_min_seconds, p.static_min_samples)
        flat = (
            not static
            and flatness is not None
            and flatness.is_flat(p.flat_max_deformation, p.flat_min_pairs, p.flat_min_seconds)
        )
        return JudgedTrack(
            id=track.id,
            start=track.start,
            end=min(track.last_t + interval, max(duration, track.last_t)),
            samples=len(track.observations),
            face_px=track.face_px,
            identity=identity,
            stillness=stillness,
            static=static,
            flatness=flatness,
            flat=flat,
        )

    def _interval(self) -> float:
        """Seconds between samples, from the first and last sample times (1 s when unknown)."""
        if self._samples >= 2 and self._first_t is not None and self._last_t is not None:
            step = (self._last_t - self._first_t) / (self._samples - 1)
            if step > 0:
                return step
        return 1.0


def _track_summary(tracks: list[JudgedTrack]) -> dict[str, Any]:
    counts = {"teacher": 0, "other": 0, "colleague": 0, "uncertain": 0, "too_small": 0}
    for t in tracks:
        if not t.picture:
            counts[t.label] += 1
    items = [_track_item(t) for t in sorted(tracks, key=lambda t: (-(t.end - t.start), t.start))]
    listed = sorted(items[:MAX_LISTED_TRACKS], key=lambda i: i["start"])
    return {
        "total": len(tracks),
        "teacher": counts["teacher"],
        "other_people": counts["other"] + counts["colleague"],
        "colleague": counts["colleague"],
        "uncertain": counts["uncertain"],
        "too_small": counts["too_small"],
        "still_pictures": sum(1 for t in tracks if t.static),
        "flat_pictures": sum(1 for t in tracks if t.flat),
        "items": listed,
        "items_truncated": len(items) > MAX_LISTED_TRACKS,
    }


def _track_item(t: JudgedTrack) -> dict[str, Any]:
    ident = t.identity
    return {
        "id": t.id,
        "start": round(t.start, 2),
        "end": round(t.end, 2),
        "seconds": round(t.end - t.start, 2),
        "label": t.label,
        "still_picture": t.static,
        "flat_picture": t.flat,
        "distance": None if ident.distance is None else round(ident.distance, 3),
        "colleague_id": ident.colleague_id if t.label == "colleague" else None,
        "colleague_distance": None
        if ident.colleague_distance is None
        else round(ident.colleague_distance, 3),
        "face_px": round(t.face_px, 1),
        "samples": t.samples,
        "encodings": len(ident.matches),
        "motion": round(t.stillness.motion, 3),
        "change": round(t.stillness.change, 3),
        "deformation": None if t.flatness is None else round(t.flatness.deformation, 4),
    }
