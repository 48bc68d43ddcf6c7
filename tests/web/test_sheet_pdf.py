"""The printed sheet from the API, read back as a printer's output would be."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from tests.conftest import Api
from tests.sheet_reading import read_sheet
from traceqr.cli import main
from traceqr.domain.sheet import SheetLayout
from traceqr.models import Batch, Job
from traceqr.services import jobs


def test_every_stamp_on_the_sheet_decodes_once_and_verifies_genuine(api: Api) -> None:
    layout = SheetLayout()
    batch = api.batch(lot="BT-2611-A")
    count = layout.per_page + 7  # two pages
    api.issue(batch["id"], count)
    response = api.get(f"/batches/{batch['id']}/sheet.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    pdf = response.get_data()
    assert b"/Subtype /Image" not in pdf  # vector, not raster

    cells = read_sheet(pdf, layout)
    assert [len(texts) for texts in cells] == [1] * count  # one QR per stamp, no other QR
    decoded = [texts[0] for texts in cells]
    assert decoded == api.stamp_urls(batch["id"])  # each stamp once, in issue order
    for url in decoded:
        assert api.verify(url)["status"] == "genuine"


def test_sheet_parameters_change_the_layout(api: Api) -> None:
    layout = SheetLayout(stamp_mm=30, margin_mm=10, gap_mm=3, ecc="H", cut_marks=True)
    batch = api.batch()
    api.issue(batch["id"], 5)
    response = api.get(
        f"/batches/{batch['id']}/sheet.pdf?stamp_mm=30&margin_mm=10&gap_mm=3&ecc=h&cut_marks=1"
    )
    assert response.status_code == 200
    cells = read_sheet(response.get_data(), layout)
    assert sorted(texts[0] for texts in cells) == sorted(api.stamp_urls(batch["id"]))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("stamp_mm=10", "layout"),  # modules would be under 0.4 mm
        ("stamp_mm=abc", "stamp_mm"),
        ("stamp_mm=-5", "stamp_mm"),
        ("margin_mm=200", "layout"),
        ("ecc=Z", "ecc"),
        ("gap_mm=nan", "gap_mm"),
    ],
)
def test_bad_sheet_parameters_get_400_with_the_reason(api: Api, query: str, field: str) -> None:
    batch = api.batch()
    api.issue(batch["id"], 1)
    response = api.get(f"/batches/{batch['id']}/sheet.pdf?{query}")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["field"] == field, error
    assert error["message"]


def test_a_batch_without_stamps_has_no_sheet(api: Api) -> None:
    batch = api.batch()
    response = api.get(f"/batches/{batch['id']}/sheet.pdf")
    assert response.status_code == 400
    assert "no stamps" in response.get_json()["error"]["message"]


# --- sheets written by a background job -----------------------------------------------------


def test_a_sheet_job_writes_the_batch_sheet_to_download(
    api: Api, other_api: Api, state: Any
) -> None:
    layout = SheetLayout(stamp_mm=30, ecc="H")
    batch = api.batch(lot="BT-JOB-1")
    count = layout.per_page + 3  # two pages
    api.issue(batch["id"], count)
    response = api.post(f"/batches/{batch['id']}/sheet-jobs?stamp_mm=30&ecc=H")
    assert response.status_code == 202, response.get_json()
    job = response.get_json()
    assert job["kind"] == "render_sheet" and job["total"] == count
    assert job["download_url"] is None  # nothing to download before it is done
    assert response.headers["Location"] == job["url"]
    state.jobs.wait(job["id"])

    done = api.get(f"/jobs/{job['id']}").get_json()
    assert done["status"] == "done", done
    assert done["done"] == count
    assert done["result"]["stamps"] == count and done["result"]["pages"] == 2
    assert done["download_url"] == f"/api/v1/jobs/{job['id']}/sheet.pdf"
    download = api.client.get(done["download_url"], headers=api.headers)
    assert download.status_code == 200 and download.mimetype == "application/pdf"
    pdf = download.get_data()
    assert len(pdf) == done["result"]["bytes"] == int(download.headers["Content-Length"])
    cells = read_sheet(pdf, layout)
    assert [texts[0] for texts in cells] == api.stamp_urls(batch["id"])

    # Another business sees neither the job nor its sheet.
    assert other_api.get(f"/jobs/{job['id']}").status_code == 404
    assert other_api.client.get(done["download_url"], headers=other_api.headers).status_code == 404


def test_a_sheet_job_with_a_bad_layout_is_refused_before_it_is_queued(api: Api, state: Any) -> None:
    batch = api.batch()
    api.issue(batch["id"], 1)
    with state.database.session() as session:
        before = session.scalar(select(func.count()).select_from(Job))
    for query, field in (("stamp_mm=10", "layout"), ("ecc=Z", "ecc"), ("gap_mm=x", "gap_mm")):
        response = api.post(f"/batches/{batch['id']}/sheet-jobs?{query}")
        assert response.status_code == 400, query
        assert response.get_json()["error"]["field"] == field
    empty = api.batch()
    response = api.post(f"/batches/{empty['id']}/sheet-jobs")
    assert response.status_code == 400
    assert "no stamps" in response.get_json()["error"]["message"]
    with state.database.session() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == before


def order_sheet(state: Any, business_id: int, batch_id: int, layout: SheetLayout) -> int:
    """A sheet job ordered through the service and left queued, to run by hand."""
    with state.database.session() as session:
        job = jobs.create_sheet_job(
            session,
            business_id=business_id,
            user_id=None,
            batch=session.get(Batch, batch_id),
            layout=layout,
            side_text=None,
            with_logo=False,
            now=datetime.now(UTC),
        )
        session.commit()
        return job.id


def test_a_failed_sheet_job_leaves_no_file(api: Api, business: Any, state: Any) -> None:
    batch = api.batch()
    api.issue(batch["id"], 3)
    # Modules under 0.4 mm: found only while printing.
    job_id = order_sheet(state, business.business.id, batch["id"], SheetLayout(stamp_mm=12))
    jobs.run_sheet_job(state.database, state.settings, state.pins, job_id)
    failed = api.get(f"/jobs/{job_id}").get_json()
    assert failed["status"] == "failed" and "0.4 mm" in failed["error"]
    assert failed["download_url"] is None
    folder = state.settings.instance_path / "jobs"
    assert not list(folder.glob(f"sheet-{job_id}-*"))
    assert (
        api.client.get(f"/api/v1/jobs/{job_id}/sheet.pdf", headers=api.headers).status_code == 404
    )


def sheet_path(state: Any, job_id: int) -> Path:
    with state.database.session() as session:
        row = session.get(Job, job_id)
        assert row is not None
        return jobs.sheet_file(state.settings.instance_path, row)


def done_sheet_job(api: Api, state: Any) -> tuple[dict[str, Any], Path]:
    """A batch of two stamps and its sheet, written by a job: (the job, its file)."""
    batch = api.batch()
    api.issue(batch["id"], 2)
    job = api.post(f"/batches/{batch['id']}/sheet-jobs").get_json()
    state.jobs.wait(job["id"])
    return job, sheet_path(state, job["id"])


def test_sheets_are_kept_seven_days_and_private(
    api: Api, other_api: Api, state: Any, instance_path: Path
) -> None:
    job, path = done_sheet_job(api, state)
    assert path.exists()
    # The sheet holds genuine stamps: only the service's user may read it.
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with state.database.session() as session:
        row = session.get(Job, job["id"])
        assert row is not None
        now = datetime.now(UTC)
        assert jobs.remove_old_sheets(session, state.settings.instance_path, now) == 0
        row.finished_at = now - timedelta(days=jobs.SHEET_FILE_DAYS, minutes=1)
        session.commit()
    # Any business's next sheet job clears old files; the old job's row stays, without a
    # download.
    other_batch = other_api.batch()
    other_api.issue(other_batch["id"], 1)
    newer = other_api.post(f"/batches/{other_batch['id']}/sheet-jobs").get_json()
    state.jobs.wait(newer["id"])
    assert not path.exists()
    assert sheet_path(state, newer["id"]).exists()
    old = api.get(f"/jobs/{job['id']}").get_json()
    assert old["status"] == "done" and old["download_url"] is None


def test_the_daily_purge_removes_old_sheets(
    api: Api, state: Any, database_url: str, instance_path: Path
) -> None:
    job, path = done_sheet_job(api, state)
    with state.database.session() as session:
        row = session.get(Job, job["id"])
        assert row is not None
        row.finished_at = datetime.now(UTC) - timedelta(days=jobs.SHEET_FILE_DAYS + 1)
        session.commit()
    env = {"TRACEQR_DATABASE_URL": database_url, "TRACEQR_INSTANCE": str(instance_path)}
    result = CliRunner().invoke(main, ["scans", "purge"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "removed 1 old sheet files" in result.output
    assert not path.exists()


def test_a_sheet_job_prints_the_stamps_ordered_not_those_issued_later(
    api: Api, business: Any, state: Any
) -> None:
    batch = api.batch()
    api.issue(batch["id"], 4)
    job_id = order_sheet(state, business.business.id, batch["id"], SheetLayout())
    api.issue(batch["id"], 3)  # issued after the sheet was ordered, before it is written
    jobs.run_sheet_job(state.database, state.settings, state.pins, job_id)
    done = api.get(f"/jobs/{job_id}").get_json()
    assert done["status"] == "done", done
    assert done["result"]["stamps"] == 4 and done["done"] == done["total"] == 4
    pdf = api.client.get(done["download_url"], headers=api.headers).get_data()
    cells = read_sheet(pdf, SheetLayout())
    assert [texts[0] for texts in cells] == api.stamp_urls(batch["id"])[:4]
