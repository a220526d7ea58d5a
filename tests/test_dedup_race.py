"""Duplicate matching is race-free by construction: two runners matching two copies at the same moment
on PostgreSQL find each other in every order of publishing and searching, including a signature that
takes a lower ``seq`` and commits late."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from sqlmodel import Session, select

from core import dedup_signatures, duplicates
from core.db import make_engine, session_scope
from core.settings import Settings
from core.storage import open_blob_store
from core.submissions import create_submission
from models.dedup import DuplicateMatch
from pipeline.dedup import Fingerprint, Signature, encode_fingerprint
from tests.fixtures.db import clone_migrated, drop_pg_database
from tests.test_dedup import _excerpt, _lesson
from workers import dedup

# Each runner's steps: publish (commit the signature), then search (retrieve, verify, write matches).
ORDERS = ["PA SA PB SB", "PA PB SA SB", "PA PB SB SA", "PB PA SA SB", "PB PA SB SA", "PB SB PA SA", "LATE"]
PAIRS_PER_ORDER = 29  # 7 orders x 29 pairs = 203 forced interleavings


@pytest.fixture
def runners(migrated_templates, tmp_path):
    url = clone_migrated(migrated_templates, "postgresql", tmp_path / "db")
    settings = Settings(home=tmp_path / "home", database_url=url, dedup_shards=2)
    engine = make_engine(url)
    yield settings, engine, dedup.DedupMatcher(settings, engine), dedup.DedupMatcher(settings, engine)
    engine.dispose()
    drop_pg_database(url)


def _stages(fp: Fingerprint) -> dict[str, dict]:
    return {dedup.VISUAL: fp.visual.to_data(), dedup.AUDIO: fp.audio.to_data()}


def _submission(engine, store, name: str) -> str:
    with session_scope(engine) as session:
        key = store.put_bytes(f"lesson {name}".encode())
        return create_submission(session, key=key, size=8, teacher_id=f"t-{name}").id


VERSIONS = {dedup.VISUAL: "v", dedup.AUDIO: "v"}


def _search(settings, engine, store, matcher, req, stages) -> None:
    found = dedup.verify_request(settings, engine, store, matcher.retrieve(req, stages))
    with session_scope(engine) as session:
        duplicates.write_matches(session, req.submission_id, found.matches)


def _late(settings, engine, store, r1, a, fa, b, fb) -> None:
    """B takes its ``seq`` first and commits late; A's publish waits for it, so A's ``seq`` is higher
    and A's search sees B (a lower ``seq`` can never commit after a higher one)."""
    b_written, b_commit = threading.Event(), threading.Event()
    seqs: dict[str, int] = {}

    def write_b() -> None:
        with session_scope(engine) as session:
            fp = Fingerprint.from_stage_data(*fb.values())
            seqs["b"] = dedup_signatures.write(
                session, b, signature=Signature.of(fp).to_bytes(), fingerprint=encode_fingerprint(fp),
                thumbs_key=None, versions=("v", "v"), duration_s=fp.duration_s,
            ).seq  # fmt: skip
            b_written.set()
            b_commit.wait(60)

    def publish_a() -> None:
        seqs["a_req"] = r1.publish(a, "0" * 64, fa, VERSIONS)

    tb = threading.Thread(target=write_b)
    tb.start()
    assert b_written.wait(60)
    ta = threading.Thread(target=publish_a)
    ta.start()
    ta.join(0.3)
    assert ta.is_alive()  # A's publish waits for B's open transaction
    b_commit.set()
    tb.join(60)
    ta.join(60)
    req = seqs["a_req"]
    assert req.min_seq > seqs["b"]
    _search(settings, engine, store, r1, req, fa)


def test_two_runners_find_every_pair_whatever_the_order(runners):
    settings, engine, r1, r2 = runners
    store = open_blob_store(settings)
    rng = np.random.default_rng(7)
    expected = set()
    for order in ORDERS:
        for _ in range(PAIRS_PER_ORDER):
            lesson = _lesson(rng, 40, 400)
            copy = _excerpt(lesson, rng, 0, 40, 12)
            a, b = _submission(engine, store, "a"), _submission(engine, store, "b")
            fa, fb = _stages(lesson), _stages(copy)
            expected |= {(a, b), (b, a)}
            if order == "LATE":
                _late(settings, engine, store, r1, a, fa, b, fb)
                req_b = r2.publish(b, "1" * 64, fb, VERSIONS)  # unchanged: keeps its seq
                _search(settings, engine, store, r2, req_b, fb)
                continue
            reqs = {}
            for step in order.split():
                who, (matcher, sub, stages) = step[1], {"A": (r1, a, fa), "B": (r2, b, fb)}[step[1]]
                if step[0] == "P":
                    reqs[who] = matcher.publish(sub, "0" * 64, stages, VERSIONS)
                else:
                    _search(settings, engine, store, matcher, reqs[who], stages)
    with Session(engine) as session:
        pairs = {(m.submission_id, m.other_id) for m in session.exec(select(DuplicateMatch))}
    assert len(expected) == 2 * len(ORDERS) * PAIRS_PER_ORDER
    assert expected <= pairs, f"{len(expected - pairs)} of {len(expected)} directions missing"
