"""Duplicate and plagiarism detection: fingerprints, index, alignment and verification (pure).

Typical use::

    host = AnalyserHost([VisualFingerprinter(), AudioFingerprinter()])  # rides on the one decode
    fp = Fingerprint.from_stage_data(visual_data, audio_data, keyframes_bytes)
    row = encode_fingerprint(fp), Signature.of(fp).to_bytes()      # binary columns in the database
    index = DedupIndex.build_arrays(...)                             # one shard, bulk from signatures
    index.add(video_id, Signature.from_bytes(row[1]))                # the tail committed since
    outcome = find_duplicates(fp, index, load_fingerprint, query_id=video_id)
"""

from pipeline.dedup.audio import AudioFingerprint, AudioFingerprinter, fingerprint_pcm
from pipeline.dedup.codec import CodecError, Signature, decode_fingerprint, encode_fingerprint
from pipeline.dedup.fingerprint import Fingerprint
from pipeline.dedup.index import Candidate, DedupIndex, SearchResult, merge
from pipeline.dedup.search import DedupOutcome, Searchable, find_duplicates
from pipeline.dedup.verify import VERSION, Match, Segment, Thresholds, verify
from pipeline.dedup.visual import VisualFingerprint, VisualFingerprinter

__all__ = [
    "VERSION",
    "AudioFingerprint",
    "AudioFingerprinter",
    "Candidate",
    "CodecError",
    "DedupIndex",
    "DedupOutcome",
    "Fingerprint",
    "Match",
    "SearchResult",
    "Searchable",
    "Segment",
    "Signature",
    "Thresholds",
    "VisualFingerprint",
    "VisualFingerprinter",
    "decode_fingerprint",
    "encode_fingerprint",
    "find_duplicates",
    "fingerprint_pcm",
    "merge",
    "verify",
]
