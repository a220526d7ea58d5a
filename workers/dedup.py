"""Duplicate detection wired to the database: the in-memory index, matching a screened submission, and
the matches written both ways (the earlier submission's report learns of the later copy)."""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, or_, select

from core import duplicates
from core.db import session_scope
from core.storage import BlobStore, key_for_digest
from models.dedup import AllowlistItem, DedupEntry, DuplicateMatch
from models.jobs import StageResult
from models.submissions import Submission, SubmissionStatus
from pipeline.dedup import (
    AudioFingerprinter,
    DedupIndex,
    Fingerprint,
    VisualFingerprinter,
    find_duplicates,
)

VISUAL, AUDIO = VisualFingerprinter.stage, AudioFingerprinter.stage
CACHE_SIZE = 256  # fingerprints kept in memory for verification
SAVE_EVERY = 200  # index additions between snapshots


@dataclass
class Found:
    """What matching one submission found, before it is written."""

    fingerprint: Fingerprint | None
    versions: tuple[str, str]
    matches: list[dict[str, Any]] = field(default_factory=list)  # DuplicateMatch fields, this side
    notes: list[str] = field(default_factory=list)
    searched_seq: int = 0  # the last index entry the search saw


def _fingerprint_versions(versions: dict[str, str]) -> tuple[str, str]:
    return versions[VISUAL], versions[AUDIO]


class DedupService:
    """One per job runner: holds the index of every fingerprinted submission, caught up from the
    database by ``seq`` before each search, so runners sharing a database see each other's work.
    With ``snapshot_dir`` the index is saved there now and then and restored at start, so a restart
    reads only the entries added since instead of every fingerprint."""

    def __init__(self, engine: Engine, store: BlobStore, snapshot_dir: Path | None = None):
        self.engine = engine
        self.store = store
        self.index = DedupIndex()
        self._seen_seq = 0
        self._unsaved = 0
        self._cache: OrderedDict[str, Fingerprint] = OrderedDict()
        self._snapshot: Path | None = None
        if snapshot_dir is not None:
            url = engine.url.render_as_string(hide_password=True)
            self._snapshot = snapshot_dir / f"index-{hashlib.sha256(url.encode()).hexdigest()[:12]}.npz"
            self._restore()

    def _restore(self) -> None:
        meta_path = self._snapshot.with_suffix(".json")
        if not (self._snapshot.exists() and meta_path.exists()):
            return
        meta = json.loads(meta_path.read_text())
        with Session(self.engine) as session:
            entry = session.get(DedupEntry, meta["seq"])
        if entry is None or entry.submission_id != meta["submission_id"]:
            return  # the snapshot of another (or a since recreated) database
        try:
            self.index = DedupIndex.load(self._snapshot)
        except ValueError:
            return  # a snapshot of an earlier index format: rebuilt from the database
        self._seen_seq = meta["seq"]

    def save(self) -> None:
        """Write the snapshot (atomically) when there is anything new to save."""
        if self._snapshot is None or self._unsaved == 0:
            return
        with Session(self.engine) as session:
            last = session.get(DedupEntry, self._seen_seq)
        if last is None:
            return
        self._snapshot.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._snapshot.with_suffix(".tmp")
        self.index.save(tmp)
        os.replace(tmp, self._snapshot)
        meta = {"seq": self._seen_seq, "submission_id": last.submission_id}
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, self._snapshot.with_suffix(".json"))
        self._unsaved = 0

    def fingerprint(self, visual: dict, audio: dict | None) -> Fingerprint:
        """Rebuild a fingerprint from its stage data (thumbnails come from the blob store)."""
        thumbs = None
        if isinstance(visual.get("keyframes"), str):
            key = key_for_digest(visual["keyframes"].rsplit("/", 1)[-1])
            with self.store.open(key) as fh:
                thumbs = fh.read()
        return Fingerprint.from_stage_data(visual, audio, thumbs)

    def load(self, submission_id: str) -> Fingerprint | None:
        """A stored fingerprint, from the cache or the stage results its index entry names."""
        if submission_id in self._cache:
            self._cache.move_to_end(submission_id)
            return self._cache[submission_id]
        with Session(self.engine) as session:
            entry = session.exec(select(DedupEntry).where(DedupEntry.submission_id == submission_id)).first()
            if entry is None:
                return None
            rows = {
                r.stage: r.data
                for r in session.exec(
                    select(StageResult).where(
                        StageResult.submission_id == submission_id,
                        or_(
                            (StageResult.stage == VISUAL) & (StageResult.version == entry.visual_version),
                            (StageResult.stage == AUDIO) & (StageResult.version == entry.audio_version),
                        ),
                    )
                )
            }
        if VISUAL not in rows:
            return None
        fp = self.fingerprint(rows[VISUAL], rows.get(AUDIO))
        self._remember(submission_id, fp)
        return fp

    def _remember(self, submission_id: str, fp: Fingerprint) -> None:
        self._cache[submission_id] = fp
        self._cache.move_to_end(submission_id)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    def sync(self) -> None:
        """Add the index entries other runners (or earlier runs) committed since the last sync."""
        with Session(self.engine) as session:
            entries = session.exec(
                select(DedupEntry).where(col(DedupEntry.seq) > self._seen_seq).order_by(DedupEntry.seq)
            ).all()
        for entry in entries:
            known = entry.submission_id in self.index
            if known and entry.allowlisted and not self.index.is_allowlisted(entry.submission_id):
                self.index.remove(entry.submission_id)  # registered as shared material since
                known = False
            if not known:
                fp = self.load(entry.submission_id)
                if fp is not None:
                    self.index.add(entry.submission_id, fp, allowlisted=entry.allowlisted)
                    self._unsaved += 1
            self._seen_seq = entry.seq
        if self._unsaved >= SAVE_EVERY:
            self.save()

    def find(
        self, submission_id: str, sha256: str, stages: dict[str, dict], versions: dict[str, str]
    ) -> Found:
        """Match a screened submission: same bytes (exact), then the index (near, partial, audio)."""
        with Session(self.engine) as session:
            same_bytes = session.exec(
                select(Submission.id).where(
                    Submission.sha256 == sha256,
                    Submission.id != submission_id,
                    Submission.status != SubmissionStatus.rejected,
                    col(Submission.id).not_in(select(AllowlistItem.submission_id)),
                )
            ).all()
        found = Found(None, _fingerprint_versions(versions))
        for other in same_bytes:
            found.matches.append(
                {"other_id": other, "kind": "exact", "verdict": "duplicate", "score": 1.0,
                 "query_coverage": 1.0, "match_coverage": 1.0, "segments": [],
                 "reasons": ["the same file (identical SHA-256) was submitted before"]}
            )  # fmt: skip
        if VISUAL not in stages:
            return found
        found.fingerprint = fp = self.fingerprint(stages[VISUAL], stages.get(AUDIO))
        self.sync()
        found.searched_seq = self._seen_seq
        outcome = find_duplicates(fp, self.index, self.load, query_id=submission_id)
        found.notes = outcome.notes
        exact = set(same_bytes)
        for m in outcome.matches:
            if m.video_id not in exact:
                found.matches.append(duplicates.match_fields(m.video_id, m.to_dict()))
        found.matches.extend(self._still_found_from_other_side(submission_id, found.matches))
        return found

    def _still_found_from_other_side(self, submission_id: str, matches: list[dict]) -> list[dict]:
        """On a re-check, an earlier match this search missed stands while the other submission's own
        search still finds this one (retrieval is not symmetric); returned flipped to this side."""
        found_now = {m["other_id"] for m in matches}
        with Session(self.engine) as session:
            earlier = session.exec(
                select(DuplicateMatch.other_id).where(
                    DuplicateMatch.submission_id == submission_id, DuplicateMatch.kind != "exact"
                )
            ).all()
        kept = []
        for other_id in sorted(set(earlier) - found_now):
            other_fp = None if self.index.is_allowlisted(other_id) else self.load(other_id)
            if other_fp is None:
                continue
            outcome = find_duplicates(other_fp, self.index, self.load, query_id=other_id)
            for m in outcome.matches:
                if m.video_id == submission_id:
                    kept.append(duplicates.flip(duplicates.match_fields(other_id, m.to_dict())))
        return kept

    def write(self, session: Session, submission_id: str, found: Found) -> list[str]:
        """Inside the job's finishing transaction: the index entry and both directions of every match.
        Returns the other submissions whose reports changed."""
        if (
            found.fingerprint is not None
            and session.exec(select(DedupEntry).where(DedupEntry.submission_id == submission_id)).first()
            is None
        ):
            allowlisted = session.get(AllowlistItem, submission_id) is not None
            session.add(
                DedupEntry(
                    submission_id=submission_id,
                    visual_version=found.versions[0],
                    audio_version=found.versions[1],
                    allowlisted=allowlisted,
                )
            )
        changed = duplicates.drop_matches(session, submission_id, keep={m["other_id"] for m in found.matches})
        return changed + duplicates.write_matches(session, submission_id, found.matches)

    def catch_up(self, submission_id: str, found: Found) -> list[str]:
        """After the job's commit: submissions that other runners indexed while this one searched
        were not in its search (nor was this one in theirs, if they searched first). Search again
        when there are any and write the matches with them, in a transaction of its own. Returns
        the submissions whose reports changed."""
        if found.fingerprint is None:
            return []
        with Session(self.engine) as session:
            concurrent = set(
                session.exec(
                    select(DedupEntry.submission_id).where(
                        col(DedupEntry.seq) > found.searched_seq, DedupEntry.submission_id != submission_id
                    )
                ).all()
            )
        if not concurrent:
            return []
        self.sync()
        outcome = find_duplicates(found.fingerprint, self.index, self.load, query_id=submission_id)
        late = [
            duplicates.match_fields(m.video_id, m.to_dict())
            for m in outcome.matches
            if m.video_id in concurrent
        ]
        if not late:
            return []
        with session_scope(self.engine) as session:
            changed = duplicates.write_matches(session, submission_id, late)
            duplicates.refresh_reports(session, [submission_id, *changed])
        return changed

    def after_commit(self, submission_id: str, found: Found) -> None:
        """The committed fingerprint joins this runner's index at once (others catch up by sync)."""
        if found.fingerprint is not None and submission_id not in self.index:
            self.index.add(submission_id, found.fingerprint)
            self._remember(submission_id, found.fingerprint)
            self._unsaved += 1
