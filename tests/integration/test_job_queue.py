"""Long jobs on a shared queue: the web node enqueues, a `traceqr worker` on any machine
with the same settings runs it, and the portal reads the progress from the job's row.

Needs Redis (127.0.0.1:6379 here and in CI, where TRACEQR_REQUIRE_REDIS=1 makes its
absence a failure instead of a skip)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import PUBLIC_URL, Api
from traceqr.models import Job, Stamp
from traceqr.services import jobs
from traceqr.services.jobs import QueueJobRunner
from traceqr.state import AppState

REDIS_URL = os.environ.get("TRACEQR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


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


def run_worker(database_url: str, instance: Path, queue: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TRACEQR_")},
        "TRACEQR_DATABASE_URL": database_url,
        "TRACEQR_INSTANCE": str(instance),
        "TRACEQR_PUBLIC_URL": PUBLIC_URL,
        "TRACEQR_QUEUE_URL": REDIS_URL,
        "TRACEQR_QUEUE_NAME": queue,
    }
    return subprocess.run(
        [sys.executable, "-m", "traceqr", "worker", "--burst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_queued_issuance_runs_on_a_worker_process(
    make_app: Any, make_business: Any, database_url: str, instance_path: Path, queue_name: str
) -> None:
    app = make_app(queue_url=REDIS_URL, queue_name=queue_name)
    state = AppState.of(app)
    assert isinstance(state.jobs, QueueJobRunner)
    owner = make_business("Xưởng gốm")
    api = Api(app.test_client(), owner.api_key)
    good = api.batch()
    recalled = api.batch()
    api.post(f"/batches/{recalled['id']}/recall", {"reason": "Lỗi men"})

    now = datetime.now(UTC)
    with state.database.session() as session:
        ids = [
            jobs.create_issue_job(
                session,
                business_id=owner.business.id,
                user_id=None,
                batch_id=batch["id"],
                count=12_000,
                active=True,
                now=now,
            ).id
            for batch in (good, recalled)
        ]
        session.commit()
    for job_id in ids:
        state.jobs.start(job_id)
    with state.database.session() as session:
        assert {session.get(Job, i).status for i in ids} == {"queued"}  # type: ignore[union-attr]

    finished = run_worker(database_url, instance_path, queue_name)
    assert finished.returncode == 0, finished.stderr[-2000:]

    with state.database.session() as session:
        done, failed = (session.get(Job, i) for i in ids)
        assert done is not None and failed is not None
        assert (done.status, done.done, done.total) == ("done", 12_000, 12_000)
        assert failed.status == "failed" and "recalled" in (failed.error or "")
        counts = dict(
            session.execute(select(Stamp.batch_id, func.count()).group_by(Stamp.batch_id)).all()
        )
    assert counts == {good["id"]: 12_000}  # the failed job left nothing
    # The stamps the worker signed verify at the web node.
    url = api.stamp_urls(good["id"])[-1]
    assert api.verify(url)["status"] == "genuine"


def test_a_queued_sheet_is_written_by_a_worker_process_and_downloaded_at_the_web_node(
    make_app: Any, make_business: Any, database_url: str, instance_path: Path, queue_name: str
) -> None:
    app = make_app(queue_url=REDIS_URL, queue_name=queue_name)
    owner = make_business("Xưởng in tem")
    api = Api(app.test_client(), owner.api_key)
    batch = api.batch()
    api.issue(batch["id"], 70)
    job = api.post(f"/batches/{batch['id']}/sheet-jobs").get_json()
    assert job["status"] == "queued" and job["kind"] == "render_sheet"

    # The worker shares the instance folder (a shared volume in production).
    finished = run_worker(database_url, instance_path, queue_name)
    assert finished.returncode == 0, finished.stderr[-2000:]

    done = api.get(f"/jobs/{job['id']}").get_json()
    assert done["status"] == "done", done
    assert done["result"]["stamps"] == 70 and done["result"]["pages"] == 2
    pdf = api.client.get(done["download_url"], headers=api.headers)
    assert pdf.status_code == 200 and pdf.get_data().startswith(b"%PDF-")
    assert len(pdf.get_data()) == done["result"]["bytes"]


def test_the_worker_needs_a_queue(database_url: str, instance_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TRACEQR_")},
        "TRACEQR_DATABASE_URL": database_url,
        "TRACEQR_INSTANCE": str(instance_path),
    }
    result = subprocess.run(
        [sys.executable, "-m", "traceqr", "worker", "--burst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "TRACEQR_QUEUE_URL" in result.stderr
