"""The supply chain in the portal, as businesses use it in a browser: facilities, steps on
a batch, a CSV import, and a shipment a partner accepts."""

from __future__ import annotations

import io
import json
import re

import pytest
from flask import Flask
from sqlalchemy import func, select

from tests.web.portal_client import PortalClient
from tests.web.test_portal import make_batch, make_product
from tests.web.verified import verify
from traceqr.models import TraceEventRecord
from traceqr.state import AppState


@pytest.fixture
def owner(app: Flask) -> PortalClient:
    portal = PortalClient(app.test_client())
    portal.signup("HTX Chè Tân Cương", "htx@tancuong.vn")
    return portal


@pytest.fixture
def partner(app: Flask) -> PortalClient:
    portal = PortalClient(app.test_client())
    portal.signup("Chè Hà Nội Sóc Sơn", "chehanoi@socson.vn")
    page = portal.post(
        "/portal/profile",
        {"name": "Chè Hà Nội Sóc Sơn", "tax_code": "0109900009", "province_code": "ha-noi"},
    )
    assert not page.errors, page.errors
    verify(app, email="chehanoi@socson.vn")  # shipments go to verified businesses only
    return portal


def event_count(app: Flask) -> int:
    with AppState.of(app).database.session() as session:
        return session.scalar(select(func.count()).select_from(TraceEventRecord)) or 0


def test_facilities_are_listed_and_a_bad_gln_is_explained_in_vietnamese(
    owner: PortalClient,
) -> None:
    page = owner.post(
        "/portal/facilities",
        {
            "name": "Đồi chè Tân Cương",
            "kind": "farm",
            "province_code": "thai-nguyen",
            "gln": "8934567000016",
        },
    )
    assert page.errors == ["Số kiểm tra phải là 7, không phải 6."]
    page = owner.post(
        "/portal/facilities",
        {
            "name": "Đồi chè Tân Cương",
            "kind": "farm",
            "province_code": "thai-nguyen",
            "gln": "8934567000017",
        },
    )
    assert page.flashes == ["Đã thêm cơ sở."]
    assert (
        "Đồi chè Tân Cương" in page.text
        and "Tỉnh Thái Nguyên" in page.text
        and "8934567000017" in page.text
    )


def test_a_step_recorded_in_the_portal_appears_on_the_journey(
    app: Flask, owner: PortalClient
) -> None:
    batch_id = make_batch(owner, make_product(owner, name="Chè búp tươi"))
    owner.post("/portal/facilities", {"name": "Đồi chè Tân Cương", "kind": "farm"})
    journey = owner.get(f"/portal/batches/{batch_id}/journey")
    facility_id = re.search(r'<option value="(\d+)">Đồi chè Tân Cương', journey.html).group(1)  # type: ignore[union-attr]
    page = owner.post(
        f"/portal/batches/{batch_id}/events",
        {
            "biz_step": "commissioning",
            "event_time": "2026-11-05T06:00",
            "facility_id": facility_id,
            "quantity": "500",
            "unit": "KGM",
            "note": "Hái sáng",
        },
        form_page=f"/portal/batches/{batch_id}/journey",
    )
    assert page.flashes == ["Đã ghi bước."], page.errors
    assert page.endpoint == "portal.journey"
    assert "06:00 05/11/2026" in page.text and "Thu hoạch hoặc sản xuất" in page.text
    assert "Đồi chè Tân Cương" in page.text and "500 kg" in page.text

    # A wrong step keeps the form and says what to change; nothing is recorded.
    before = event_count(app)
    page = owner.post(
        f"/portal/batches/{batch_id}/events",
        {"biz_step": "packing", "event_time": "hôm qua"},
        form_page=f"/portal/batches/{batch_id}/journey",
    )
    assert page.status == 400
    assert page.errors == ["Ghi thời gian dạng 2026-11-02T07:30:00+07:00."]
    page = owner.post(
        f"/portal/batches/{batch_id}/events",
        {"biz_step": "packing", "input_lots": "08934567890129/LOT1"},
        form_page=f"/portal/batches/{batch_id}/journey",
    )
    assert page.status == 400 and len(page.errors) == 1
    assert event_count(app) == before


def test_a_csv_import_in_the_portal_is_all_or_nothing(app: Flask, owner: PortalClient) -> None:
    batch_id = make_batch(owner, make_product(owner))
    good = (
        "event_time,biz_step,note\n"
        "2026-11-01T08:00:00+07:00,packing,Đóng hộp\n"
        "2026-11-02T08:00:00+07:00,shipping,\n"
    )
    bad = good + "2026-11-03T08:00:00+07:00,flying,\n"
    page = owner.post(
        f"/portal/batches/{batch_id}/events/import",
        {"file": (io.BytesIO(bad.encode()), "steps.csv")},
        form_page=f"/portal/batches/{batch_id}/journey",
        content_type="multipart/form-data",
    )
    assert page.status == 400
    assert page.errors and page.errors[0].startswith("Dòng 4:"), page.errors
    assert event_count(app) == 0
    page = owner.post(
        f"/portal/batches/{batch_id}/events/import",
        {"file": (io.BytesIO(good.encode()), "steps.csv")},
        form_page=f"/portal/batches/{batch_id}/journey",
        content_type="multipart/form-data",
    )
    assert page.flashes == ["Đã nhập 2 bước."]
    assert event_count(app) == 2


def test_a_partner_accepts_a_shipment_and_continues_the_chain(
    app: Flask, owner: PortalClient, partner: PortalClient
) -> None:
    batch_id = make_batch(owner, make_product(owner, name="Chè búp tươi"), lot="TC-2611")
    page = owner.post(
        f"/portal/batches/{batch_id}/ship",
        {"partner": "0109900009", "quantity": "500", "unit": "KGM"},
        form_page=f"/portal/batches/{batch_id}/journey",
    )
    assert page.flashes and "Chè Hà Nội Sóc Sơn" in page.flashes[0], page.errors
    # Until accepted the partner cannot open the batch.
    assert partner.get(f"/portal/batches/{batch_id}/journey").status == 404

    shipments = partner.get("/portal/shipments")
    shipment_id = re.search(r'data-shipment="(\d+)"', shipments.html).group(1)  # type: ignore[union-attr]
    assert "Chè búp tươi" in shipments.text and "HTX Chè Tân Cương" in shipments.text
    page = partner.post(
        f"/portal/shipments/{shipment_id}/accept",
        {f"s{shipment_id}-event_time": "2026-11-05T17:30", f"s{shipment_id}-note": "Đủ hàng"},
        form_page="/portal/shipments",
    )
    assert page.endpoint == "portal.journey", page.flashes
    assert "Nhận hàng" in page.text and "Từ: HTX Chè Tân Cương" in page.text

    # The partner now makes its own product from the received batch.
    tea_batch = make_batch(partner, make_product(partner, name="Chè Thái Nguyên hộp"), lot="CHN-1")
    page = partner.post(
        f"/portal/batches/{tea_batch}/events",
        {"biz_step": "transforming", "input_batches": str(batch_id)},
        form_page=f"/portal/batches/{tea_batch}/journey",
    )
    assert page.flashes == ["Đã ghi bước."], page.errors
    assert "Nguyên liệu: Chè búp tươi, lô TC-2611" in page.text

    # The grower sees the shipment accepted.
    sent = owner.get("/portal/shipments")
    assert 'data-status="accepted"' in sent.html

    passport = partner.client.get(f"/portal/batches/{tea_batch}/passport.json")
    assert passport.status_code == 200
    body = json.loads(passport.get_data(as_text=True))
    assert body["inputs"][0]["producer"]["name"] == "HTX Chè Tân Cương"


def test_epcis_export_and_a_refused_import_in_the_portal(app: Flask, owner: PortalClient) -> None:
    batch_id = make_batch(owner, make_product(owner, gtin="8934567890120"), lot="A-1")
    owner.post(
        f"/portal/batches/{batch_id}/events",
        {"biz_step": "packing", "event_time": "2026-11-05T06:00"},
        form_page=f"/portal/batches/{batch_id}/journey",
    )
    download = owner.client.get(f"/portal/batches/{batch_id}/epcis.jsonld")
    assert download.status_code == 200
    assert "attachment" in download.headers["Content-Disposition"]
    document = json.loads(download.get_data(as_text=True))
    assert document["type"] == "EPCISDocument"
    (event,) = document["epcisBody"]["eventList"]
    assert event["bizStep"] == "packing"

    event["bizStep"] = "dancing"
    event["eventID"] = "urn:uuid:00000000-0000-4000-8000-000000000001"
    page = owner.post(
        "/portal/epcis/import",
        {"file": (io.BytesIO(json.dumps(document).encode()), "partner.jsonld")},
        form_page="/portal/shipments",
        content_type="multipart/form-data",
    )
    assert page.status == 400
    assert len(page.errors) == 1 and page.errors[0].startswith("epcisBody.eventList[0].bizStep:")
    assert "dancing" in page.errors[0]
    assert event_count(app) == 1
