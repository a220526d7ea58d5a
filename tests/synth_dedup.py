"""Generated lessons and their transformed copies for the duplicate-detection tests.

A lesson is a classroom (``room`` seed: walls, blackboard, desks, a projector screen) or a screencast,
slides drawn from a template (``template`` seed: colours, header, footer, logo) with their own content
(``seed``: titles, bullets, diagrams, slide timing), a moving teacher figure and distinct speech from
``espeak-ng``. Copies are made with ffmpeg the way people make them: re-encode, trim, crop, watermark,
mirror, speed change, colour changes, bars, picture-in-picture, filming the screen, splicing.
"""

from __future__ import annotations

import random
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

W, H, FPS = 640, 360, 10

WORDS = (
    "water cycle energy plant cell light river mountain number fraction angle triangle circle square "
    "history poem music rhythm colour shadow magnet force motion speed time clock season weather "
    "cloud rain snow wind ocean island forest animal insect bird fish root leaf flower seed fruit "
    "sugar salt metal stone sand glass paper wood heat cold sound echo mirror lens planet moon star "
    "orbit gravity volume area length weight measure graph table chart map city village road bridge "
    "story letter word sentence question answer reason example pattern rule method result change "
    "growth balance signal machine wheel lever pulley spring battery circuit switch current"
).split()


@dataclass(frozen=True)
class LessonSpec:
    """What a generated lesson shows and says; equal specs give identical files."""

    seed: int  # slide content, timing, teacher motion, speech
    room: int = 0  # classroom background
    template: int = 0  # slide template
    duration: float = 24.0
    screencast: bool = False  # slides full frame with a webcam inset instead of a classroom camera
    voice: str = "en"


def _rng(*parts: int) -> np.random.Generator:
    return np.random.default_rng([abs(p) for p in parts])


def _sentences(seed: int, n_words: int) -> str:
    r = random.Random(seed)
    out, count = [], 0
    while count < n_words:
        k = r.randint(5, 11)
        out.append(" ".join(r.choice(WORDS) for _ in range(k)).capitalize() + ".")
        count += k
    return " ".join(out)


def _classroom(room: int) -> np.ndarray:
    r = _rng(room, 11)
    img = np.zeros((H, W, 3), np.uint8)
    wall = r.integers(120, 220, 3)
    for y in range(H):
        img[y] = np.clip(wall * (0.85 + 0.25 * y / H), 0, 255)
    floor_y = int(H * r.uniform(0.68, 0.78))
    img[floor_y:] = r.integers(60, 140, 3)
    bx = int(r.integers(10, 60))
    cv2.rectangle(img, (bx, 40), (bx + 170, 190), (40, 80, 40), -1)
    cv2.rectangle(img, (bx, 40), (bx + 170, 190), (90, 70, 50), 4)
    for _ in range(int(r.integers(1, 3))):
        wx = int(r.integers(250, 560))
        cv2.rectangle(img, (wx, 10), (wx + 60, 30), (230, 200, 170), -1)
    for row in range(2):
        y = floor_y + 20 + row * 35
        for x in range(int(r.integers(0, 40)), W, int(r.integers(90, 130))):
            cv2.rectangle(img, (x, y), (x + 70, y + 14), (40, 70, 110), -1)
    noise = cv2.GaussianBlur(r.normal(0, 10, (H, W, 1)).astype(np.float32), (0, 0), 3)
    return np.clip(img + noise[..., None], 0, 255).astype(np.uint8)


def _slide(spec: LessonSpec, index: int, size: tuple[int, int]) -> np.ndarray:
    sw, sh = size
    t = _rng(spec.template, 7)
    bg = t.integers(215, 255, 3)
    header = t.integers(20, 200, 3)
    img = np.empty((sh, sw, 3), np.uint8)
    img[:] = bg
    hh = sh // 7
    img[:hh] = header
    cv2.rectangle(img, (0, sh - sh // 14), (sw, sh), tuple(int(c) for c in header // 2), -1)
    cv2.circle(img, (sw - hh, hh // 2), hh // 3, (255, 255, 255), -1)
    cv2.putText(img, "SCHOOL", (6, sh - 4), cv2.FONT_HERSHEY_PLAIN, sh / 420, (255, 255, 255), 1)
    r = random.Random(spec.seed * 1000 + index)
    c = _rng(spec.seed, index)
    scale = sh / 360
    title = " ".join(r.choice(WORDS) for _ in range(r.randint(2, 4))).title()
    cv2.putText(img, title, (8, int(hh * 0.75)), cv2.FONT_HERSHEY_SIMPLEX, 0.9 * scale, (255, 255, 255), 2)
    for b in range(r.randint(2, 5)):
        y = hh + int((30 + 34 * b) * scale)
        text = "- " + " ".join(r.choice(WORDS) for _ in range(r.randint(2, 4)))
        cv2.putText(img, text, (10, y), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (30, 30, 30), 2)
    ox, oy, dw, dh = sw // 2 + 10, hh + 10, sw // 2 - 20, sh - hh - sh // 14 - 20
    kind = r.randint(0, 2)
    if kind == 0:  # bar chart
        n = r.randint(3, 7)
        for i in range(n):
            bh = int(dh * r.uniform(0.15, 0.95))
            x0 = ox + i * dw // n
            colour = tuple(int(v) for v in c.integers(0, 200, 3))
            cv2.rectangle(img, (x0 + 2, oy + dh - bh), (x0 + dw // n - 2, oy + dh), colour, -1)
    elif kind == 1:  # shapes
        for _ in range(r.randint(2, 5)):
            colour = tuple(int(v) for v in c.integers(0, 220, 3))
            cx, cy = ox + r.randint(0, dw), oy + r.randint(0, dh)
            rad = r.randint(dh // 8, dh // 3)
            if r.random() < 0.5:
                cv2.circle(img, (cx, cy), rad, colour, -1)
            else:
                cv2.rectangle(img, (cx - rad, cy - rad // 2), (cx + rad, cy + rad), colour, -1)
    else:  # line plot
        xs = np.linspace(ox, ox + dw, 24)
        ys = oy + dh / 2 + np.cumsum(c.normal(0, dh / 10, 24))
        pts = np.stack([xs, np.clip(ys, oy, oy + dh)], 1).astype(np.int32)
        cv2.polylines(img, [pts], False, tuple(int(v) for v in c.integers(0, 200, 3)), 3)
    return img


def _slide_times(spec: LessonSpec) -> list[float]:
    r = random.Random(spec.seed + 99)
    times, t = [], 0.0
    while t < spec.duration:
        times.append(t)
        t += r.uniform(3.0, 7.0)
    return times


def _teacher(img: np.ndarray, spec: LessonSpec, t: float, box: tuple[int, int, int, int]) -> None:
    x0, y0, bw, bh = box
    m = _rng(spec.seed, 5)
    phase, speed, drift = m.uniform(0, 6.28), m.uniform(0.3, 0.9), m.uniform(-0.3, 0.3)
    cloth = tuple(int(v) for v in m.integers(0, 255, 3))
    u = 0.5 + 0.35 * np.sin(speed * t + phase) + 0.1 * np.sin(drift * t * 2.3)
    cx, base = int(x0 + bw * u), y0 + bh
    s = bh / 200
    cv2.ellipse(img, (cx, base - int(55 * s)), (int(28 * s), int(60 * s)), 0, 0, 360, cloth, -1)
    cv2.circle(img, (cx, base - int(130 * s)), int(20 * s), (150, 180, 220), -1)
    a = 0.8 * np.sin(1.7 * t + phase)
    hand = (cx + int(60 * s * np.cos(a)), base - int(90 * s) - int(40 * s * np.sin(a)))
    cv2.line(img, (cx, base - int(95 * s)), hand, cloth, max(2, int(8 * s)))


def _render(spec: LessonSpec, i: int, room: np.ndarray, slides: list[np.ndarray], times: list[float]):
    t = i / FPS
    k = max(j for j, s in enumerate(times) if s <= t)
    if spec.screencast:
        img = slides[k].copy()
        inset = img[H - 110 : H - 10, W - 140 : W - 10]
        inset[:] = (90, 110, 100)
        _teacher(inset, spec, t, (0, 0, 130, 95))
        p = _rng(spec.seed, 3).uniform(0, 6.28, 2)
        cur = (int(W * (0.5 + 0.4 * np.sin(0.7 * t + p[0]))), int(H * (0.5 + 0.35 * np.sin(0.5 * t + p[1]))))
        cv2.circle(img, cur, 6, (0, 0, 255), -1)
        return img
    img = room.copy()
    img[30:230, 250:605] = slides[k]
    cv2.rectangle(img, (248, 28), (606, 231), (60, 60, 60), 2)
    _teacher(img, spec, t, (170, 150, 400, 190))
    return img


def _speech(spec: LessonSpec, wav: Path) -> None:
    text = _sentences(spec.seed, int(spec.duration * 3.2))
    rate = 140 + spec.seed % 30
    subprocess.run(["espeak-ng", "-v", spec.voice, "-s", str(rate), "-w", str(wav), text], check=True)
    with wave.open(str(wav)) as w:
        assert w.getnframes() / w.getframerate() >= spec.duration * 0.8, "speech too short"


def make_lesson(spec: LessonSpec, path: Path) -> Path:
    """Render ``spec`` to an H.264/AAC mp4 at 640x360, 10 fps."""
    room = _classroom(spec.room)
    times = _slide_times(spec)
    size = (W, H) if spec.screencast else (355, 200)
    slides = [_slide(spec, j, size) for j in range(len(times))]
    wav = path.with_suffix(".speech.wav")
    _speech(spec, wav)
    n = int(spec.duration * FPS)
    cmd = [
        *f"ffmpeg -v error -y -f rawvideo -pix_fmt bgr24 -s {W}x{H} -r {FPS} -i - -i".split(),
        str(wav),
        *f"-map 0:v -map 1:a -af apad,atrim=0:{spec.duration} -c:v libx264 -preset ultrafast -crf 24".split(),
        *f"-pix_fmt yuv420p -g 50 -c:a aac -b:a 48k -ac 1 -ar 16000 -t {spec.duration}".split(),
        str(path),
    ]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    for i in range(n):
        proc.stdin.write(_render(spec, i, room, slides, times).tobytes())
    proc.stdin.close()
    assert proc.wait() == 0, f"ffmpeg failed for {path}"
    wav.unlink()
    return path


def make_still_lesson(spec: LessonSpec, speech_seed: int, path: Path) -> Path:
    """A lesson that never changes (one slide, nobody moving) with the speech of ``speech_seed``."""
    frame = _render(spec, 0, _classroom(spec.room), [_slide(spec, 0, (355, 200))], [0.0])
    png, wav = path.with_suffix(".still.png"), path.with_suffix(".speech.wav")
    cv2.imwrite(str(png), frame)
    _speech(LessonSpec(seed=speech_seed, duration=spec.duration), wav)
    loop = f"-loop 1 -framerate {FPS} -i".split()
    audio = ["-i", str(wav), "-af", f"apad,atrim=0:{spec.duration}"]
    _ffmpeg([*loop, str(png), *audio, *ENC, "-t", str(spec.duration), str(path)])
    png.unlink()
    wav.unlink()
    return path


def make_logo(path: Path) -> Path:
    """A semi-transparent PNG watermark: a coloured badge with text."""
    img = np.zeros((70, 200, 4), np.uint8)
    cv2.rectangle(img, (0, 0), (199, 69), (30, 120, 230, 170), -1)
    cv2.circle(img, (35, 35), 26, (255, 255, 255, 230), -1)
    cv2.putText(img, "EDU TV", (68, 46), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255, 255), 2)
    cv2.imwrite(str(path), img)
    return path


SEPIA = "colorchannelmixer=.393:.769:.189:0:.349:.686:.168:0:.272:.534:.131"
SCREEN_VIDEO = (
    "scale=576:324,pad=640:360:32:18:color=0x303030,"
    "perspective=x0=30:y0=30:x1=600:y1=8:x2=45:y2=345:x3=625:y3=352:sense=destination,"
    "gblur=sigma=1.3,noise=alls=14:allf=t,eq=gamma=1.25:contrast=0.9:brightness=0.03"
)
SCREEN_AUDIO = (
    "[0:a]highpass=f=250,lowpass=f=3200,aecho=0.8:0.6:35|70:0.35|0.2,volume=0.8[a0];"
    "anoisesrc=color=pink:amplitude=0.04:sample_rate=16000:seed=3[n];"
    "[a0][n]amix=inputs=2:duration=first:normalize=0[a]"
)

# name -> (video filter, audio filter); None keeps the stream as it is (re-encoded).
SIMPLE = {
    "reencode": ("scale=426:240", None),
    "crop": ("crop=iw*0.85:ih*0.85:iw*0.10:ih*0.05,scale=640:360", None),
    "hflip": ("hflip", None),
    "faster": ("setpts=PTS/1.1", "atempo=1.1"),
    "slower": ("setpts=PTS/0.9", "atempo=0.9"),
    "gray": ("hue=s=0", None),
    "sepia": (SEPIA, None),
    "letterbox": ("scale=640:270,pad=640:360:0:45", None),
    "pillarbox": ("scale=480:360,pad=640:360:80:0:color=white", None),
    "portrait": ("scale=640:360,pad=640:1138:0:389,scale=360:640", None),
}


def _ffmpeg(args: list[str]) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


ENC = "-c:v libx264 -preset ultrafast -crf 26 -pix_fmt yuv420p -c:a aac -b:a 48k -ac 1".split()


def concat(parts: list[tuple[Path, float, float]], dst: Path) -> Path:
    """Join (file, start s, end s) pieces into one 640x360 lesson."""
    args, chains, labels = [], [], []
    for k, (path, a, b) in enumerate(parts):
        args += ["-i", str(path)]
        chains.append(
            f"[{k}:v]trim={a}:{b},setpts=PTS-STARTPTS,scale={W}:{H},setsar=1,fps={FPS}[v{k}];"
            f"[{k}:a]atrim={a}:{b},asetpts=PTS-STARTPTS,aresample=16000[a{k}]"
        )
        labels.append(f"[v{k}][a{k}]")
    fc = ";".join(chains) + ";" + "".join(labels) + f"concat=n={len(parts)}:v=1:a=1[v][a]"
    _ffmpeg([*args, "-filter_complex", fc, "-map", "[v]", "-map", "[a]", *ENC, str(dst)])
    return dst


def transform(
    src: Path, dst: Path, name: str, *, other: Path | None = None, logo: Path | None = None
) -> Path:
    """Make the copy ``name`` of ``src`` (``other``: second lesson for splices; ``logo``: watermark)."""
    if name in SIMPLE:
        vf, af = SIMPLE[name]
        _ffmpeg(["-i", str(src), "-vf", vf, *(["-af", af] if af else []), *ENC, str(dst)])
    elif name == "trim":
        _ffmpeg(["-ss", "5", "-i", str(src), "-t", "15", *ENC, str(dst)])
    elif name == "watermark":
        assert logo is not None
        fc = "[1:v]scale=240:-1[l];[0:v][l]overlay=W-w-12:12"
        _ffmpeg(["-i", str(src), "-i", str(logo), "-filter_complex", fc, *ENC, str(dst)])
    elif name == "pip":  # the lesson at 75% over a moving, unrelated background, top-left quadrant
        fc = "[1:v]scale=480:270[p];[0:v][p]overlay=24:20:shortest=1"
        bg = "life=s=640x360:r=10:ratio=0.2:mold=5:life_color=#30a050:death_color=#402020"
        inputs = ["-f", "lavfi", "-i", bg, "-i", str(src)]
        _ffmpeg([*inputs, "-filter_complex", fc, "-map", "1:a", *ENC, "-shortest", str(dst)])
    elif name == "screen":
        audio = ["-filter_complex", SCREEN_AUDIO, "-map", "0:v", "-map", "[a]"]
        _ffmpeg(["-i", str(src), "-vf", SCREEN_VIDEO, *audio, *ENC, str(dst)])
    elif name == "splice":  # 0-12 s of src, then 10-22 s of other
        assert other is not None
        concat([(src, 0, 12), (other, 10, 22)], dst)
    elif name == "mute":
        _ffmpeg(["-i", str(src), "-an", *ENC[:8], str(dst)])
    elif name == "redub":  # same pictures, someone else's speech
        assert other is not None
        _ffmpeg(["-i", str(src), "-i", str(other), "-map", "0:v", "-map", "1:a", *ENC, str(dst)])
    else:
        raise ValueError(f"unknown transform {name!r}")
    return dst
