"""Issuance on a real database: all or nothing, unique serials, sequence in order."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from traceqr.errors import ValidationError
from traceqr.models import Batch, Stamp
from traceqr.services import catalog, issuance
from traceqr.services.businesses import NewBusiness
from traceqr.services.identity import Reviewer
from traceqr.services.issuance import CHUNK_SIZE, issue_stamps
from traceqr.state import AppState


@pytest.fixture
def batch_id(state: AppState, business: NewBusiness, now: datetime) -> int:
    with state.database.session() as session:
        product = catalog.create_product(
            session, business.business.id, {"name": "Trà Shan tuyết"}, now
        )
        return catalog.create_batch(
            session, business.business.id, product.id, {"lot": "T-1"}, now
        ).id


def stamp_count(state: AppState, batch_id: int) -> int:
    with state.database.session() as session:
        return session.scalar(select(func.count()).where(Stamp.batch_id == batch_id)) or 0


def test_stamps_cross_chunk_boundaries_in_order(
    state: AppState, batch_id: int, now: datetime
) -> None:
    count = CHUNK_SIZE * 2 + 7
    progress: list[tuple[int, int]] = []
    with state.database.session() as session:
        batch = session.get(Batch, batch_id)
        result = issue_stamps(
            session,
            state.keystore,
            batch,
            count,
            now=now,
            progress=lambda d, t: progress.append((d, t)),
        )
    assert (result.first_seq, result.last_seq, result.count) == (1, count, count)
    assert progress[-1] == (count, count)
    with state.database.session() as session:
        seqs = session.scalars(
            select(Stamp.seq).where(Stamp.batch_id == batch_id).order_by(Stamp.id)
        ).all()
        serials = session.scalars(select(Stamp.serial).where(Stamp.batch_id == batch_id)).all()
        batch = session.get(Batch, batch_id)
        assert batch is not None
        assert (batch.stamps_total, batch.stamps_active) == (count, count)
    assert list(seqs) == list(range(1, count + 1))
    assert len(set(serials)) == count


def test_a_failure_half_way_leaves_no_stamp_of_the_request(
    state: AppState, batch_id: int, now: datetime
) -> None:
    drawn = 0

    def failing_random(n: int) -> bytes:
        nonlocal drawn
        drawn += 1
        if drawn > CHUNK_SIZE + 10:  # the first chunk is written, the second breaks
            raise OSError("entropy source failed")
        return os.urandom(n)

    with pytest.raises(OSError, match="entropy"), state.database.session() as session:
        batch = session.get(Batch, batch_id)
        issue_stamps(
            session, state.keystore, batch, CHUNK_SIZE * 3, now=now, random_bytes=failing_random
        )
    assert stamp_count(state, batch_id) == 0
    with state.database.session() as session:
        batch = session.get(Batch, batch_id)
        assert batch is not None and batch.stamps_total == 0


def test_a_serial_that_already_exists_is_drawn_again(
    state: AppState, batch_id: int, now: datetime
) -> None:
    with state.database.session() as session:
        batch = session.get(Batch, batch_id)
        issue_stamps(session, state.keystore, batch, 3, now=now)
    with state.database.session() as session:
        existing = session.scalars(select(Stamp.serial)).all()

    def colliding() -> Iterator[bytes]:
        yield existing[0]  # the first draw of the next chunk hits a stored serial
        while True:
            yield os.urandom(10)

    source = colliding()
    with state.database.session() as session:
        batch = session.get(Batch, batch_id)
        result = issue_stamps(
            session, state.keystore, batch, 5, now=now, random_bytes=lambda n: next(source)
        )
    assert (result.first_seq, result.last_seq) == (4, 8)
    with state.database.session() as session:
        serials = session.scalars(select(Stamp.serial).where(Stamp.batch_id == batch_id)).all()
    assert len(serials) == len(set(serials)) == 8


def test_a_random_source_that_only_repeats_is_an_error_not_a_loop(
    state: AppState, batch_id: int, now: datetime
) -> None:
    with pytest.raises(issuance.IssuanceError), state.database.session() as session:
        batch = session.get(Batch, batch_id)
        issue_stamps(session, state.keystore, batch, 2, now=now, random_bytes=lambda n: b"\x00" * n)
    assert stamp_count(state, batch_id) == 0


@pytest.mark.parametrize("count", [0, -5, 100_001, "12", 3.0, None, True])
def test_counts_outside_the_range_are_refused(
    state: AppState, batch_id: int, now: datetime, count: Any
) -> None:
    with pytest.raises(ValidationError) as error, state.database.session() as session:
        batch = session.get(Batch, batch_id)
        issue_stamps(session, state.keystore, batch, count, now=now)
    assert error.value.field == "count"


def test_the_cli_limit_can_be_raised_for_a_million_stamp_batch(
    state: AppState, batch_id: int, now: datetime
) -> None:
    with state.database.session() as session:
        batch = session.get(Batch, batch_id)
        result = issue_stamps(
            session, state.keystore, batch, 100_001 - 99_990, now=now, max_count=1_000_000
        )
    assert result.count == 11


def test_an_in_memory_sqlite_database_issues_stamps_too(tmp_path: Path) -> None:
    # Its one connection lives in one thread: issuance writes in line there, not on the
    # writer thread it uses elsewhere.
    from traceqr.config import load_settings
    from traceqr.db import upgrade_schema
    from traceqr.services.businesses import create_business

    state = AppState.create(load_settings({"instance_path": tmp_path, "database_url": "sqlite://"}))
    upgrade_schema(state.database)
    now = datetime.now(UTC)
    with state.database.session() as session:
        business = create_business(
            session,
            state.keystore,
            name="Xưởng",
            email="x@example.vn",
            now=now,
            vouched_by=Reviewer.operator("tests"),
        ).business
        product = catalog.create_product(session, business.id, {"name": "Bình"}, now)
        batch = catalog.create_batch(session, business.id, product.id, {"lot": "M1"}, now)
        result = issue_stamps(session, state.keystore, batch, 12_000, now=now)
        session.commit()
        assert (result.first_seq, result.last_seq) == (1, 12_000)
        assert session.scalar(select(func.count()).select_from(Stamp)) == 12_000
    state.database.dispose()


def test_a_second_ctrl_c_still_waits_for_the_writer_before_the_rollback() -> None:
    # An operator who presses Ctrl-C again while issuance winds down must not start the
    # rollback while the writer thread still uses the connection: the wait goes on until
    # the chunk in hand is written, however many interruptions arrive meanwhile.
    release = threading.Event()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)

    def impatient_operator() -> None:
        for _ in range(3):
            time.sleep(0.1)
            os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.1)
        release.set()

    try:
        with ThreadPoolExecutor(max_workers=1) as writer:
            pending = writer.submit(release.wait, 30)
            operator = threading.Thread(target=impatient_operator)
            operator.start()
            issuance.wait_for_writer(pending)
            assert pending.done() and release.is_set()
            operator.join()
    finally:
        signal.signal(signal.SIGINT, previous)
