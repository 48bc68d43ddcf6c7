"""Inspectors and authority officers see their own provinces: lists filter before they cut,
another province's cases and reports do not exist for them, and the audit log, which only
proves anything whole, goes to national officers only."""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from flask import Flask
from PIL import Image

from tests.conftest import Api
from tests.web.portal_client import PortalClient
from traceqr.models import Batch, Report, Stamp
from traceqr.services.officials import create_official
from traceqr.services.uploads import private_folder, store_image
from traceqr.state import AppState, utcnow

PASSWORD = "officer password 1"
HANOI, BACNINH = "ha-noi", "bac-ninh"


def sign_in(app: Flask, email: str, provinces: list[str], role: str = "inspector") -> PortalClient:
    with AppState.of(app).database.session() as session:
        create_official(
            session,
            email=email,
            name="Cán bộ " + email.split("@")[0],
            role=role,
            password=PASSWORD,
            provinces=provinces,
            now=utcnow(),
        )
    client = PortalClient(app.test_client())
    area = "/inspect" if role == "inspector" else "/authority"
    page = client.post(f"{area}/login", {"email": email, "password": PASSWORD})
    assert page.status == 200 and page.endpoint != f"{area[1:]}.login", page.text[:300]
    return client


def photo_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 40, 40)).save(buffer, "PNG")
    return buffer.getvalue()


def add_report(app: Flask, province: str, shop: str, *, stamp_id: int | None = None) -> int:
    """A shopper's report, as the public form stores it, with a photo."""
    state = AppState.of(app)
    folder = private_folder(state.settings.uploads_path)
    folder.mkdir(parents=True, exist_ok=True)
    photo = store_image(photo_bytes(), folder, field="photo", max_bytes=1_000_000).filename
    with state.database.session() as session:
        stamp = session.get(Stamp, stamp_id) if stamp_id else None
        batch = session.get(Batch, stamp.batch_id) if stamp else None
        report = Report(
            stamp_id=stamp_id,
            business_id=batch.business_id if batch else None,
            status_at_report="genuine",
            shop_name=shop,
            province_code=province,
            photo=photo,
            created_at=utcnow(),
        )
        session.add(report)
        session.commit()
        return report.id


def stamp_of(app: Flask, api: Api) -> tuple[str, int]:
    batch = api.batch()
    api.issue(batch["id"], 1)
    url = api.stamp_urls(batch["id"])[0]
    with AppState.of(app).database.session() as session:
        stamp_id = session.query(Stamp.id).filter(Stamp.batch_id == batch["id"]).scalar()
    return url, stamp_id


def open_case(inspector: PortalClient, title: str) -> int:
    page = inspector.post("/inspect/cases", {"title": title})
    return int(re.search(r"/inspect/cases/(\d+)/notes", page.html).group(1))  # type: ignore[union-attr]


def report_ids(page_html: str) -> set[int]:
    return {int(n) for n in re.findall(r'data-report="(\d+)"', page_html)}


def test_an_inspector_sees_the_newest_reports_of_their_province_among_many_elsewhere(
    app: Flask,
) -> None:
    ours = add_report(app, HANOI, "Chợ Đồng Xuân, quầy 12")
    with AppState.of(app).database.session() as session:
        later = utcnow() + timedelta(minutes=1)
        session.add_all(
            Report(status_at_report="invalid", province_code=BACNINH, created_at=later)
            for _ in range(300)
        )
        session.commit()
    inspector = sign_in(app, "kiem.tra@hanoi.qltt.gov.vn", [HANOI])
    listed = inspector.get("/inspect/reports")
    assert report_ids(listed.html) == {ours}
    assert "Chợ Đồng Xuân, quầy 12" in listed.text
    assert ours in report_ids(inspector.get("/inspect/").html)  # the home page's latest


@dataclass
class TwoProvinces:
    hanoi: PortalClient  # an inspector of Hà Nội
    hanoi_case: int
    hanoi_report: int
    bacninh_case: int  # opened by Bắc Ninh, about a Bắc Ninh producer's stamp
    bacninh_report: int
    bacninh_stamp: str


@pytest.fixture
def two(app: Flask, api: Api, client: object, make_business: object) -> TwoProvinces:
    other = make_business("Gốm Phù Lãng", province_code=BACNINH)  # type: ignore[operator]
    bacninh_api = Api(client, other.api_key)  # type: ignore[arg-type]
    _url, hanoi_stamp = stamp_of(app, api)
    bacninh_url, bacninh_stamp = stamp_of(app, bacninh_api)
    hanoi_report = add_report(app, HANOI, "Hàng Gai 5", stamp_id=hanoi_stamp)
    bacninh_report = add_report(app, BACNINH, "Chợ Phù Lãng", stamp_id=bacninh_stamp)
    bacninh = sign_in(app, "kiem.tra@bacninh.qltt.gov.vn", [BACNINH])
    bacninh_case = open_case(bacninh, "Gốm Phù Lãng giả")
    bacninh.post(
        f"/inspect/cases/{bacninh_case}/stamps",
        {"code": bacninh_url},
        form_page=f"/inspect/cases/{bacninh_case}",
    )
    bacninh.post(
        f"/inspect/cases/{bacninh_case}/reports/{bacninh_report}", form_page="/inspect/reports"
    )
    hanoi = sign_in(app, "kiem.tra@hanoi.qltt.gov.vn", [HANOI])
    return TwoProvinces(
        hanoi,
        open_case(hanoi, "Hàng Gai"),
        hanoi_report,
        bacninh_case,
        bacninh_report,
        bacninh_url,
    )


def test_another_provinces_case_and_report_do_not_exist_for_an_inspector(
    app: Flask, two: TwoProvinces
) -> None:
    hanoi, theirs = two.hanoi.client, two.bacninh_case
    for path in (
        f"/inspect/cases/{theirs}",
        f"/inspect/cases/{theirs}/case-file.json",
        f"/inspect/cases/{theirs}/case-file.pdf",
        f"/inspect/reports/{two.bacninh_report}/photo",
    ):
        assert hanoi.get(path).status_code == 404, path
    with hanoi.get(f"/inspect/reports/{two.hanoi_report}/photo") as own_photo:
        assert own_photo.status_code == 200 and own_photo.mimetype.startswith("image/")
    assert f"/inspect/cases/{theirs}" not in two.hanoi.get("/inspect/cases").html
    assert two.bacninh_report not in report_ids(two.hanoi.get("/inspect/reports").html)
    # Looking up the other province's stamp shows the stamp, not their case or report.
    dossier = two.hanoi.get("/inspect/stamp", query_string={"code": two.bacninh_stamp})
    assert 'data-status="genuine"' in dossier.html
    assert f"/inspect/cases/{theirs}" not in dossier.html and "Chợ Phù Lãng" not in dossier.text

    token = two.hanoi.token(f"/inspect/cases/{two.hanoi_case}")
    into_theirs = hanoi.post(
        f"/inspect/cases/{theirs}/reports/{two.hanoi_report}", data={"csrf_token": token}
    )
    their_report_into_ours = hanoi.post(
        f"/inspect/cases/{two.hanoi_case}/reports/{two.bacninh_report}",
        data={"csrf_token": token},
    )
    assert into_theirs.status_code == 404 and their_report_into_ours.status_code == 404
    with AppState.of(app).database.session() as session:
        assert session.get(Report, two.hanoi_report).case_id is None  # type: ignore[union-attr]
        assert session.get(Report, two.bacninh_report).case_id == theirs  # type: ignore[union-attr]


def test_a_closed_case_takes_no_more_reports(app: Flask, two: TwoProvinces) -> None:
    case = f"/inspect/cases/{two.hanoi_case}"
    two.hanoi.post(f"{case}/close", {"outcome": "Đã xử phạt"}, form_page=case)
    page = two.hanoi.post(f"{case}/reports/{two.hanoi_report}", form_page="/inspect/reports")
    assert "vụ việc đã kết thúc" in page.text.lower()
    document = json.loads(two.hanoi.client.get(f"{case}/case-file.json").data)
    assert document["case"]["status"] == "closed" and document["reports"] == []
    with AppState.of(app).database.session() as session:
        assert session.get(Report, two.hanoi_report).case_id is None  # type: ignore[union-attr]


def test_the_audit_log_goes_whole_to_national_officers_only(app: Flask, api: Api) -> None:
    api.issue(api.batch()["id"], 1)
    url = "/authority/audit/log.jsonl"
    provincial = sign_in(app, "sct@bacninh.gov.vn", [BACNINH], role="authority")
    refused = provincial.client.get(url)
    assert refused.status_code == 403 and b"stamps.issue" not in refused.data
    national = sign_in(app, "cuc@moit.gov.vn", [], role="authority")
    with national.client.get(url) as whole:
        assert whole.status_code == 200
        actions = [json.loads(line)["action"] for line in whole.get_data(as_text=True).splitlines()]
    assert "stamps.issue" in actions


@pytest.mark.parametrize("after", ["99999999999999999999", "9223372036854775808", "-1"])
def test_an_impossible_after_is_a_bad_request(app: Flask, after: str) -> None:
    national = sign_in(app, "cuc@moit.gov.vn", [], role="authority")
    assert national.client.get(f"/authority/audit/log.jsonl?after={after}").status_code == 400
    with national.client.get("/authority/audit/log.jsonl?after=9223372036854775807") as last:
        assert last.status_code == 200 and last.data == b""  # nothing can come after it
