"""One request must not take the service down, nor one business fill it: a sheet too large
to write while the request waits is refused at once (413, naming the sheet job), and each
business's jobs, stamps per day and kept sheet files are bounded by the operator's
settings (429 with Retry-After, nothing written)."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from tests.conftest import Api
from tests.web.portal_client import Page, PortalClient
from traceqr.config import load_settings
from traceqr.errors import ConfigError
from traceqr.models import Batch, Job, Stamp
from traceqr.services import jobs
from traceqr.services.businesses import NewBusiness
from traceqr.services.issuance import QuotaExceeded
from traceqr.services.job_leases import JobLease
from traceqr.state import AppState


def api_of(app: Flask, business: NewBusiness) -> Api:
    assert business.api_key is not None
    return Api(app.test_client(), business.api_key)


def stored(state: AppState, batch_id: int) -> tuple[int, int]:
    """(stamps_total on the batch row, stamp rows) as the database holds them."""
    with state.database.session() as session:
        batch = session.get(Batch, batch_id)
        assert batch is not None
        rows = session.scalar(select(func.count()).where(Stamp.batch_id == batch_id))
        return batch.stamps_total, int(rows or 0)


def job_count(state: AppState, business_id: int) -> int:
    with state.database.session() as session:
        return int(session.scalar(select(func.count()).where(Job.business_id == business_id)) or 0)


# --- a sheet too large to wait for --------------------------------------------------------


def test_an_api_sheet_past_the_bound_gets_413_naming_the_sheet_job_at_once(
    make_app: Any, make_business: Any
) -> None:
    app = make_app(sync_sheet_max_stamps=50)
    api = api_of(app, make_business())
    batch = api.batch()
    api.issue(batch["id"], 50)
    at_bound = api.get(f"/batches/{batch['id']}/sheet.pdf")
    assert at_bound.status_code == 200
    assert at_bound.get_data().startswith(b"%PDF")

    api.issue(batch["id"], 1)
    started = time.perf_counter()
    response = api.get(f"/batches/{batch['id']}/sheet.pdf")
    elapsed = time.perf_counter() - started
    assert response.status_code == 413
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == "sheet_too_large"
    assert f"POST /api/v1/batches/{batch['id']}/sheet-jobs" in error["message"]
    assert "51" in error["message"] and "50" in error["message"]
    assert b"%PDF" not in response.get_data()
    assert elapsed < 1.0, elapsed  # refused before any stamp is read

    # The endpoint it names takes the same batch.
    job = api.post(f"/batches/{batch['id']}/sheet-jobs")
    assert job.status_code == 202, job.get_json()
    AppState.of(app).jobs.wait(job.get_json()["id"])


def test_a_100k_batch_is_refused_without_reading_its_stamps(
    app: Flask, api: Api, state: AppState
) -> None:
    """The bound is on the batch's count, not on work done: a 100,000-stamp batch (its
    count set as an issuance would) is refused in well under a second."""
    batch = api.batch()
    api.issue(batch["id"], 1)
    with state.database.session() as session:
        row = session.get(Batch, batch["id"])
        assert row is not None
        row.stamps_total = 100_000
    started = time.perf_counter()
    response = api.get(f"/batches/{batch['id']}/sheet.pdf")
    assert response.status_code == 413
    assert time.perf_counter() - started < 1.0
    assert "/sheet-jobs" in response.get_json()["error"]["message"]


@pytest.fixture
def small_sheets(make_app: Any) -> Flask:
    return make_app(sync_sheet_max_stamps=50, max_sheet_files_per_business=1)


def portal_batch(app: Flask, count: int) -> tuple[PortalClient, int]:
    portal = PortalClient(app.test_client())
    portal.signup("Gốm sứ Minh An", "owner@minhan.vn")
    page = portal.post("/portal/products/new", {"name": "Bình gốm", "origin": "Việt Nam"})
    product_id = int(re.search(r"/portal/products/(\d+)/edit", page.html).group(1))  # type: ignore[union-attr]
    page = portal.post(f"/portal/products/{product_id}/batches/new", {"lot": "BT-1"})
    batch_id = int(re.search(r"/portal/batches/(\d+)/edit", page.html).group(1))  # type: ignore[union-attr]
    page = portal.post(
        f"/portal/batches/{batch_id}/issue",
        {"count": str(count), "active": "y"},
        form_page=f"/portal/batches/{batch_id}",
    )
    job_id = int(re.search(r"/portal/jobs/(\d+)\.json", page.html).group(1))  # type: ignore[union-attr]
    AppState.of(app).jobs.wait(job_id)
    return portal, batch_id


def test_the_portal_offers_the_background_job_for_a_sheet_past_the_bound(
    small_sheets: Flask,
) -> None:
    portal, batch_id = portal_batch(small_sheets, 51)
    query = "page=A4&stamp_mm=30&ecc=H"
    designer_url = f"/portal/batches/{batch_id}/sheet?{query}"
    designer = portal.get(designer_url)
    assert designer.status == 200
    assert f"/portal/batches/{batch_id}/sheet.pdf" not in designer.html  # no link that fails
    assert f"/portal/batches/{batch_id}/sheet-job" in designer.html

    # Someone who follows an old link gets the designer back, told why, not a PDF.
    response = portal.client.get(f"/portal/batches/{batch_id}/sheet.pdf?{query}")
    assert response.status_code == 413
    assert response.mimetype == "text/html"
    page = portal.get(f"/portal/batches/{batch_id}/sheet?{query}")  # the flash was shown
    assert not page.flashes
    refused = Page(response)
    assert refused.flashes and "51" in refused.flashes[0], refused.flashes
    assert f"/portal/batches/{batch_id}/sheet-job" in refused.html

    page = portal.post(f"/portal/batches/{batch_id}/sheet-job?{query}", {}, form_page=designer_url)
    job_id = int(re.search(r"/portal/jobs/(\d+)\.json", page.html).group(1))  # type: ignore[union-attr]
    AppState.of(small_sheets).jobs.wait(job_id)
    assert portal.client.get(f"/portal/jobs/{job_id}/sheet.pdf").data.startswith(b"%PDF")


def test_the_portal_refuses_a_sheet_job_past_the_kept_files_quota(small_sheets: Flask) -> None:
    portal, batch_id = portal_batch(small_sheets, 3)
    query = "page=A4&stamp_mm=30&ecc=H"
    designer = f"/portal/batches/{batch_id}/sheet?{query}"
    page = portal.post(f"/portal/batches/{batch_id}/sheet-job?{query}", {}, form_page=designer)
    job_id = int(re.search(r"/portal/jobs/(\d+)\.json", page.html).group(1))  # type: ignore[union-attr]
    AppState.of(small_sheets).jobs.wait(job_id)
    token = portal.token(designer)
    response = portal.client.post(
        f"/portal/batches/{batch_id}/sheet-job?{query}", data={"csrf_token": token}
    )
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 6 * 24 * 3600  # the first goes in 7 days
    refused = Page(response)
    assert refused.flashes and "1" in refused.flashes[0], refused.flashes
    with AppState.of(small_sheets).database.session() as session:
        kinds = session.scalars(select(Job.kind).where(Job.kind == jobs.RENDER_SHEET)).all()
    assert len(kinds) == 1  # the refused job was not stored


# --- per-business quotas ----------------------------------------------------------------


def test_stamps_past_the_daily_quota_are_refused_and_nothing_is_written(
    make_app: Any, make_business: Any
) -> None:
    app = make_app(max_stamps_per_business_day=100)
    state = AppState.of(app)
    business = make_business()
    api = api_of(app, business)
    batch = api.batch()
    api.issue(batch["id"], 60)

    response = api.post(f"/batches/{batch['id']}/stamps", {"count": 41})
    assert response.status_code == 429
    error = response.get_json()["error"]
    assert error["code"] == "daily_stamp_quota"
    assert "100" in error["message"] and "60" in error["message"]
    assert 0 < int(response.headers["Retry-After"]) <= 24 * 3600  # Vietnam midnight
    assert stored(state, batch["id"]) == (60, 60)

    # A background issuance is refused when asked, not after it has run.
    response = api.post(f"/batches/{batch['id']}/stamp-jobs", {"count": 41})
    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "daily_stamp_quota"
    assert job_count(state, business.business.id) == 0

    # Another business has its own day.
    other = api_of(app, make_business())
    other.issue(other.batch()["id"], 100)

    api.issue(batch["id"], 40)  # up to the quota exactly
    assert stored(state, batch["id"]) == (100, 100)


def test_a_queued_issuance_that_no_longer_fits_fails_with_no_stamps(
    make_app: Any, make_business: Any
) -> None:
    """The quota holds where the job runs (a queue worker or this process), not only where
    it is asked for: stamps issued meanwhile count."""
    app = make_app(max_stamps_per_business_day=100)
    state = AppState.of(app)
    business = make_business()
    api = api_of(app, business)
    batch = api.batch()
    with state.database.session() as session:
        job = jobs.create_issue_job(
            session,
            business_id=business.business.id,
            user_id=None,
            batch_id=batch["id"],
            count=80,
            active=True,
            now=jobs.utcnow(),
        )
        job_id = job.id
    api.issue(batch["id"], 30)  # the queued 80 are not issued yet: these fit
    state.jobs.start(job_id)
    state.jobs.wait(job_id)
    answer = api.get(f"/jobs/{job_id}").get_json()
    assert answer["status"] == "failed"
    assert "100" in answer["error"]
    assert stored(state, batch["id"]) == (30, 30)


def test_jobs_past_the_business_quota_are_refused_until_one_ends(
    make_app: Any, make_business: Any
) -> None:
    app = make_app(max_jobs_per_business=1)
    state = AppState.of(app)
    business = make_business()
    api = api_of(app, business)
    batch = api.batch()
    api.issue(batch["id"], 3)
    with state.database.session() as session:
        running = jobs.create_issue_job(
            session,
            business_id=business.business.id,
            user_id=None,
            batch_id=batch["id"],
            count=5,
            active=True,
            now=jobs.utcnow(),
        )
        running.status = "running"
        running_id = running.id
    lease = JobLease(state.database.engine, running_id).acquire()  # a live process runs it
    try:
        for path, body in (("stamp-jobs", {"count": 5}), ("sheet-jobs", None)):
            response = api.post(f"/batches/{batch['id']}/{path}", body)
            assert response.status_code == 429, response.get_json()
            error = response.get_json()["error"]
            assert error["code"] == "too_many_jobs"
            assert "1" in error["message"]
            assert int(response.headers["Retry-After"]) > 0
        assert job_count(state, business.business.id) == 1
        # Another business is not held up by this one's jobs.
        other = api_of(app, make_business())
        other_batch = other.batch()
        answer = other.post(f"/batches/{other_batch['id']}/stamp-jobs", {"count": 2})
        assert answer.status_code == 202
        state.jobs.wait(answer.get_json()["id"])
    finally:
        lease.release()
    with state.database.engine.begin() as connection:
        connection.execute(update(Job).where(Job.id == running_id).values(status="done"))
    response = api.post(f"/batches/{batch['id']}/stamp-jobs", {"count": 5})
    assert response.status_code == 202
    state.jobs.wait(response.get_json()["id"])


def test_sheet_files_past_the_quota_are_refused_until_the_oldest_expires(
    make_app: Any, make_business: Any
) -> None:
    app = make_app(max_sheet_files_per_business=1)
    state = AppState.of(app)
    business = make_business()
    api = api_of(app, business)
    batch = api.batch()
    api.issue(batch["id"], 3)
    first = api.post(f"/batches/{batch['id']}/sheet-jobs")
    assert first.status_code == 202
    state.jobs.wait(first.get_json()["id"])
    response = api.post(f"/batches/{batch['id']}/sheet-jobs")
    assert response.status_code == 429
    error = response.get_json()["error"]
    assert error["code"] == "sheet_storage_full"
    assert "7" in error["message"]
    retry = int(response.headers["Retry-After"])
    assert 6 * 24 * 3600 < retry <= 7 * 24 * 3600
    assert job_count(state, business.business.id) == 1
    # The sheet already written is still there to download.
    download = api.get(f"/jobs/{first.get_json()['id']}/sheet.pdf")
    assert download.status_code == 200 and download.get_data().startswith(b"%PDF")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TRACEQR_SYNC_SHEET_MAX_STAMPS", "lots"),
        ("TRACEQR_MAX_JOBS_PER_BUSINESS", "-1"),
        ("TRACEQR_MAX_STAMPS_PER_BUSINESS_DAY", "1e6"),
        ("TRACEQR_MAX_SHEET_FILES_PER_BUSINESS", "2.5"),
    ],
)
def test_a_bad_bound_stops_the_service_at_start_naming_the_variable(
    tmp_path: Any, name: str, value: str
) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({"instance_path": tmp_path, "secret_key": "x"}, environ={name: value})


def test_bounds_are_read_from_the_environment(tmp_path: Any) -> None:
    settings = load_settings(
        {"instance_path": tmp_path, "secret_key": "x"},
        environ={
            "TRACEQR_SYNC_SHEET_MAX_STAMPS": "5_000",
            "TRACEQR_MAX_JOBS_PER_BUSINESS": "0",
            "TRACEQR_MAX_STAMPS_PER_BUSINESS_DAY": "2000000",
            "TRACEQR_MAX_SHEET_FILES_PER_BUSINESS": "50",
        },
    )
    assert settings.sync_sheet_max_stamps == 5000
    assert settings.max_jobs_per_business == 0  # no limit
    assert settings.max_stamps_per_business_day == 2_000_000
    assert settings.max_sheet_files_per_business == 50
    defaults = load_settings({"instance_path": tmp_path, "secret_key": "x"}, environ={})
    assert defaults.sync_sheet_max_stamps == 20_000


def test_two_jobs_asked_at_once_cannot_both_take_the_last_place(
    make_app: Any, make_business: Any
) -> None:
    app = make_app(max_jobs_per_business=1)
    state = AppState.of(app)
    business = make_business()
    api = api_of(app, business)
    batch_id = api.batch()["id"]
    quotas = jobs.Quotas.of(state.settings)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def ask() -> None:
        try:
            with state.database.session() as session:
                barrier.wait(timeout=10)
                jobs.create_issue_job(
                    session,
                    business_id=business.business.id,
                    user_id=None,
                    batch_id=batch_id,
                    count=5,
                    active=True,
                    now=jobs.utcnow(),
                    quotas=quotas,
                )
                time.sleep(0.2)  # still uncommitted while the other one asks
            outcomes.append("created")
        except QuotaExceeded:
            outcomes.append("refused")

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["created", "refused"]
    assert job_count(state, business.business.id) == 1
