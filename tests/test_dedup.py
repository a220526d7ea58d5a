"""Duplicate detection, end to end through the real decode: generated lessons with distinct speech and
their copies (tests/synth_dedup.py), hard negatives filmed in the same classroom with the same slide
template, an allowlisted courseware intro, and the public ThreatExchange anchor set."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from core import duplicate_reasons
from pipeline.analysis.analyser import FinishContext
from pipeline.analysis.host import AnalyserHost
from pipeline.dedup import (
    AudioFingerprint,
    AudioFingerprinter,
    CodecError,
    DedupIndex,
    Fingerprint,
    Signature,
    VisualFingerprint,
    VisualFingerprinter,
    decode_fingerprint,
    encode_fingerprint,
    find_duplicates,
    merge,
    verify,
)
from pipeline.dedup.audio import RATE, fingerprint_samples
from pipeline.dedup.frames import SLICES
from pipeline.dedup.index import LONG_QUERY_RUNS
from pipeline.dedup.pdq import content_box, hamming, pdq
from pipeline.frames import Frame
from pipeline.limits import MediaLimits
from pipeline.media_pass import process_media
from tests.synth_dedup import LessonSpec, concat, make_lesson, make_logo, make_still_lesson, transform

THREATEXCHANGE = Path(__file__).resolve().parents[2] / "shared/data/dedup/threatexchange"
VPDQ_FOUND = 22  # of 62 in-family ordered pairs, Meta's vPDQ defaults (data README)

LESSONS = {
    "A": LessonSpec(seed=1, room=1, template=1),
    "B": LessonSpec(seed=2, room=2, template=2, screencast=True, voice="en-us"),
    "C": LessonSpec(seed=3, room=1, template=1),  # A's classroom and slide template
    "E": LessonSpec(seed=5, room=1, template=1),  # ... again
    "G": LessonSpec(seed=7, room=2, template=2, screencast=True),  # B's slide template
    "D": LessonSpec(seed=4, room=4, template=4, duration=20),  # unrelated
    "X": LessonSpec(seed=9, room=3, template=3, screencast=True, duration=10),  # shared courseware
}
# copy of A -> (expected kinds, speed)
COPIES = {
    "reencode": ({"near"}, 1.0),
    "trim": ({"partial"}, 1.0),
    "crop": ({"near"}, 1.0),
    "watermark": ({"near"}, 1.0),
    "hflip": ({"near"}, 1.0),
    "faster": ({"near"}, 1.1),
    "slower": ({"near"}, 0.9),
    "gray": ({"near"}, 1.0),
    "sepia": ({"near"}, 1.0),
    "letterbox": ({"near"}, 1.0),
    "pillarbox": ({"near"}, 1.0),
    "portrait": ({"near"}, 1.0),
    "pip": ({"near"}, 1.0),
    "screen": ({"near"}, 1.0),
    "mute": ({"near"}, 1.0),
}
SAME_SETTING = [("A", "C"), ("A", "E"), ("C", "E"), ("B", "G")]
UNRELATED = [("A", "D"), ("B", "D"), ("A", "B"), ("C", "G")]


def fingerprint_file(path: Path, workdir: Path, fps: float = 1.0) -> Fingerprint:
    """Fingerprints from the one decode (process_media) with both dedup analysers."""
    visual, audio = VisualFingerprinter(), AudioFingerprinter()
    out = process_media(path, workdir, MediaLimits(analysis_fps=fps), AnalyserHost([visual, audio]))
    vdata = out.outputs[visual.stage].data
    keyframes = vdata["keyframes"].read_bytes() if "keyframes" in vdata else None
    return Fingerprint.from_stage_data(vdata, out.outputs[audio.stage].data, keyframes)


@pytest.fixture(scope="session")
def dedup_media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("dedup_media")
    media = {name: make_lesson(spec, root / f"{name}.mp4") for name, spec in LESSONS.items()}
    logo = make_logo(root / "logo.png")
    for name in COPIES:
        media[f"A_{name}"] = transform(media["A"], root / f"A_{name}.mp4", name, logo=logo)
    media["A_splice"] = transform(media["A"], root / "A_splice.mp4", "splice", other=media["B"])
    media["A_redub"] = transform(media["A"], root / "A_redub.mp4", "redub", other=media["B"])
    # two lessons opening with the same courseware clip, then their own teaching
    media["P"] = concat([(media["X"], 0, 10), (media["D"], 0, 14)], root / "P.mp4")
    media["Q"] = concat([(media["X"], 0, 10), (media["E"], 0, 14)], root / "Q.mp4")
    # a lesson that never changes, its re-encoded copy, and another talk over the same still picture
    still = LessonSpec(seed=20, room=5, template=5, duration=20)
    media["S"] = make_still_lesson(still, 21, root / "S.mp4")
    media["S2"] = make_still_lesson(still, 22, root / "S2.mp4")
    media["S_copy"] = transform(media["S"], root / "S_copy.mp4", "reencode")
    return media


@pytest.fixture(scope="session")
def dedup_fps(
    dedup_media: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Fingerprint]:
    return {
        name: fingerprint_file(p, tmp_path_factory.mktemp(f"job_{name}")) for name, p in dedup_media.items()
    }


# -- visual fingerprint -------------------------------------------------------------------------------


def _picture(w: int = 320, h: int = 180, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (0, 0), 1)
    cv2.rectangle(img, (w // 5, h // 4), (w // 2, h * 3 // 4), (20, 200, 40), -1)
    return img


def test_content_box_strips_bars_of_any_colour_and_keeps_content() -> None:
    pic = _picture()
    boxed = cv2.copyMakeBorder(pic, 30, 30, 0, 0, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    boxed = cv2.copyMakeBorder(boxed, 0, 0, 40, 40, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    cv2.putText(boxed, "caption", (150, 22), cv2.FONT_HERSHEY_PLAIN, 1, (255, 255, 255), 1)  # text in a bar
    gray = cv2.cvtColor(boxed, cv2.COLOR_BGR2GRAY)
    assert content_box(gray) == (40, 30, 360, 210)
    assert content_box(cv2.cvtColor(pic, cv2.COLOR_BGR2GRAY)) == (0, 0, 320, 180)
    h_plain, _, _ = pdq(pic)
    h_boxed, _, _ = pdq(boxed[30:210, 40:360])
    assert hamming(h_plain[None], h_boxed[None])[0, 0] == 0


def _feed(frames: list[np.ndarray], step: float = 1.0) -> VisualFingerprint:
    fingerprinter = VisualFingerprinter()
    for i, img in enumerate(frames):
        fingerprinter.process(Frame(index=i, t=i * step, image=img))
    return fingerprinter.fingerprint()


def test_visual_runs_mirror_quality_and_dynamic_hash() -> None:
    pic, other = _picture(seed=1), _picture(seed=2)
    black = np.zeros_like(pic)
    fp = _feed([pic] * 5 + [black] * 3 + [other] * 4 + [cv2.flip(pic, 1)] * 2, step=0.5)
    assert fp.step == 0.5  # inferred from the frame times
    assert fp.samples == 14 and fp.hashed == 11  # black frames dropped
    assert len(fp) == 3  # runs: pic, other, mirrored pic
    assert list(fp.starts) == [0.0, 4.0, 6.0] and list(fp.ends) == [2.0, 5.5, 6.5]
    assert hamming(fp.mirrors[:1], fp.hashes[2:3])[0, 0] <= 4  # mirror hash = hash of the flipped frame
    assert fp.dynamic is not None and fp.dynamic.shape == fp.hashes.shape
    assert len(fp.thumbs) == len(fp.thumb_times) >= 2
    blank = _feed([black] * 4)
    assert len(blank) == 0 and blank.hashed == 0


def test_fingerprints_round_trip_through_stage_data(dedup_fps: dict[str, Fingerprint]) -> None:
    fp = dedup_fps["A"]
    vdata, adata = fp.visual.to_data(), fp.audio.to_data()
    json.dumps(vdata), json.dumps(adata)  # stored as JSON by the worker
    back = Fingerprint.from_stage_data(vdata, adata, fp.visual.thumbs_to_bytes())
    assert np.array_equal(back.visual.hashes, fp.visual.hashes)
    assert np.array_equal(back.visual.dynamic, fp.visual.dynamic)
    assert np.allclose(back.visual.starts, fp.visual.starts) and back.visual.step == fp.visual.step
    assert np.array_equal(back.audio.hashes, fp.audio.hashes) and np.allclose(
        back.audio.times, fp.audio.times
    )
    assert (
        len(back.visual.thumbs) == len(fp.visual.thumbs)
        and back.visual.thumbs[0].shape == fp.visual.thumbs[0].shape
    )
    assert verify(back, fp) is not None


def test_binary_fingerprint_and_signature_round_trip(dedup_fps: dict[str, Fingerprint]) -> None:
    fp = dedup_fps["A"]
    blob = encode_fingerprint(fp)
    back = decode_fingerprint(blob, fp.visual.thumbs_to_bytes())
    for name in ("starts", "ends", "hashes", "mirrors", "quality", "dynamic", "dynamic_mirrors"):
        assert np.array_equal(getattr(back.visual, name), getattr(fp.visual, name)), name
    assert (back.visual.step, back.visual.samples, back.visual.hashed) == (
        fp.visual.step,
        fp.visual.samples,
        fp.visual.hashed,
    )
    assert np.array_equal(back.audio.hashes, fp.audio.hashes) and np.array_equal(
        back.audio.times, fp.audio.times
    )
    assert (back.audio.duration_s, back.audio.voiced_s, back.audio.has_audio) == (
        fp.audio.duration_s,
        fp.audio.voiced_s,
        fp.audio.has_audio,
    )
    assert len(back.visual.thumbs) == len(fp.visual.thumbs)
    m = verify(back, fp)
    assert m is not None and m.kind == "near"
    still = decode_fingerprint(encode_fingerprint(dedup_fps["S"]))  # no dynamic hashes
    assert still.visual.dynamic is None and len(still.visual) == len(dedup_fps["S"].visual)

    sig = Signature.of(fp)
    assert np.array_equal(sig.frames, fp.visual.hashes)  # every run of distinct frames
    assert 0.3 < len(sig.landmarks) / len(fp.audio.hashes) < 0.7  # a hash-consistent half
    raw = sig.to_bytes()
    assert len(raw) < len(blob) / 2
    again = Signature.from_bytes(raw)
    assert np.array_equal(again.frames, sig.frames) and np.array_equal(again.landmarks, sig.landmarks)

    for bad in (blob[:-3], b"EVFP\x09" + blob[5:], b"XXXX" + blob[4:], blob + b"\0", raw[:10]):
        with pytest.raises(CodecError):
            decode_fingerprint(bad) if bad[:4] != b"EVSG" else Signature.from_bytes(bad)
    with pytest.raises(CodecError):
        Signature.from_bytes(raw[:-1])


def test_generated_lesson_rates(dedup_fps: dict[str, Fingerprint]) -> None:
    fp = dedup_fps["A"]
    assert 0.1 <= len(fp.visual) / fp.duration_s <= 1.0  # runs per second (moving teacher, slides)
    assert 3 <= len(fp.audio.hashes) / fp.duration_s <= 20  # landmarks per second of speech


# -- audio fingerprint --------------------------------------------------------------------------------


def test_silent_and_missing_audio_are_flagged(tmp_path: Path) -> None:
    quiet = (np.random.default_rng(0).normal(0, 3, RATE * 10)).astype(np.int16)  # ~ -80 dBFS hiss
    assert fingerprint_samples(quiet).silent
    pcm = tmp_path / "audio.s16"
    quiet.tofile(pcm)
    ctx = FinishContext(workdir=tmp_path, duration_s=10.0, audio_path=pcm)
    data = AudioFingerprinter().finish(ctx).data
    assert data["silent"] and data["has_audio"] and data["landmarks_count"] == 0
    none = AudioFingerprinter().finish(FinishContext(workdir=tmp_path, duration_s=10.0, audio_path=None)).data
    assert none["silent"] and not none["has_audio"]
    assert AudioFingerprint.from_data(none).silent


def test_audio_survives_rerecording_and_tempo(dedup_fps: dict[str, Fingerprint]) -> None:
    a = dedup_fps["A"].audio
    assert not a.silent and a.voiced_s > 15
    for name, speed in (
        ("A_screen", 1.0),
        ("A_faster", 1.1),
        ("A_slower", 0.9),
    ):  # A time = speed x copy time
        m = verify(dedup_fps[name], dedup_fps["A"])
        assert m is not None and m.evidence["audio"] is not None, name
        assert m.evidence["audio"]["matched"] >= 10, name
        assert abs(m.evidence["audio"]["speed"] - speed) < 0.03, name


# -- verification: must catch -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(COPIES))
def test_catches_copy_both_ways(dedup_fps: dict[str, Fingerprint], name: str) -> None:
    kinds, speed = COPIES[name]
    copy, original = dedup_fps[f"A_{name}"], dedup_fps["A"]
    m = verify(copy, original, "A")
    assert m is not None, name
    assert m.verdict == "duplicate" and m.kind in kinds, (m.kind, m.reasons)
    assert abs(m.evidence["speed"] - speed) < 0.03
    assert json.loads(json.dumps(m.to_dict()))["segments"]  # the report stores it as JSON
    back = verify(original, copy, name)
    assert back is not None and back.verdict == "duplicate"
    if name == "hflip":
        assert m.evidence["mirrored"]
    if name == "trim":  # the copy starts 5 s into the original and lasts 15 s
        seg = max(m.segments, key=lambda s: s.length)
        assert abs(seg.match_start - seg.query_start - 5.0) <= 1.0 and m.query_coverage > 0.8
        assert 0.5 < m.match_coverage < 0.8
    if name == "mute":
        assert any("visuals alone" in r for r in m.reasons)


def test_splice_is_flagged_against_both_sources(dedup_fps: dict[str, Fingerprint]) -> None:
    splice = dedup_fps["A_splice"]  # 0-12 s of A, then 10-22 s of B
    for source, q_range, m_start in (("A", (0, 12), 0), ("B", (12, 24), 10)):
        m = verify(splice, dedup_fps[source], source)
        assert m is not None and m.verdict == "duplicate" and m.kind == "partial", source
        seg = max(m.segments, key=lambda s: s.length)
        assert abs(seg.query_start - q_range[0]) <= 2 and abs(seg.query_end - q_range[1]) <= 2, seg
        assert abs(seg.match_start - m_start) <= 2, seg
        assert 0.3 < m.query_coverage < 0.7


def test_redubbed_copy_is_a_duplicate_and_reused_audio_needs_review(
    dedup_fps: dict[str, Fingerprint],
) -> None:
    redub = dedup_fps["A_redub"]  # A's pictures, B's speech
    m = verify(redub, dedup_fps["A"])
    assert m is not None and m.verdict == "duplicate" and m.kind == "near"
    assert any("re-dubbed" in r for r in m.reasons)
    m = verify(redub, dedup_fps["B"])
    assert m is not None and m.kind == "audio_only" and m.verdict == "needs_review"


def test_static_lesson_copy_needs_its_audio(dedup_fps: dict[str, Fingerprint]) -> None:
    m = verify(dedup_fps["S_copy"], dedup_fps["S"])  # nothing changes on screen; the speech aligns
    assert m is not None and m.verdict == "duplicate" and m.evidence["method"] == "audio"
    assert verify(dedup_fps["S2"], dedup_fps["S"]) is None  # same still picture, another talk


# -- verification: must not flag ----------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b"), SAME_SETTING + UNRELATED)
def test_does_not_flag_other_lessons(dedup_fps: dict[str, Fingerprint], a: str, b: str) -> None:
    assert verify(dedup_fps[a], dedup_fps[b]) is None
    assert verify(dedup_fps[b], dedup_fps[a]) is None


# -- index and search ---------------------------------------------------------------------------------


def test_index_finds_every_copy_and_nothing_else(dedup_fps: dict[str, Fingerprint], tmp_path: Path) -> None:
    originals = ["A", "B", "C", "D", "E", "G", "S"]
    index = DedupIndex.build((n, dedup_fps[n], False) for n in originals)
    load = dedup_fps.get
    for name in [f"A_{c}" for c in COPIES] + ["A_splice", "A_redub"]:
        out = find_duplicates(dedup_fps[name], index, load)
        flagged = {m.video_id: m for m in out.matches}
        assert "A" in flagged and flagged["A"].verdict == "duplicate", name
        assert not {"C", "E", "D", "G"} & set(flagged), (name, list(flagged))
    assert {m.video_id for m in find_duplicates(dedup_fps["A_splice"], index, load).matches} >= {"A", "B"}
    for name in ["C", "E", "G"]:  # same classroom / template as an indexed lesson
        assert find_duplicates(dedup_fps[name], index, load, query_id=name).matches == [], name

    # the query's own entry is skipped; removal, incremental add and a save/load round trip
    assert find_duplicates(dedup_fps["A"], index, load, query_id="A").matches == []
    assert index.remove("A") and "A" not in index and not index.remove("A")
    assert find_duplicates(dedup_fps["A_gray"], index, load).matches == []
    index.add("A", dedup_fps["A"])  # lands in the delta, searched before any compaction
    assert [m.video_id for m in find_duplicates(dedup_fps["A_gray"], index, load).matches] == ["A"]
    index.save(tmp_path / "index.npz")
    loaded = DedupIndex.load(tmp_path / "index.npz")
    assert len(loaded) == len(index) == len(originals)
    assert [c.video_id for c in loaded.search(dedup_fps["A_sepia"]).candidates][:1] == ["A"]
    sizes = loaded.nbytes()
    assert sizes["visual"] > 0 and sizes["audio"] > 0


def _fake(hashes: np.ndarray, times: np.ndarray) -> Fingerprint:
    n = len(hashes)
    v = VisualFingerprint(times, times.copy(), hashes, hashes, np.full(n, 100, np.uint8), 1.0, n, n)
    return Fingerprint(v, AudioFingerprint.empty(float(n)))


def test_hashes_common_to_many_videos_are_down_weighted() -> None:
    rng = np.random.default_rng(0)
    shared = rng.integers(0, 256, (1, 32), dtype=np.uint8)  # e.g. the empty classroom, a black frame
    index = DedupIndex()
    for k in range(8):
        own = rng.integers(0, 256, (5, 32), dtype=np.uint8)
        index.add(f"v{k}", _fake(np.concatenate([shared, own]), np.arange(0, 18, 3, dtype=np.float32)))
    query = _fake(
        np.concatenate([shared, rng.integers(0, 256, (3, 32), dtype=np.uint8)]),
        np.arange(0, 12, 3, dtype=np.float32),
    )
    found = index.search(query)
    assert found.common[0] < 0.5 and np.all(found.common[1:] == 1.0)
    assert all(c.visual_hits < 2 for c in found.candidates)  # one common frame makes no candidate


def _lesson(rng: np.random.Generator, frames: int, landmarks: int) -> Fingerprint:
    """A synthetic fingerprint: random frame hashes (a run every 2 s) and landmarks (one every 0.2 s)."""
    t = np.arange(frames, dtype=np.float32) * 2
    hashes = rng.integers(0, 256, (frames, 32), dtype=np.uint8)
    v = VisualFingerprint(t, t + 1, hashes, rng.integers(0, 256, (frames, 32), dtype=np.uint8),
                          np.full(frames, 90, np.uint8), 1.0, 2 * frames, 2 * frames)  # fmt: skip
    times = np.arange(landmarks, dtype=np.float32) * 0.2
    audio = AudioFingerprint(
        rng.integers(0, 1 << 23, landmarks).astype(np.uint32), times, 2.0 * frames, 60.0, True
    )
    return Fingerprint(v, audio)


def _excerpt(fp: Fingerprint, rng: np.random.Generator, start: int, frames: int, bits: int) -> Fingerprint:
    """``frames`` runs of ``fp`` from run ``start``, each with ``bits`` bits flipped, and their landmarks."""
    v = fp.visual
    keep = slice(start, start + frames)
    flips = np.zeros((frames, 256), np.uint8)
    for row in flips:
        row[rng.choice(256, bits, replace=False)] = 1
    hashes = v.hashes[keep] ^ np.packbits(flips, axis=1)
    t0, t1 = v.starts[start], v.ends[start + frames - 1]
    lm = (fp.audio.times >= t0) & (fp.audio.times <= t1)
    visual = VisualFingerprint(v.starts[keep] - t0, v.ends[keep] - t0, hashes, v.mirrors[keep],
                               v.quality[keep], 1.0, 2 * frames, 2 * frames)  # fmt: skip
    audio = AudioFingerprint(fp.audio.hashes[lm], fp.audio.times[lm] - t0, float(t1 - t0), 60.0, True)
    return Fingerprint(visual, audio)


def test_shard_bulk_build_tail_snapshot_and_merge(tmp_path: Path) -> None:
    """A 2-minute excerpt (60 runs, 30 bits off each) of a 45-minute lesson is found by a bulk-built
    shard, one grown by adds (in its tail), its memory-mapped snapshot and a fan-out over two shards;
    removal (a tombstone), re-adding (the tail) and compaction behave."""
    rng = np.random.default_rng(3)
    videos = {f"v{k}": _lesson(rng, 1350, 13500) for k in range(80)}  # 108,000 frames, 45 min each
    queries = {v: _excerpt(videos[v], rng, 500, 60, 30) for v in ("v3", "v41", "v79")}
    bulk = DedupIndex.build((v, Signature.of(fp), v == "v79") for v, fp in videos.items())
    grown = DedupIndex()
    for v, fp in videos.items():
        grown.add(v, fp, allowlisted=v == "v79")
    assert bulk.frames.tail_size == 0 and grown.frames.tail_size == len(bulk.frames) == 108_000
    bulk.save(tmp_path / "shard.idx")
    loaded = DedupIndex.load(tmp_path / "shard.idx")
    assert isinstance(loaded.frames.postings, np.memmap) and isinstance(loaded.landmarks.slots, np.memmap)
    assert len(loaded) == 80
    halves = [DedupIndex.build((v, fp, v == "v79") for v, fp in list(videos.items())[k::2]) for k in (0, 1)]
    for v, q in queries.items():
        fanned = merge([h.search(q) for h in halves])
        for result in (bulk.search(q), grown.search(q), loaded.search(q), fanned):
            best = result.candidates[0]
            assert best.video_id == v and best.visual_hits >= 20 and best.audio_hits >= 100, (v, best)
            assert best.allowlisted == (v == "v79")
            assert all(c.visual_hits < 2 for c in result.candidates[1:])
    assert loaded.remove("v3") and loaded.search(queries["v3"]).candidates == []
    loaded.add("v3", videos["v3"])  # the tail, searched through sorted keys
    assert loaded.search(queries["v3"]).candidates[0].video_id == "v3"
    loaded.compact()
    assert loaded.frames.tail_size == loaded.landmarks.tail_size == 0 and len(loaded.frames) == 108_000
    assert loaded.search(queries["v3"]).candidates[0].video_id == "v3"


def _paste(part: Fingerprint, host: Fingerprint, at_run: int) -> Fingerprint:
    """``part``'s runs in place of ``host``'s from run ``at_run`` (frames only: the audio is dropped, so
    frames alone must find the source)."""
    h, p = host.visual, part.visual
    hashes = h.hashes.copy()
    hashes[at_run : at_run + len(p)] = p.hashes
    visual = VisualFingerprint(h.starts, h.ends, hashes, h.mirrors, h.quality, 1.0, h.samples, h.hashed)
    silent = AudioFingerprint(np.zeros(0, np.uint32), np.zeros(0, np.float32), 0.0, 60.0, False)
    return Fingerprint(visual, silent)


def test_whole_lesson_query_meets_the_index_through_half_the_slices() -> None:
    """A 45-minute query (more runs than LONG_QUERY_RUNS) reads half the slices, half the postings, and
    still finds a 2-minute stretch copied into it through its frames alone, at the distances real
    re-encodes and logos leave (16-40 bits); a short query reads every slice."""
    rng = np.random.default_rng(11)
    videos = {f"v{k}": _lesson(rng, 1350, 0) for k in range(40)}
    index = DedupIndex.build((v, fp, False) for v, fp in videos.items())
    long_query = _lesson(rng, 1350, 0)
    assert len(long_query.visual) > LONG_QUERY_RUNS
    met: dict[int, int] = {}  # query rows -> slices read
    original = index.frames.within

    def within(q: np.ndarray, radius: int, slices: int):
        met[len(q)] = slices
        return original(q, radius, slices)

    index.frames.within = within
    for bits, source in ((16, "v5"), (30, "v17"), (40, "v33")):
        query = _paste(_excerpt(videos[source], rng, 700, 60, bits), long_query, 400)
        best = index.search(query).candidates[0]
        assert best.video_id == source and best.visual_hits >= 5, (bits, best)
    assert met == {2 * len(long_query.visual): SLICES // 2}
    index.search(_excerpt(videos["v5"], rng, 10, 60, 16))
    assert met[120] == SLICES


def test_allowlisted_courseware_is_never_a_flag(dedup_fps: dict[str, Fingerprint]) -> None:
    load = dedup_fps.get
    plain = DedupIndex.build([("P", dedup_fps["P"], False)])
    flagged = find_duplicates(dedup_fps["Q"], plain, load).matches
    assert [m.video_id for m in flagged] == ["P"] and flagged[0].kind == "partial"  # they share X
    index = DedupIndex.build([("P", dedup_fps["P"], False), ("X", dedup_fps["X"], True)])
    out = find_duplicates(dedup_fps["Q"], index, load)
    assert out.matches == []
    assert [m.video_id for m in out.allowlisted] == ["X"] and out.allowlisted[0].allowlisted
    assert index.is_allowlisted("X") and not index.is_allowlisted("P")


# -- public anchor set --------------------------------------------------------------------------------


@dataclass
class AnchorSet:
    files: list[str]
    family: dict[str, str]  # file -> family; singletons have none

    def same(self, a: str, b: str) -> bool:
        return a in self.family and b in self.family and self.family[a] == self.family[b]

    def prints(self, root: Path, fps: float) -> dict[str, Fingerprint]:
        return {f: fingerprint_file(THREATEXCHANGE / f, root, fps) for f in self.files}


def load_anchor_set() -> AnchorSet:
    """The files and families of ``labels.json``."""
    labels = json.loads((THREATEXCHANGE / "labels.json").read_text())
    family = {f: name for name, files in labels["families"].items() for f in files}
    return AnchorSet(sorted(family) + labels["singletons"], family)


@pytest.fixture(scope="module")
def anchor_set() -> AnchorSet:
    return load_anchor_set()


@pytest.fixture(scope="module")
def anchor_prints(anchor_set: AnchorSet, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Fingerprint]:
    """The anchor set at the product's 2 fps."""
    return anchor_set.prints(tmp_path_factory.mktemp("te"), 2.0)


def _verified_pairs(anchor_set: AnchorSet, prints: dict[str, Fingerprint]) -> tuple[set, int]:
    """Ordered pairs (query, candidate) that ``verify`` judges duplicate, and the cross-family matches.
    Every reason it gives must read in Chinese too (``core.duplicate_reasons``)."""
    pairs, false, untranslated = set(), 0, set()
    for a, b in itertools.permutations(anchor_set.files, 2):
        m = verify(prints[a], prints[b])
        false += not anchor_set.same(a, b) and m is not None
        if m is not None and m.verdict == "duplicate":
            pairs.add((a, b))
        untranslated |= {r for r in (m.reasons if m is not None else []) if not duplicate_reasons.known(r)}
    assert not untranslated
    return pairs, false


@pytest.mark.parametrize(("fps", "at_least"), [(1.0, 40), (2.0, 54)])
def test_threatexchange_anchor_set(
    anchor_set: AnchorSet,
    anchor_prints: dict[str, Fingerprint],
    tmp_path_factory: pytest.TempPathFactory,
    fps: float,
    at_least: int,
) -> None:
    prints = anchor_prints if fps == 2.0 else anchor_set.prints(tmp_path_factory.mktemp("te"), fps)
    pairs, false = _verified_pairs(anchor_set, prints)
    total = sum(anchor_set.same(a, b) for a, b in itertools.permutations(anchor_set.files, 2))
    found = sum(anchor_set.same(a, b) for a, b in pairs)
    print(
        f"\nThreatExchange at {fps:g} fps: {found}/{total} in-family ordered pairs (vPDQ {VPDQ_FOUND}/62), "
        f"{false} cross-family"
    )
    assert total == 62 and false == 0
    assert found >= at_least > VPDQ_FOUND


def test_threatexchange_search_finds_what_verify_finds(
    anchor_set: AnchorSet, anchor_prints: dict[str, Fingerprint]
) -> None:
    """The product path (index search, then verification) against verifying every pair directly: all
    files indexed and each searched; then in order of arrival, each searched before it is added (as
    submissions are), a pair counting when either direction finds it."""
    direct, _ = _verified_pairs(anchor_set, anchor_prints)
    files, load = anchor_set.files, anchor_prints.get
    index = DedupIndex.build((f, anchor_prints[f], False) for f in files)
    searched = {
        (q, m.video_id)
        for q in files
        for m in find_duplicates(anchor_prints[q], index, load, query_id=q).matches
        if m.verdict == "duplicate"
    }
    assert searched == direct and len(direct) >= 54
    arriving, found = DedupIndex(), set()
    for f in files:
        for m in find_duplicates(anchor_prints[f], arriving, load, query_id=f).matches:
            if m.verdict == "duplicate":
                found.add(frozenset((f, m.video_id)))
        arriving.add(f, anchor_prints[f])
    assert found == {frozenset(p) for p in direct}
    assert all(anchor_set.same(*sorted(p)) for p in found)


def test_blank_video_and_broken_audio_match_nothing(
    tmp_path: Path, dedup_fps: dict[str, Fingerprint]
) -> None:
    fingerprinter = VisualFingerprinter()
    for i in range(5):
        fingerprinter.process(Frame(index=i, t=float(i), image=np.zeros((36, 64, 3), np.uint8)))
    pcm = tmp_path / "odd.s16"
    pcm.write_bytes(b"\x01\x02\x03")  # a truncated sample
    ctx = FinishContext(workdir=tmp_path, duration_s=5.0, audio_path=pcm)
    vdata, adata = fingerprinter.finish(ctx).data, AudioFingerprinter().finish(ctx).data
    assert vdata["blank"] and "keyframes" not in vdata and adata["silent"]
    blank = Fingerprint.from_stage_data(vdata, adata)
    assert verify(blank, dedup_fps["A"]) is None and verify(dedup_fps["A"], blank) is None
    index = DedupIndex.build([("blank", blank, False), ("A", dedup_fps["A"], False)])
    out = find_duplicates(blank, index, {"blank": blank, "A": dedup_fps["A"]}.get, query_id="blank")
    assert out.matches == [] and out.notes == ["no hashable frames and no usable audio: nothing to match on"]
