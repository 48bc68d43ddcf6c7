"""`kill -9` in the middle of a large issuance leaves no partial batch.

A real gunicorn (or `traceqr worker`) process is killed while it is writing stamps; then the
batch has none of that request's stamps, its counters agree with its rows, a job shows as
failed with no stamps, and issuing again works and numbers the stamps from 1.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from tests.conftest import Api
from tests.servers import Process, Server, service_env
from traceqr.db import Database, upgrade_schema
from traceqr.models import Batch, Job, Stamp
from traceqr.services.businesses import create_business
from traceqr.services.identity import Reviewer
from traceqr.services.job_leases import ORPHANED_MESSAGE
from traceqr.state import AppState

pytestmark = pytest.mark.slow

REDIS_URL = os.environ.get("TRACEQR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def kill_database_url(database_url: str, tmp_path: Path) -> str:
    """PostgreSQL: the run's test database. SQLite: a file of this test's own, so that the
    growth of its WAL shows this test's writes alone."""
    if not database_url.startswith("sqlite"):
        return database_url
    url = f"sqlite:///{tmp_path / 'kill.sqlite3'}"
    database = Database(url)
    upgrade_schema(database)
    database.dispose()
    return url


@pytest.fixture
def probe(kill_database_url: str) -> Iterator[Database]:
    database = Database(kill_database_url)
    yield database
    database.dispose()


@pytest.fixture
def setup(make_app: Any, kill_database_url: str) -> tuple[str, int]:
    """A business's API key and an empty batch, written through the app as usual."""
    app = make_app(database_url=kill_database_url)
    state = AppState.of(app)
    with state.database.session() as session:
        owner = create_business(
            session,
            state.keystore,
            name="Hợp tác xã gốm",
            email=f"gom-{uuid.uuid4().hex[:6]}@example.vn",
            password=None,
            now=datetime.now(UTC),
            profile={},
            vouched_by=Reviewer.operator("tests"),
        )
    batch = Api(app.test_client(), owner.api_key).batch()
    return owner.api_key, batch["id"]


def wal_size(database: Database) -> int:
    wal = Path(f"{database.engine.url.database}-wal")
    return wal.stat().st_size if wal.exists() else 0


def stamps_being_written(database: Database, baseline_wal: int) -> bool:
    """True once an uncommitted issuance has written stamp rows (not only begun)."""
    if database.engine.dialect.name == "postgresql":
        with database.engine.connect() as connection:
            return bool(
                connection.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                        "AND query LIKE 'COPY stamps%' AND backend_xid IS NOT NULL"
                    )
                ).scalar_one()
            )
    # SQLite spills the uncommitted transaction's pages into the WAL as its cache fills.
    return wal_size(database) > baseline_wal + 2_000_000


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def batch_state(database: Database, batch_id: int) -> tuple[int, int, int]:
    """(stamp rows, batch.stamps_total, highest seq) as committed."""
    with database.session() as session:
        rows = session.scalar(select(func.count()).where(Stamp.batch_id == batch_id))
        total = session.scalar(select(Batch.stamps_total).where(Batch.id == batch_id))
        top = session.scalar(select(func.max(Stamp.seq)).where(Stamp.batch_id == batch_id))
    return int(rows or 0), int(total or 0), int(top or 0)


def post_in_background(server: Server, path: str, body: Any, api_key: str) -> dict[str, Any]:
    outcome: dict[str, Any] = {}

    def send() -> None:
        try:
            outcome["answer"] = server.request("POST", path, body, api_key, timeout=600)
        except OSError as exc:  # the server died under us: what the test expects
            outcome["error"] = exc

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    outcome["thread"] = thread
    return outcome


def test_killing_the_server_mid_issuance_leaves_no_partial_batch(
    setup: tuple[str, int],
    kill_database_url: str,
    instance_path: Path,
    probe: Database,
    tmp_path: Path,
) -> None:
    api_key, batch_id = setup
    env = service_env(kill_database_url, instance_path)
    server = Server(env, tmp_path / "server1.log")
    try:
        baseline = wal_size(probe) if probe.engine.dialect.name == "sqlite" else 0
        outcome = post_in_background(
            server, f"/api/v1/batches/{batch_id}/stamps", {"count": 100_000}, api_key
        )
        wait_for(lambda: stamps_being_written(probe, baseline), "stamps being written")
    finally:
        server.kill()
    outcome["thread"].join(timeout=60)
    assert "answer" not in outcome, f"the issuance answered before the kill: {outcome}"

    rows, total, top = batch_state(probe, batch_id)
    assert (rows, total, top) == (0, 0, 0), "a killed issuance must leave no stamps at all"

    retry = Server(env, tmp_path / "server2.log")
    try:
        status, answer = retry.request(
            "POST", f"/api/v1/batches/{batch_id}/stamps", {"count": 2000}, api_key
        )
        assert status == 201, answer
        assert (answer["count"], answer["first_seq"], answer["last_seq"]) == (2000, 1, 2000)
        status, batch = retry.request("GET", f"/api/v1/batches/{batch_id}", api_key=api_key)
        assert batch["stamps"]["total"] == 2000
    finally:
        retry.stop()
    assert batch_state(probe, batch_id) == (2000, 2000, 2000)


def job_status(server: Server, job_id: int, api_key: str) -> dict[str, Any]:
    status, job = server.request("GET", f"/api/v1/jobs/{job_id}", api_key=api_key)
    assert status == 200, job
    return job


def wait_job_done(server: Server, job_id: int, api_key: str) -> dict[str, Any]:
    answers: list[dict[str, Any]] = []

    def finished() -> bool:
        answers.append(job_status(server, job_id, api_key))
        return answers[-1]["status"] in ("done", "failed")

    wait_for(finished, f"job {job_id} to finish")
    return answers[-1]


def start_job(server: Server, batch_id: int, count: int, api_key: str) -> int:
    status, job = server.request(
        "POST", f"/api/v1/batches/{batch_id}/stamp-jobs", {"count": count}, api_key
    )
    assert status == 202, job
    return int(job["id"])


def test_a_background_job_killed_with_its_server_fails_visibly_and_leaves_nothing(
    setup: tuple[str, int],
    kill_database_url: str,
    instance_path: Path,
    probe: Database,
    tmp_path: Path,
) -> None:
    api_key, batch_id = setup
    env = service_env(kill_database_url, instance_path)
    server = Server(env, tmp_path / "server1.log")
    try:
        baseline = wal_size(probe) if probe.engine.dialect.name == "sqlite" else 0
        job_id = start_job(server, batch_id, 400_000, api_key)
        wait_for(lambda: stamps_being_written(probe, baseline), "the job writing stamps")
        assert job_status(server, job_id, api_key)["status"] == "running"
    finally:
        server.kill()

    assert batch_state(probe, batch_id) == (0, 0, 0)
    restarted = Server(env, tmp_path / "server2.log")
    try:
        wait_for(
            lambda: job_status(restarted, job_id, api_key)["status"] != "running",
            "the killed job's lease to go",
            timeout=60,
        )
        job = job_status(restarted, job_id, api_key)
        assert job["status"] == "failed"
        assert job["error"] == ORPHANED_MESSAGE
        assert job["done"] == 0 and job["result"] is None

        again = start_job(restarted, batch_id, 3000, api_key)
        finished = wait_job_done(restarted, again, api_key)
        assert finished["status"] == "done", finished
        assert finished["result"] == {
            "count": 3000,
            "first_seq": 1,
            "last_seq": 3000,
            "test": False,
        }
    finally:
        restarted.stop()
    assert batch_state(probe, batch_id) == (3000, 3000, 3000)


@pytest.fixture
def queue_name() -> str:
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisDown

    try:
        Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except RedisDown:
        if os.environ.get("TRACEQR_REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis is not reachable at {REDIS_URL}")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    return f"traceqr-test-{uuid.uuid4().hex[:10]}"


def test_a_queue_worker_killed_mid_job_leaves_nothing_and_the_job_fails(
    setup: tuple[str, int],
    kill_database_url: str,
    instance_path: Path,
    probe: Database,
    tmp_path: Path,
    queue_name: str,
) -> None:
    api_key, batch_id = setup
    env = service_env(
        kill_database_url, instance_path, TRACEQR_QUEUE_URL=REDIS_URL, TRACEQR_QUEUE_NAME=queue_name
    )
    server = Server(env, tmp_path / "server.log")
    worker = Process([sys.executable, "-m", "traceqr", "worker"], env, tmp_path / "worker1.log")
    try:
        baseline = wal_size(probe) if probe.engine.dialect.name == "sqlite" else 0
        job_id = start_job(server, batch_id, 400_000, api_key)
        wait_for(lambda: stamps_being_written(probe, baseline), "the worker writing stamps")
        worker.kill()

        assert batch_state(probe, batch_id) == (0, 0, 0)
        # The web node is still up. The database notices the dead worker's connection (and
        # drops its lease) a moment after the kill.
        wait_for(
            lambda: job_status(server, job_id, api_key)["status"] != "running",
            "the killed job's lease to go",
            timeout=60,
        )
        job = job_status(server, job_id, api_key)
        assert (job["status"], job["error"], job["done"]) == ("failed", ORPHANED_MESSAGE, 0)

        again = start_job(server, batch_id, 3000, api_key)
        worker = Process(
            [sys.executable, "-m", "traceqr", "worker", "--burst"], env, tmp_path / "worker2.log"
        )
        assert worker.popen.wait(timeout=300) == 0, worker.log()
        finished = job_status(server, again, api_key)
        assert finished["status"] == "done", (finished, worker.log())
        assert finished["result"] == {
            "count": 3000,
            "first_seq": 1,
            "last_seq": 3000,
            "test": False,
        }
        # The killed job is never taken up again, even if the queue hands it out once more.
        with probe.session() as session:
            killed = session.get(Job, job_id)
            assert killed is not None and killed.status == "failed"
    finally:
        worker.kill()
        server.stop()
    assert batch_state(probe, batch_id) == (3000, 3000, 3000)


def stamps_in_backup(archive: Path, batch_id: int, work: Path) -> int:
    """How many stamps of ``batch_id`` the backup archive holds."""
    import sqlite3
    import subprocess
    import tarfile

    with tarfile.open(archive) as tar:
        names = tar.getnames()
        tar.extractall(work, filter="data")
    if "database.sqlite3" in names:
        connection = sqlite3.connect(work / "database.sqlite3")
        try:
            return int(
                connection.execute(
                    "SELECT count(*) FROM stamps WHERE batch_id = ?", (batch_id,)
                ).fetchone()[0]
            )
        finally:
            connection.close()
    script = subprocess.run(
        ["pg_restore", "--data-only", "--table=stamps", "-f", "-", str(work / "database.pgdump")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = script.split("FROM stdin;\n", 1)[1].split("\n\\.\n", 1)[0].splitlines()
    return sum(1 for row in rows if row.split("\t")[1] == str(batch_id))


def test_a_backup_taken_during_an_issuance_holds_none_of_it(
    setup: tuple[str, int],
    kill_database_url: str,
    instance_path: Path,
    probe: Database,
    tmp_path: Path,
) -> None:
    """`traceqr backup` runs beside the service: it neither waits for nor blocks a large
    issuance, and copies the database as it was committed."""
    from click.testing import CliRunner

    from traceqr.cli import main

    api_key, batch_id = setup
    env = service_env(kill_database_url, instance_path)
    server = Server(env, tmp_path / "server.log")
    try:
        status, answer = server.request(
            "POST", f"/api/v1/batches/{batch_id}/stamps", {"count": 1000}, api_key
        )
        assert status == 201, answer
        baseline = wal_size(probe) if probe.engine.dialect.name == "sqlite" else 0
        outcome = post_in_background(
            server, f"/api/v1/batches/{batch_id}/stamps", {"count": 100_000}, api_key
        )
        wait_for(lambda: stamps_being_written(probe, baseline), "stamps being written")
        archive = tmp_path / "during.tar.gz"
        result = CliRunner().invoke(main, ["backup", str(archive)], env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        outcome["thread"].join(timeout=300)
        assert outcome["answer"][0] == 201, outcome
    finally:
        server.stop()
    assert batch_state(probe, batch_id) == (101_000, 101_000, 101_000)
    assert stamps_in_backup(archive, batch_id, tmp_path / "unpacked") == 1000
