"""Catching copies end to end: a copying attack, a first buyer, PIN claims, places, reports."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import func, select

from tests.conftest import Api
from traceqr.models import Report, Scan, ScanDaily, Stamp
from traceqr.services.verification import ClientFacts
from traceqr.state import AppState

PHONE_UA = "Mozilla/5.0 (Linux; Android 14)"


def one_stamp(api: Api, **batch: Any) -> str:
    created = api.batch(**batch)
    api.issue(created["id"], 1)
    return api.stamp_urls(created["id"])[0]


def test_a_copied_stamp_checked_across_the_country_within_an_hour_turns_suspicious(
    api: Api, state: AppState
) -> None:
    """The copying attack: one genuine code, photocopied and sold in Hà Nội and Sài Gòn."""
    url = one_stamp(api)
    start = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    verifier = state.verifier
    first = verifier.verify(
        url, now=start, channel="page", client=ClientFacts("203.0.113.1", PHONE_UA, "ha-noi")
    )
    assert first.status.value == "genuine"
    second = verifier.verify(
        url,
        now=start + timedelta(minutes=40),
        channel="page",
        client=ClientFacts("198.51.100.7", PHONE_UA, "ho-chi-minh"),
    )
    assert second.status.value == "suspicious"
    assert [r.value for r in second.verdict.reasons] == ["impossible_travel"]
    # Every later check of that code says so too, wherever it happens.
    third = verifier.verify(url, now=start + timedelta(hours=3), channel="api")
    assert third.status.value == "suspicious"


def test_a_first_buyer_checking_again_and_again_stays_genuine(api: Api, state: AppState) -> None:
    url = one_stamp(api)
    start = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
    for hour in range(9):  # the shop, the way home, the kitchen: one phone, one city
        result = state.verifier.verify(
            url,
            now=start + timedelta(hours=hour),
            channel="page",
            client=ClientFacts("203.0.113.9", PHONE_UA, "ha-noi" if hour % 2 else None),
        )
        assert result.status.value == "genuine", result.verdict.reasons


def test_the_verify_api_takes_the_place_and_answers_reason_codes(api: Api) -> None:
    url = one_stamp(api)
    assert api.verify(url, province="ha-noi")["status"] == "genuine"
    # Another client in Sài Gòn a moment later: one stamp, two places (one client's own
    # places would prove nothing: tests/web/test_forged_codes_apart.py).
    answer = api.client.get(
        "/api/v1/verify",
        query_string={"q": url, "lat": "10.78", "lon": "106.70"},
        environ_base={"REMOTE_ADDR": "198.51.100.23"},
    ).get_json()
    assert answer["status"] == "suspicious"
    assert answer["reasons"] == ["impossible_travel"]
    for bad in ({"province": "atlantis"}, {"lat": "91", "lon": "0"}, {"lat": "x", "lon": "y"}):
        response = api.client.get("/api/v1/verify", query_string={"q": url, **bad})
        assert response.status_code == 400


def test_positions_are_stored_rounded_with_their_province(api: Api, state: AppState) -> None:
    url = one_stamp(api)
    api.verify(url, lat="21.02874", lon="105.85412")
    with state.database.session() as session:
        scan = session.scalars(select(Scan)).one()
    assert (scan.lat, scan.lon, scan.province_code) == (21.0, 105.9, "ha-noi")


# --- the page: a place, a claim, a report ------------------------------------------------


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url, flags=re.IGNORECASE)


def test_a_shopper_adds_the_province_after_checking(
    client: FlaskClient, api: Api, state: AppState
) -> None:
    url = one_stamp(api)
    page = client.get(path_of(url)).get_data(as_text=True)
    token = re.search(r'name="token" type="hidden" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    response = client.post(
        path_of(url) + "/place",
        data={"csrf_token": csrf_of(page), "token": token, "province_code": "bac-ninh"},
    )
    assert response.status_code == 200
    assert "Cảm ơn" in response.get_data(as_text=True)
    with state.database.session() as session:
        assert session.scalar(select(Scan.province_code)) == "bac-ninh"
        assert session.scalar(select(Stamp.scan_count)) == 1  # saying where is not a new check
        counts = dict(session.execute(select(ScanDaily.province_code, ScanDaily.count)).all())
    assert counts == {"": 0, "bac-ninh": 1}
    forged = client.post(
        path_of(url) + "/place",
        data={"csrf_token": csrf_of(page), "token": "1.forged", "province_code": "ha-noi"},
    )
    assert forged.status_code == 400


@pytest.fixture
def pin_batch(api: Api) -> dict[str, Any]:
    batch = api.batch(with_pin=True)
    assert batch["with_pin"] is True
    api.issue(batch["id"], 2)
    rows = list(
        csv.DictReader(
            io.StringIO(api.get(f"/batches/{batch['id']}/stamps.csv").get_data(as_text=True))
        )
    )
    return {"batch": batch, "rows": rows}


def test_pins_are_printed_but_only_hashed_in_the_database(
    api: Api, state: AppState, pin_batch: dict[str, Any]
) -> None:
    rows = pin_batch["rows"]
    assert all(re.fullmatch(r"\d{8}", row["pin"]) for row in rows)
    assert rows[0]["pin"] != rows[1]["pin"]
    with state.database.session() as session:
        hashes = session.scalars(select(Stamp.pin_hash).order_by(Stamp.seq)).all()
    assert all(h is not None and len(h) == 16 for h in hashes)
    assert all(row["pin"].encode() not in h for row, h in zip(rows, hashes, strict=True))
    pdf = api.get(f"/batches/{pin_batch['batch']['id']}/sheet.pdf").get_data()
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf)
    text = document[0].get_textpage().get_text_range()
    document.close()
    pin = rows[0]["pin"]
    assert f"{pin[:4]} {pin[4:]}" in text  # in its own spot, for the scratch-off layer


def test_the_first_buyer_claims_with_the_pin_once(
    client: FlaskClient, state: AppState, pin_batch: dict[str, Any]
) -> None:
    row = pin_batch["rows"][0]
    path = path_of(row["url"])
    page = client.get(path).get_data(as_text=True)
    assert "Bạn có phải người mua đầu tiên?" in page
    wrong = client.post(path + "/claim", data={"csrf_token": csrf_of(page), "pin": "0000 0000"})
    assert wrong.status_code == 400
    assert "Sai mã PIN. Còn 4 lần thử." in wrong.get_data(as_text=True)
    right = client.post(path + "/claim", data={"csrf_token": csrf_of(page), "pin": row["pin"]})
    assert right.status_code == 200
    assert "người mua đầu tiên" in right.get_data(as_text=True)
    again = client.post(path + "/claim", data={"csrf_token": csrf_of(page), "pin": row["pin"]})
    assert again.status_code == 400
    assert "đã được nhận" in again.get_data(as_text=True)
    later = client.get(path).get_data(as_text=True)
    assert "Người mua đầu tiên đã nhận sản phẩm ngày" in later
    with state.database.session() as session:
        stamp = session.scalars(select(Stamp).where(Stamp.seq == 1)).one()
        assert stamp.claimed_at is not None and stamp.claimed_by is not None


def test_a_pin_stamps_page_labels_each_field_and_repeats_no_id(
    client: FlaskClient, pin_batch: dict[str, Any]
) -> None:
    # Both forms (PIN and place) on one page: a screen reader reads each field by its label,
    # and a repeated id would tie a label to the wrong field.
    page = client.get(path_of(pin_batch["rows"][0]["url"])).get_data(as_text=True)
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    labelled = re.findall(r'<label for="([^"]+)"', page)
    assert {"pin", "province_code"} <= set(labelled)
    assert set(labelled) <= set(ids)
    assert len(re.findall(r'name="csrf_token" type="hidden" value="[^"]+"', page)) == 2


def test_guessing_a_pin_locks_the_stamp_for_everyone(
    client: FlaskClient, app: Flask, pin_batch: dict[str, Any]
) -> None:
    row = pin_batch["rows"][1]
    path = path_of(row["url"])
    token = csrf_of(client.get(path).get_data(as_text=True))
    statuses = [
        client.post(path + "/claim", data={"csrf_token": token, "pin": f"1111{n:04d}"}).status_code
        for n in range(5)
    ]
    assert statuses == [400, 400, 400, 400, 429]
    # Even the right PIN, from another client, waits for the lock to pass.
    other = app.test_client()
    other_token = csrf_of(other.get(path).get_data(as_text=True))
    locked = other.post(
        path + "/claim",
        data={"csrf_token": other_token, "pin": row["pin"]},
        environ_base={"REMOTE_ADDR": "198.51.100.50"},
    )
    assert locked.status_code == 429


def test_checks_by_others_after_the_claim_turn_suspicious(
    client: FlaskClient, state: AppState, pin_batch: dict[str, Any]
) -> None:
    row = pin_batch["rows"][0]
    path = path_of(row["url"])
    token = csrf_of(client.get(path).get_data(as_text=True))
    client.post(path + "/claim", data={"csrf_token": token, "pin": row["pin"]})
    later = datetime.now(UTC) + timedelta(days=1)
    statuses = [
        state.verifier.verify(
            row["url"],
            now=later + timedelta(minutes=n),
            channel="page",
            client=ClientFacts(f"198.51.100.{n}", PHONE_UA),
        ).status.value
        for n in range(1, 4)
    ]
    assert statuses == ["genuine", "genuine", "suspicious"]


def test_a_shopper_reports_a_fake_with_a_photo(
    client: FlaskClient, api: Api, state: AppState
) -> None:
    fake = "https://traceqr.example.vn/S/" + "A" * 127
    form_page = client.get("/report", query_string={"code": fake}).get_data(as_text=True)
    assert "Báo cáo nghi ngờ hàng giả" in form_page
    image = Image.new("RGB", (40, 30), (10, 20, 30))
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    empty = client.post(
        "/report",
        data={"csrf_token": csrf_of(form_page), "code": fake},
        content_type="multipart/form-data",
    )
    assert "Hãy cho biết nơi mua" in empty.get_data(as_text=True)
    response = client.post(
        "/report",
        data={
            "csrf_token": csrf_of(form_page),
            "code": fake,
            "shop_name": "Cửa hàng tạp hóa Minh Phát",
            "shop_address": "Chợ Đồng Xuân",
            "province_code": "ha-noi",
            "note": "Tem mờ, giá rẻ bất thường",
            "photo": (io.BytesIO(out.getvalue()), "fake.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    assert "Cảm ơn" in response.get_data(as_text=True)
    with state.database.session() as session:
        report = session.scalars(select(Report)).one()
        assert (report.status_at_report, report.province_code) == ("invalid", "ha-noi")
        assert report.scanned_text == fake and report.photo
        assert (
            session.scalar(select(func.count()).select_from(Scan)) == 0
        )  # a report is not a check
    stored = (state.settings.uploads_path / "private" / report.photo).read_bytes()
    assert b"SpyCam" not in stored


def test_the_portal_sheet_prints_each_stamp_pin_in_its_spot(
    app: Flask, pin_batch: dict[str, Any]
) -> None:
    from tests.web.portal_client import PortalClient
    from traceqr.models import Batch, User

    state = AppState.of(app)
    with state.database.session() as session:
        batch = session.get(Batch, pin_batch["batch"]["id"])
        assert batch is not None
        owner = session.scalars(select(User).where(User.business_id == batch.business_id)).one()
        from traceqr.services.accounts import set_password

        set_password(owner, "correct horse battery")
        email = owner.email
    portal = PortalClient(app.test_client())
    portal.login(email)
    pdf = portal.client.get(f"/portal/batches/{pin_batch['batch']['id']}/sheet.pdf").data
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument(pdf)
    text = document[0].get_textpage().get_text_range()
    document.close()
    for row in pin_batch["rows"]:
        assert f"{row['pin'][:4]} {row['pin'][4:]}" in text
