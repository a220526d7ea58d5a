"""A 3-minute 1080p30 lesson made the way phones record (H.264 High, 1 s GOP, 10 Mbps, AAC), built
with ffmpeg from the shared real clips and cached under the system temp directory (never committed).

Shots: the teacher (real talking-head clip ``s32``, looped) for 70 s, classroom footage with hard
cuts (``testvideo``) for 40 s, another person (``s18``) for 70 s. Sensor noise keeps the bitrate at
what a phone spends. The teacher is enrolled from a frame of ``s32`` itself (``enrolment_frame``).
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TEACHER_CLIP = DATA / "faces" / "real" / "s32.mp4"
OTHER_CLIP = DATA / "faces" / "real" / "s18.mp4"
SCENES_CLIP = DATA / "clips" / "testvideo.mp4"
SHOTS = ((TEACHER_CLIP, 70), (SCENES_CLIP, 40), (OTHER_CLIP, 70))
# Each clip plays slowed by this much, so its loops (6-10 s) fall on other frames at each 1 s sample
# than the loop before: a loop repeating the same frames would look like a flat picture.
LOOP_SPEED = 0.87
TEACHER_SECONDS = 70
CACHE = Path(tempfile.gettempdir()) / "evidence-bench-media"


def _encode_args(gop_s: float, bitrate: str, bframes: int) -> list[str]:
    gop = round(30 * gop_s)
    return [
        *("-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-pix_fmt", "yuv420p"),
        *("-b:v", bitrate, "-maxrate", bitrate, "-bufsize", "20M"),
        *("-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0", "-bf", str(bframes)),
        *("-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2", "-movflags", "+faststart"),
    ]


def phone_lesson(seconds_scale: float = 1.0, gop_s: float = 1.0, bframes: int = 0) -> Path:
    """The lesson (cached); ``seconds_scale`` shortens every shot (quick runs)."""
    shots = [(clip, max(2, round(s * seconds_scale))) for clip, s in SHOTS]
    key = hashlib.sha256(repr((shots, gop_s, bframes, LOOP_SPEED, 3)).encode()).hexdigest()[:12]
    out = CACHE / f"phone_lesson_{key}.mp4"
    if out.exists():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    inputs: list[str] = []
    graph = []
    for n, (clip, secs) in enumerate(shots):
        inputs += ["-stream_loop", "-1", "-t", str(secs * LOOP_SPEED + 1), "-i", str(clip)]
        graph.append(
            f"[{n}:v]setpts=PTS/{LOOP_SPEED},scale=1920:1080:force_original_aspect_ratio=increase,crop=1920:1080,"
            f"fps=30,setsar=1,format=yuv420p,trim=duration={secs},setpts=PTS-STARTPTS[v{n}]"
        )
    total = sum(s for _, s in shots)
    concat = "".join(f"[v{n}]" for n in range(len(shots)))
    graph.append(f"{concat}concat=n={len(shots)}:v=1:a=0,noise=alls=5:allf=t[v]")
    graph.append(
        f"sine=f=220:d={total}:sample_rate=48000,volume=0.3[s];anoisesrc=d={total}:a=0.03[n];"
        "[s][n]amix=inputs=2[a]"
    )
    tmp = out.with_suffix(".part.mp4")
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", *inputs, "-filter_complex", ";".join(graph),
         "-map", "[v]", "-map", "[a]", "-t", str(total), *_encode_args(gop_s, "10M", bframes), str(tmp)],
        check=True,
    )  # fmt: skip
    tmp.rename(out)
    return out


def enrolment_frame(dst: Path) -> Path:
    """A frame of the teacher clip near its end, as an enrolment photo."""
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-ss", "5.5", "-i", str(TEACHER_CLIP),
         "-frames:v", "1", str(dst)],
        check=True,
    )  # fmt: skip
    return dst


if __name__ == "__main__":
    print(phone_lesson())
