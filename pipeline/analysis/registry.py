"""The product's analysers, in one list: adding one is a new module and a line here."""

from __future__ import annotations

from pipeline.analysis.analyser import Analyser
from pipeline.dedup import AudioFingerprinter, VisualFingerprinter
from pipeline.keyframes import KeyframeAnalyser
from pipeline.presence import PresenceAnalyser

ANALYSERS: tuple[type[Analyser], ...] = (
    PresenceAnalyser,
    KeyframeAnalyser,
    VisualFingerprinter,
    AudioFingerprinter,
)
