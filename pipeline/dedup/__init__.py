"""Duplicate and plagiarism detection: fingerprints, index, alignment and verification (pure).

Typical use::

    host = AnalyserHost([VisualFingerprinter(), AudioFingerprinter()])  # rides on the one decode
    fp = Fingerprint.from_stage_data(visual_data, audio_data, keyframes_bytes)
    index.add(video_id, fp)                                          # DedupIndex, rebuilt from the DB
    outcome = find_duplicates(fp, index, load_fingerprint, query_id=video_id)
"""

from pipeline.dedup.audio import AudioFingerprint, AudioFingerprinter, fingerprint_pcm
from pipeline.dedup.fingerprint import Fingerprint
from pipeline.dedup.index import Candidate, DedupIndex, SearchResult
from pipeline.dedup.search import DedupOutcome, find_duplicates
from pipeline.dedup.verify import VERSION, Match, Segment, Thresholds, verify
from pipeline.dedup.visual import VisualFingerprint, VisualFingerprinter

__all__ = [
    "VERSION",
    "AudioFingerprint",
    "AudioFingerprinter",
    "Candidate",
    "DedupIndex",
    "DedupOutcome",
    "Fingerprint",
    "Match",
    "SearchResult",
    "Segment",
    "Thresholds",
    "VisualFingerprint",
    "VisualFingerprinter",
    "find_duplicates",
    "fingerprint_pcm",
    "verify",
]
