"""Duplicate matching's reasons and notes in Simplified Chinese.

The matcher writes its reasons in English, numbers included, and they are stored that way with each
match (``DuplicateMatch.reasons``). They are put into Chinese where they are shown, from this one
catalogue of the matcher's phrasings, so reports stored before a phrasing was added read in Chinese
too. A phrasing the catalogue does not know is shown as it is (``tests/test_duplicate_reasons.py``
checks that every phrasing the matcher can write is known).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

_SIDE = {"query": "检索方", "candidate": "候选方"}


def _mirrored(flag: str | None) -> str:
    return "，镜像" if flag else ""


def _picture(m: re.Match[str]) -> str:
    return f"{_SIDE[m['a']]}画面为{_SIDE[m['b']]}的 {m['p']}%{_mirrored(m['mirrored'])}"


_PICTURE = (
    r"the (?P<a>query|candidate)'s picture is (?P<p>\d+)% of the (?P<b>query|candidate)'s size"
    r"(?P<mirrored>, mirrored)?"
)

_CATALOGUE: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(p), f)
    for p, f in [
        (
            r"the same file \(identical SHA-256\) was submitted before",
            lambda m: "之前已提交过完全相同的文件（SHA-256 相同）",
        ),
        (
            r"no usable audio in the (?P<who>query|candidate): matched on visuals alone",
            lambda m: f"{_SIDE[m['who']]}视频没有可用的音频：仅按画面比对",
        ),
        (
            r"(?P<n>\d+) distinct changing frames aligned over (?P<s>\d+) s "
            r"\(median distance (?P<d>\d+)/256, evidence (?P<b>\d+) bits(?P<mirrored>, mirrored)?\)",
            lambda m: (
                f"{m['n']} 个不同的变化画面在 {m['s']} 秒内对齐（中位距离 {m['d']}/256，"
                f"证据强度 {m['b']} 比特{_mirrored(m['mirrored'])}）"
            ),
        ),
        (r"after a geometric correction: " + _PICTURE, lambda m: f"经几何校正后：{_picture(m)}"),
        (_PICTURE, _picture),
        (r"audio aligned too \((?P<n>\d+) landmarks\)", lambda m: f"音频也对齐（{m['n']} 个特征点）"),
        (
            r"audio does not match: re-dubbed or replaced sound",
            lambda m: "音频不一致：可能重新配音或替换了声音",
        ),
        (
            r"audio aligned over (?P<s>\d+) s \((?P<n>\d+) landmarks\)",
            lambda m: f"音频在 {m['s']} 秒内对齐（{m['n']} 个特征点）",
        ),
        (
            r"(?P<p>\d+)% of the frames agree along the audio alignment \(few changes\)",
            lambda m: f"沿音频对齐方向 {m['p']}% 的画面一致（画面变化少）",
        ),
        (
            r"no visual support: possible re-recording or reused audio",
            lambda m: "画面不支持：可能是翻录，或重复使用了音频",
        ),
        (r"matches allowlisted shared material: not a flag", lambda m: "与白名单中的共享素材相符：不作标记"),
        (r"stretches matching allowlisted material left out", lambda m: "与白名单素材相符的片段已排除"),
        (
            r"no hashable frames and no usable audio: nothing to match on",
            lambda m: "没有可比对的画面，也没有可用的音频：无从比对",
        ),
        (r"no usable audio: matched on visuals alone", lambda m: "没有可用的音频：仅按画面比对"),
        (
            r"no hashable frames \(blank or too dark\): matched on audio alone",
            lambda m: "没有可比对的画面（空白或过暗）：仅按音频比对",
        ),
    ]
]


def in_chinese(reason: str) -> str:
    """The reason in Chinese, or as it is when the catalogue does not know its phrasing."""
    for pattern, render in _CATALOGUE:
        if m := pattern.fullmatch(reason):
            return render(m)
    return reason


def known(reason: str) -> bool:
    """Whether the catalogue knows the phrasing of ``reason``."""
    return any(pattern.fullmatch(reason) for pattern, _ in _CATALOGUE)


def all_in_chinese(reasons: Iterable[str]) -> list[str]:
    return [in_chinese(r) for r in reasons]
