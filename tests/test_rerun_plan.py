"""What a re-screening computes: the analysers without a current result and those that read them,
given the stored results of the rest; a whole screening when the media stages are not current."""

from __future__ import annotations

from core.settings import Settings
from pipeline.analysis.stream import FrameStream
from pipeline.keyframes import KeyframeParams
from pipeline.presence import EnrolledFaces, PresencePolicy
from workers.analysers import AnalyserPlan

SETTINGS = Settings()
PLAN = AnalyserPlan(
    {
        "enrolled_faces": EnrolledFaces("t-1", (), {}),
        "presence_policy": PresencePolicy(),
        "keyframe_params": KeyframeParams(),
    },
    FrameStream.of(SETTINGS.media_limits, SETTINGS.faces_fps),
)
SCREENED = {
    "validate": {"media": {}},
    "rendition": {"rendition": {}},
    "presence": {"segments": [[1.0, 4.0]]},
    "keyframes": {"keyframes": []},
    "fingerprint_visual": {"frames": 1},
    "fingerprint_audio": {"audio": None},
}


def _without(*stages: str) -> dict[str, dict]:
    return {k: v for k, v in SCREENED.items() if k not in stages}


def test_media_stages_not_current_mean_a_whole_screening():
    assert PLAN.rerun_for(_without("rendition", "presence")) is None
    assert PLAN.rerun_for(_without("validate")) is None
    assert PLAN.rerun_for({"validate": {"error": {"code": "corrupt"}}}) is None
    assert PLAN.rerun_for(SCREENED) is None  # nothing to compute


def test_a_stale_stage_brings_its_readers_and_is_given_what_it_reads():
    presence = PLAN.rerun_for(_without("presence"))
    assert set(presence.stages) == {"presence", "keyframes"} and presence.provided == {}
    keyframes = PLAN.rerun_for(_without("keyframes"))
    assert keyframes.stages == ("keyframes",) and keyframes.provided == {"presence": SCREENED["presence"]}
    visual = PLAN.rerun_for(_without("fingerprint_visual"))
    assert visual.stages == ("fingerprint_visual",) and visual.provided == {}


def test_the_host_of_a_rerun_holds_only_its_analysers_and_decodes_only_what_they_take():
    host = PLAN.host(PLAN.rerun_for(_without("keyframes")))
    assert [a.stage for a in host.analysers] == ["keyframes"] and set(host.provided) == {"presence"}
    assert host.decimation == PLAN.stream.sampled_stride > 1 and not host.needs_audio
    every = PLAN.host(PLAN.rerun_for(_without("presence", "fingerprint_visual")))
    assert every.decimation == 1  # fingerprints take every frame
    assert {a.stage for a in PLAN.host().analysers} == set(SCREENED) - {"validate", "rendition"}
