"""Duplicate reasons in Chinese: every phrasing the matcher writes, numbers carried over."""

from __future__ import annotations

import re

import pytest

from core.duplicate_reasons import all_in_chinese, in_chinese, known
from workers.dedup import EXACT_REASON

PHRASINGS = [
    (EXACT_REASON, "之前已提交过完全相同的文件（SHA-256 相同）"),
    ("no usable audio in the candidate: matched on visuals alone", "候选方视频没有可用的音频：仅按画面比对"),
    (
        "27 distinct changing frames aligned over 58 s (median distance 12/256, evidence 310 bits, mirrored)",
        "27 个不同的变化画面在 58 秒内对齐（中位距离 12/256，证据强度 310 比特，镜像）",
    ),
    (
        "9 distinct changing frames aligned over 41 s (median distance 30/256, evidence 95 bits)",
        "9 个不同的变化画面在 41 秒内对齐（中位距离 30/256，证据强度 95 比特）",
    ),
    (
        "after a geometric correction: the query's picture is 71% of the candidate's size",
        "经几何校正后：检索方画面为候选方的 71%",
    ),
    (
        "after a geometric correction: the candidate's picture is 64% of the query's size, mirrored",
        "经几何校正后：候选方画面为检索方的 64%，镜像",
    ),
    ("audio aligned too (140 landmarks)", "音频也对齐（140 个特征点）"),
    ("audio does not match: re-dubbed or replaced sound", "音频不一致：可能重新配音或替换了声音"),
    ("audio aligned over 300 s (812 landmarks)", "音频在 300 秒内对齐（812 个特征点）"),
    (
        "85% of the frames agree along the audio alignment (few changes)",
        "沿音频对齐方向 85% 的画面一致（画面变化少）",
    ),
    ("no visual support: possible re-recording or reused audio", "画面不支持：可能是翻录，或重复使用了音频"),
    ("matches allowlisted shared material: not a flag", "与白名单中的共享素材相符：不作标记"),
    ("stretches matching allowlisted material left out", "与白名单素材相符的片段已排除"),
    (
        "no hashable frames and no usable audio: nothing to match on",
        "没有可比对的画面，也没有可用的音频：无从比对",
    ),
    ("no usable audio: matched on visuals alone", "没有可用的音频：仅按画面比对"),
    (
        "no hashable frames (blank or too dark): matched on audio alone",
        "没有可比对的画面（空白或过暗）：仅按音频比对",
    ),
]


@pytest.mark.parametrize(("english", "chinese"), PHRASINGS)
def test_every_phrasing_reads_in_chinese(english, chinese):
    assert known(english) and in_chinese(english) == chinese
    assert not re.search(r"[a-zA-Z]{3,}", chinese.replace("SHA-256", ""))  # no English left over


def test_an_unknown_phrasing_is_shown_as_it_is():
    assert not known("a reason added later") and in_chinese("a reason added later") == "a reason added later"
    assert all_in_chinese(["audio aligned too (3 landmarks)", "new"]) == ["音频也对齐（3 个特征点）", "new"]
    assert not known("audio aligned too (3 landmarks) and more")  # whole phrasings only
