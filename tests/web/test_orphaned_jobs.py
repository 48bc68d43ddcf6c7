"""A job whose process is gone shows as failed, with no stamps; a live one is left alone.

The kill tests (tests/integration/test_killed_issuance.py) do it with real processes; here
the lease is held and dropped by hand to pin down each case."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import update

from tests.conftest import Api
from tests.web.portal_client import PortalClient
from traceqr.models import Batch, Job
from traceqr.services import jobs
from traceqr.services.job_leases import ORPHANED_MESSAGE, JobLease
from traceqr.state import AppState


def job_row(state: AppState, business_id: int, batch_id: int, status: str, age: float) -> int:
    """A job row as a runner would have left it, ``age`` seconds old."""
    created = datetime.now(UTC) - timedelta(seconds=age)
    with state.database.session() as session:
        job = jobs.create_issue_job(
            session,
            business_id=business_id,
            user_id=None,
            batch_id=batch_id,
            count=5000,
            active=True,
            now=created,
        )
        job_id = job.id
    if status != "queued":
        with state.database.engine.begin() as connection:
            connection.execute(
                update(Job).where(Job.id == job_id).values(status=status, started_at=created)
            )
    return job_id


def test_an_unleased_running_job_fails_and_a_leased_one_runs_on(
    state: AppState, api: Api, business: Any
) -> None:
    batch = api.batch()
    business_id = business.business.id
    dead = job_row(state, business_id, batch["id"], "running", age=5)
    alive = job_row(state, business_id, batch["id"], "running", age=5)
    lease = JobLease(state.database.engine, alive).acquire()
    try:
        answer = api.get(f"/jobs/{dead}").get_json()
        assert answer["status"] == "failed"
        assert answer["error"] == ORPHANED_MESSAGE
        assert answer["done"] == 0 and answer["result"] is None
        assert api.get(f"/jobs/{alive}").get_json()["status"] == "running"
    finally:
        lease.release()
    assert api.get(f"/jobs/{alive}").get_json()["status"] == "failed"
    assert api.get(f"/batches/{batch['id']}").get_json()["stamps"]["total"] == 0


def test_a_queued_job_gets_a_moment_before_it_counts_as_orphaned(
    state: AppState, api: Api, business: Any
) -> None:
    batch = api.batch()
    fresh = job_row(state, business.business.id, batch["id"], "queued", age=5)
    stale = job_row(state, business.business.id, batch["id"], "queued", age=600)
    assert api.get(f"/jobs/{fresh}").get_json()["status"] == "queued"
    assert api.get(f"/jobs/{stale}").get_json()["status"] == "failed"


def test_a_failed_orphan_is_never_run_later(state: AppState, api: Api, business: Any) -> None:
    """A queue that hands out a killed job again finds it failed and leaves it."""
    batch = api.batch()
    job_id = job_row(state, business.business.id, batch["id"], "queued", age=600)
    assert api.get(f"/jobs/{job_id}").get_json()["status"] == "failed"
    jobs.run_issue_job(state.database, state.keystore, state.pins, job_id, max_stamps=10_000)
    answer = api.get(f"/jobs/{job_id}").get_json()
    assert (answer["status"], answer["error"]) == ("failed", ORPHANED_MESSAGE)
    assert api.get(f"/batches/{batch['id']}").get_json()["stamps"]["total"] == 0


def test_the_portal_shows_the_interrupted_job_as_failed(app: Flask) -> None:
    state = AppState.of(app)
    portal = PortalClient(app.test_client())
    portal.signup("Xưởng mây tre Phú Vinh", "owner@phuvinh.vn")
    page = portal.post("/portal/products/new", {"name": "Giỏ mây", "origin": "Việt Nam"})
    product_id = int(re.search(r"/portal/products/(\d+)/edit", page.html).group(1))  # type: ignore[union-attr]
    page = portal.post(f"/portal/products/{product_id}/batches/new", {"lot": "PV-01"})
    batch_id = int(re.search(r"/portal/batches/(\d+)/edit", page.html).group(1))  # type: ignore[union-attr]
    with state.database.session() as session:
        batch = session.get(Batch, batch_id)
        assert batch is not None
        business_id = batch.business_id
    job_id = job_row(state, business_id, batch_id, "running", age=5)

    listed = portal.get("/portal/?lang=en")  # the dashboard's recent jobs
    line = next(li for li in listed.html.split("<li>") if f"/portal/jobs/{job_id}" in li)
    assert "Failed" in line, line

    shown = portal.get(f"/portal/jobs/{job_id}?lang=en")
    assert shown.status == 200
    assert 'data-job-status="failed"' in shown.html
    assert "the job was interrupted (its process stopped) before it finished" in shown.text
    assert "No stamps were issued." in shown.text
    assert '<meta http-equiv="refresh"' not in shown.html  # nothing left to wait for
