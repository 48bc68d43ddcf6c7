"""SQLite's writers queue on a kernel lock across processes (traceqr.db.WriterLock).

Several gunicorn workers share one SQLite file; the lock makes a worker wait for the
writer ahead of it, not sleep in SQLite's busy handler. These tests use their own SQLite
file, so they run the same whichever database the suite is on.
"""

from __future__ import annotations

import multiprocessing
import threading
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest

from traceqr.db import Database, WriterLock, sqlite_file

FORK = multiprocessing.get_context("fork")


def hold_the_lock(url: str, holding: Any, release: Any) -> None:
    database = Database(url)
    with database.writing():
        holding.set()
        release.wait(30)


def take_the_lock(database: Database, taken: Any) -> None:
    with database.writing():
        taken.set()


@pytest.fixture
def database(tmp_path: Path) -> Database:
    return Database(f"sqlite:///{tmp_path / 'writers.sqlite3'}")


def test_a_writer_waits_for_another_process_holding_the_lock(database: Database) -> None:
    holding, release = FORK.Event(), FORK.Event()
    other = FORK.Process(target=hold_the_lock, args=(database.url, holding, release))
    other.start()
    try:
        assert holding.wait(30)
        entered = threading.Event()
        waiting = threading.Thread(target=take_the_lock, args=(database, entered))
        waiting.start()
        assert not entered.wait(0.5), "entered while another process was writing"
        release.set()
        assert entered.wait(30), "never entered after the other process let go"
        waiting.join()
    finally:
        release.set()
        other.join(30)
    assert other.exitcode == 0


def test_a_forked_child_does_not_inherit_its_parents_lock(database: Database) -> None:
    taken = FORK.Event()
    with database.writing():
        child = FORK.Process(target=take_the_lock, args=(database, taken))
        child.start()
        assert not taken.wait(0.5), "the child wrote while its parent held the lock"
    assert taken.wait(30)
    child.join(30)
    assert child.exitcode == 0


def test_threads_of_one_process_take_turns(database: Database) -> None:
    inside, most = 0, 0
    count = threading.Lock()

    def write() -> None:
        nonlocal inside, most
        for _ in range(200):
            with database.writing():
                with count:
                    inside += 1
                    most = max(most, inside)
                with count:
                    inside -= 1

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 1


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///instance/traceqr.sqlite3", Path("instance/traceqr.sqlite3")),
        ("sqlite:////srv/traceqr/data.db", Path("/srv/traceqr/data.db")),
        ("sqlite+pysqlite:///data.db", Path("data.db")),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("sqlite:///file:shared?mode=memory&cache=shared&uri=true", None),
        ("postgresql+psycopg://postgres@127.0.0.1:5432/traceqr", None),
    ],
)
def test_which_databases_get_the_lock(url: str, expected: Path | None) -> None:
    assert sqlite_file(url) == expected


def test_only_a_sqlite_file_takes_the_lock(database: Database) -> None:
    assert isinstance(database.writing(), WriterLock)
    assert isinstance(Database("sqlite://").writing(), nullcontext)
