"""The outbox: events commit or roll back with the change they announce; a later duplicate finding
is announced as ``submission.duplicate_found``."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from core.db import session_scope
from core.outbox import report_updated
from models.outbox import Event
from models.submissions import Overall, Submission, SubmissionMeta


def _events(world) -> list[Event]:
    with Session(world.engine) as session:
        return list(session.exec(select(Event).order_by(Event.seq)))


def test_a_duplicate_found_later_is_announced(world):
    before = len(_events(world))
    with session_scope(world.engine) as session:
        sub = session.get(Submission, world.subs["d"])
        sub.report = {**sub.report, "duplicates": [{"submission_id": "sub_x", "verdict": "duplicate"}]}
        session.add(sub)
        report_updated(session, sub)
    events = _events(world)
    assert len(events) == before + 1
    assert events[-1].type == "submission.duplicate_found" and events[-1].data["overall"] == "duplicate"
    with Session(world.engine) as session:
        meta = session.get(SubmissionMeta, world.subs["d"])
    assert meta.overall == Overall.duplicate and meta.duplicate
    with session_scope(world.engine) as session:  # another change that adds no duplicate
        sub = session.get(Submission, world.subs["d"])
        report_updated(session, sub)
    assert _events(world)[-1].type == "submission.updated"


def test_a_rolled_back_change_announces_nothing(world):
    before = len(_events(world))
    with pytest.raises(RuntimeError), session_scope(world.engine) as session:
        sub = session.get(Submission, world.subs["d"])
        sub.report = {**sub.report, "duplicates": [{"verdict": "duplicate"}]}
        report_updated(session, sub)
        raise RuntimeError("the transaction fails after the event was written")
    assert len(_events(world)) == before
    with Session(world.engine) as session:
        assert session.get(SubmissionMeta, world.subs["d"]).overall == Overall.clear
