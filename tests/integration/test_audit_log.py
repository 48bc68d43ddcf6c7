"""The audit log in the database: one entry per change, in the change's transaction; a
changed, removed or reordered row is caught by seq; concurrent appends chain in order."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from tests.conftest import Api
from traceqr.domain.audit import GENESIS_HASH
from traceqr.models import AuditEntry, User
from traceqr.services import audit
from traceqr.services.accounts import invite
from traceqr.services.businesses import NewBusiness, rotate_signing_key
from traceqr.services.officials import create_official
from traceqr.state import AppState

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


def entries(state: AppState) -> list[AuditEntry]:
    with state.database.session() as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))


def test_each_change_appends_one_entry_saying_who_what_when(
    api: Api, state: AppState, business: NewBusiness
) -> None:
    batch = api.batch()
    api.issue(batch["id"], 3, active=False)
    serial = api.get(f"/batches/{batch['id']}/stamps.csv").get_data(as_text=True).splitlines()[1]
    serial = serial.split(",")[1]
    assert api.post(f"/stamps/{serial}/activate").status_code == 200
    assert api.post(f"/batches/{batch['id']}/activate").status_code == 200
    assert api.post(f"/stamps/{serial}/revoke", {"reason": "Tem in lỗi"}).status_code == 200
    assert api.post(f"/batches/{batch['id']}/recall", {"reason": "Nhiễm khuẩn"}).status_code == 200
    with state.database.session() as session:
        owner = session.get(User, business.owner.id)
        assert owner is not None
        invite(session, owner, "staff@example.vn", "staff", None, NOW)
        rotate_signing_key(session, state.keystore, business.business.id, NOW)
        create_official(
            session,
            email="tra@example.vn",
            name="Thanh tra",
            role="inspector",
            password=None,
            provinces=[],
            now=NOW,
        )
    log = entries(state)
    actions = [e.action for e in log]
    assert actions == [
        "business.create",
        "business.verify",
        "api_key.create",
        "stamps.issue",
        "stamp.activate",
        "batch.activate",
        "stamp.revoke",
        "batch.recall",
        "user.invite",
        "key.rotate",
        "official.create",
    ]
    assert [e.seq for e in log] == list(range(1, 12))
    by_action = {e.action: e for e in log}
    issue = by_action["stamps.issue"]
    assert issue.actor_kind == "api_key" and issue.actor_id is not None
    assert issue.subject == f"batch:{batch['id']}"
    assert '"count":3' in issue.details and '"first_seq":1' in issue.details
    assert by_action["batch.activate"].details == '{"count":2}'
    assert by_action["stamp.revoke"].subject == f"stamp:{serial}"
    assert "Tem in lỗi" in by_action["stamp.revoke"].details
    assert by_action["user.invite"].actor_kind == "user"
    assert by_action["user.invite"].actor_id == str(business.owner.id)
    assert by_action["official.create"].actor_kind == "system"
    with state.database.session() as session:
        report = audit.verify_stored(session)
    assert report.ok and report.last_seq == 11 and report.last_hash == log[-1].hash


def test_a_change_that_fails_leaves_no_entry(api: Api, state: AppState) -> None:
    before = len(entries(state))
    batch = api.batch()
    assert api.post(f"/batches/{batch['id']}/stamps", {"count": 0}).status_code == 400
    assert api.post(f"/batches/{batch['id']}/recall", {}).status_code == 400
    assert len(entries(state)) == before


def tamper(state: AppState, sql: str) -> None:
    with state.database.engine.begin() as connection:
        connection.exec_driver_sql(sql)


def chain_of(state: AppState, n: int) -> None:
    with state.database.session() as session:
        for i in range(n):
            audit.record(
                session, "test.event", f"thing:{i}", {"i": i}, now=NOW, actor=("system", None)
            )


def broken_seq(state: AppState) -> int | None:
    with state.database.session() as session:
        return audit.verify_stored(session).broken_seq


def test_an_edited_row_is_caught_at_its_seq(state: AppState) -> None:
    chain_of(state, 5)
    assert broken_seq(state) is None
    tamper(state, "UPDATE audit_log SET details = '{\"i\":99}' WHERE seq = 3")
    assert broken_seq(state) == 3


def test_a_deleted_row_is_caught_at_its_seq(state: AppState) -> None:
    chain_of(state, 5)
    tamper(state, "DELETE FROM audit_log WHERE seq = 2")
    assert broken_seq(state) == 2


def test_reordered_rows_are_caught(state: AppState) -> None:
    chain_of(state, 5)
    # Swap the contents of entries 2 and 4 (seq is unique: go through a free number).
    tamper(state, "UPDATE audit_log SET seq = 1000 WHERE seq = 2")
    tamper(state, "UPDATE audit_log SET seq = 2 WHERE seq = 4")
    tamper(state, "UPDATE audit_log SET seq = 4 WHERE seq = 1000")
    assert broken_seq(state) == 2


def test_the_head_row_follows_the_log_and_is_rebuilt_if_missing(state: AppState) -> None:
    chain_of(state, 2)
    tamper(state, "DELETE FROM audit_head")
    chain_of(state, 1)  # chains after entry 2, not from the start
    log = entries(state)
    assert [e.seq for e in log] == [1, 2, 3] and log[2].prev_hash == log[1].hash
    assert log[0].prev_hash == GENESIS_HASH
    assert broken_seq(state) is None


def test_concurrent_appends_chain_one_after_another(state: AppState) -> None:
    """Many transactions append at once (on PostgreSQL they really run in parallel): no
    seq is used twice, none is skipped, every entry links to the one before."""
    threads, per_thread = 6, 8
    errors: list[BaseException] = []

    def append_many(worker: int) -> None:
        try:
            for i in range(per_thread):
                with state.database.session() as session:
                    audit.record(
                        session,
                        "test.concurrent",
                        f"worker:{worker}",
                        {"i": i},
                        now=datetime.now(UTC),
                        actor=("system", None),
                    )
        except BaseException as exc:  # reported below, with the thread's failure
            errors.append(exc)

    workers = [threading.Thread(target=append_many, args=(w,)) for w in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    log = entries(state)
    assert [e.seq for e in log] == list(range(1, threads * per_thread + 1))
    assert broken_seq(state) is None


def test_bad_details_are_refused_before_anything_is_written(state: AppState) -> None:
    with state.database.session() as session, pytest.raises(ValueError):
        audit.record(session, "x", "y", {"price": 1.5}, now=NOW)
    assert entries(state) == []


def test_the_streamed_export_reads_chunk_by_chunk_in_order(state: AppState) -> None:
    chain_of(state, 5)
    lines = list(audit.stream_lines(state.database, 0, chunk=2))
    assert [json.loads(line)["seq"] for line in lines] == [1, 2, 3, 4, 5]
    assert [json.loads(line)["seq"] for line in audit.stream_lines(state.database, 3, 2)] == [4, 5]
    assert list(audit.stream_lines(state.database, 5)) == []


def test_inspectors_flags_are_recorded_with_the_inspector(api: Api, state: AppState) -> None:
    from traceqr.models import Stamp
    from traceqr.services.inspection import flag_batch, flag_stamp, lift_flag

    batch = api.batch()
    api.issue(batch["id"], 1)
    with state.database.session() as session:
        official = create_official(
            session,
            email="kiem@qltt.gov.vn",
            name="Kiểm",
            role="inspector",
            password=None,
            provinces=[],
            now=NOW,
        )
        stamp = session.scalars(select(Stamp)).one()
        flag = flag_stamp(session, official, stamp.id, "Tem nghi giả", NOW)
        flag_batch(session, official, batch["id"], "Lô nghi giả", NOW)
        lift_flag(session, official, flag.id, NOW)
        official_id = str(official.id)
    log = entries(state)[-3:]
    assert [e.action for e in log] == ["stamp.flag", "batch.flag", "flag.lift"]
    assert {(e.actor_kind, e.actor_id) for e in log} == {("official", official_id)}
    assert "Tem nghi giả" in log[0].details and log[1].subject == f"batch:{batch['id']}"
