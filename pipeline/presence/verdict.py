"""From judged face tracks to the presence verdict, its teacher time and its reasons (EN + ZH)."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.presence.flatness import Flatness
from pipeline.presence.liveness import Stillness
from pipeline.presence.policy import PresencePolicy
from pipeline.presence.scoring import TrackIdentity
from pipeline.presence.small_faces import SmallFaces

VALID = "valid"
INVALID_NO_FACE = "invalid_no_face"
INVALID_OTHER_PERSON = "invalid_other_person"
NEEDS_REVIEW = "needs_review"
NOT_CHECKED = "not_checked"


@dataclass(frozen=True)
class JudgedTrack:
    id: int
    start: float
    end: float  # last sample + one sample interval
    samples: int
    face_px: float
    identity: TrackIdentity
    stillness: Stillness
    static: bool  # never moves or changes: a still picture
    flatness: Flatness | None = None
    flat: bool = False  # moves only as a flat picture does: a photo or screen held up

    @property
    def label(self) -> str:
        return self.identity.identity

    @property
    def picture(self) -> bool:
        """A picture of a face rather than a person (either spoof signal)."""
        return self.static or self.flat


@dataclass
class Decision:
    verdict: str
    teacher_seconds: float = 0.0
    segments: list[dict] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    reasons_zh: list[str] = field(default_factory=list)

    def say(self, en: str, zh: str) -> None:
        self.reasons.append(en)
        self.reasons_zh.append(zh)


def not_checked(teacher_id: str | None) -> Decision:
    """The verdict when there is no enrolled teacher to look for."""
    d = Decision(NOT_CHECKED)
    if not teacher_id:
        d.say(
            "No teacher was named for this video, so presence was not checked.",
            "未指定教师，未进行本人出镜核验。",
        )
    else:
        d.say(
            f"Teacher {teacher_id} has no enrolled face photos, so presence was not checked.",
            f"教师 {teacher_id} 尚未登记人脸照片，未进行本人出镜核验。",
        )
    return d


def decide(
    tracks: list[JudgedTrack], duration_s: float, policy: PresencePolicy, small: SmallFaces | None = None
) -> Decision:
    """Apply the policy: the teacher confirmed long enough on live tracks (not pictures) is valid;
    doubt that could change the outcome goes to review; only confident answers are invalid. With no
    track, faces too small to track (``small``) send the video to review rather than invalid."""
    required = policy.required_seconds(duration_s)
    live = [t for t in tracks if not t.picture]
    teacher = [t for t in live if t.label == "teacher"]
    unsure = [t for t in live if t.label in ("uncertain", "too_small")]
    others = [t for t in live if t.label in ("other", "colleague")]
    colleagues = [t for t in live if t.label == "colleague"]
    still_teacher = [t for t in tracks if t.picture and t.label in ("teacher", "uncertain", "too_small")]
    still_others = [t for t in tracks if t.picture and t.label in ("other", "colleague")]

    segments = _merge(teacher)
    teacher_s = sum(s["end"] - s["start"] for s in segments)
    d = Decision(NEEDS_REVIEW, round(teacher_s, 2), segments)
    pct = 100 * teacher_s / duration_s if duration_s > 0 else 0.0

    if not tracks:
        if small is not None and small.with_faces >= policy.small_face_min_frames:
            d.say(
                f"Faces too small to identify (about {small.face_px:.0f} px wide) were seen in "
                f"{small.with_faces} of {small.frames} frames sampled over the video: a reviewer must "
                "check whether the teacher is among them.",
                f"在均匀抽取的 {small.frames} 帧中有 {small.with_faces} 帧出现了过小而无法识别的人脸"
                f"（约 {small.face_px:.0f} 像素宽），需人工核查其中是否有教师本人。",
            )
            return d
        d.verdict = INVALID_NO_FACE
        d.say("No face was found in the video.", "视频中未检测到人脸。")
        return d
    if teacher_s >= required:
        d.verdict = VALID
        d.say(
            f"The teacher's face is confirmed for {_n(teacher_s)} s ({pct:.0f}% of the video); "
            f"{_n(required)} s are required.",
            f"教师本人面部确认出镜 {_n(teacher_s)} 秒（占视频 {pct:.0f}%），要求至少 {_n(required)} 秒。",
        )
    elif teacher_s > 0:
        d.say(
            f"The teacher's face is confirmed for only {_n(teacher_s)} s ({pct:.0f}% of the video); "
            f"{_n(required)} s are required.",
            f"教师本人面部仅确认出镜 {_n(teacher_s)} 秒（占视频 {pct:.0f}%），要求至少 {_n(required)} 秒。",
        )
    else:
        d.say("The teacher's face is not confirmed anywhere in the video.", "视频中未能确认教师本人出镜。")

    for t in still_teacher:
        if t.flat:
            d.say(
                f"A face that may be the teacher's moves for {_n(t.end - t.start)} s "
                f"(from {_clock(t.start)}) only as a flat picture does: it looks like a photo or screen "
                "held up to the camera, which is not evidence by itself.",
                f"一张可能是教师本人的人脸在 {_clock(t.start)} 起的 {_n(t.end - t.start)} 秒内"
                "虽有移动，但始终像平面图像一样变化，疑似手持照片或屏幕，不能单独作为出镜证据。",
            )
            continue
        d.say(
            f"A face that may be the teacher's never moves or changes for {_n(t.end - t.start)} s "
            f"(from {_clock(t.start)}): it looks like a still picture, which is not evidence by itself.",
            f"一张可能是教师本人的人脸在 {_clock(t.start)} 起的 {_n(t.end - t.start)} 秒内"
            "完全不动、没有变化，疑似静态照片，不能单独作为出镜证据。",
        )
    unsure_s = _seconds(unsure)
    if unsure_s > 0:
        small_s = _seconds([t for t in unsure if t.label == "too_small"])
        d.say(
            f"Faces seen for {_n(unsure_s)} s could not be judged ({_n(small_s)} s too small, the rest at a "
            f"distance between {policy.match_threshold} and {policy.uncertain_threshold} from the teacher).",
            f"有 {_n(unsure_s)} 秒的人脸无法判定（其中 {_n(small_s)} 秒人脸过小，其余与教师的距离在 "
            f"{policy.match_threshold} 至 {policy.uncertain_threshold} 之间）。",
        )
    if colleagues:
        ids = sorted({t.identity.colleague_id for t in colleagues if t.identity.colleague_id})
        d.say(
            f"For {_n(_seconds(colleagues))} s the face matches another teacher enrolled at the same school "
            f"({', '.join(ids)}), not the claimed teacher.",
            f"有 {_n(_seconds(colleagues))} 秒的人脸与同校另一位已登记教师（{'、'.join(ids)}）相符，"
            "而非申报教师本人。",
        )
    strangers = [t for t in others if t.label == "other"]
    if strangers:
        d.say(
            f"Faces of other people appear for {_n(_seconds(strangers))} s.",
            f"其他人的面孔出现了 {_n(_seconds(strangers))} 秒。",
        )
    if still_others:
        d.say(
            f"{len(still_others)} still picture(s) of other faces (for example on slides) "
            "were not counted as people.",
            f"有 {len(still_others)} 处他人的静态人脸图片（例如幻灯片上的照片）未计为出镜人员。",
        )
    if d.verdict == VALID:
        return d

    if teacher_s > 0 or still_teacher or _seconds(teacher + unsure) >= required:
        d.verdict = NEEDS_REVIEW
        d.say(
            "A reviewer should check whether the teacher appears in person.",
            "请审核人员确认教师本人是否出镜。",
        )
    elif others:
        d.verdict = INVALID_OTHER_PERSON
        d.say("None of the faces is the teacher's.", "视频中的人脸均不是教师本人。")
    elif unsure:
        d.verdict = NEEDS_REVIEW
        d.say("Only brief faces that cannot be judged were found.", "仅发现短暂且无法判定的人脸。")
    else:
        d.verdict = INVALID_NO_FACE
        d.say("No live face was found, only still pictures.", "未发现真人出镜，仅有静态人脸图片。")
    return d


def _merge(tracks: list[JudgedTrack]) -> list[dict]:
    """Teacher segments: overlapping or touching track spans joined; distance = the best track's."""
    out: list[dict] = []
    for t in sorted(tracks, key=lambda t: t.start):
        dist = round(t.identity.distance, 3) if t.identity.distance is not None else None
        if out and t.start <= out[-1]["end"] + 1e-6:
            out[-1]["end"] = max(out[-1]["end"], round(t.end, 2))
            if dist is not None:
                held = out[-1]["distance"]
                out[-1]["distance"] = dist if held is None else min(held, dist)
        else:
            out.append({"start": round(t.start, 2), "end": round(t.end, 2), "distance": dist})
    return out


def _seconds(tracks: list[JudgedTrack]) -> float:
    return sum(s["end"] - s["start"] for s in _merge(tracks))


def _n(seconds: float) -> str:
    """Seconds for a sentence: whole numbers, one decimal below 10 s when it matters (2.5)."""
    if seconds < 10 and abs(seconds - round(seconds)) >= 0.05:
        return f"{seconds:.1f}"
    return f"{seconds:.0f}"


def _clock(t: float) -> str:
    m, s = divmod(int(t), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
