"""Traceability through the API: facilities, events, transformations, CSV import, and
shipments that carry a batch's chain across businesses."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import Api


def error_of(response: Any) -> dict[str, Any]:
    body = response.get_json()
    assert set(body) == {"error"}, body
    return body["error"]


@pytest.fixture
def chain(client: FlaskClient, make_business: Any) -> dict[str, Api]:
    """Three businesses on TraceQR: a grower, a processor and a retailer."""
    return {
        role: Api(client, make_business(name, tax_code=tax).api_key)
        for role, name, tax in (
            ("grower", "HTX Chè Tân Cương", "0101243150"),
            ("processor", "Công ty Chè Hà Nội", "0100109106"),
            ("retailer", "Siêu thị Thăng Long", "0100233583"),
        )
    }


def test_a_facility_is_registered_with_its_gln_checked(api: Api) -> None:
    response = api.post(
        "/facilities",
        {
            "name": "Xưởng Đông Anh",
            "kind": "factory",
            "province_code": "ha-noi",
            "gln": "8934567000017",
        },
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["gln"] == "8934567000017"
    assert [f["name"] for f in api.get("/facilities").get_json()["facilities"]] == [
        "Xưởng Đông Anh"
    ]

    bad = api.post("/facilities", {"name": "X", "gln": "8934567000016"})
    assert bad.status_code == 400
    assert error_of(bad)["field"] == "gln"
    assert "check digit" in error_of(bad)["message"]


def test_an_event_keeps_its_time_offset_step_and_default_disposition(api: Api) -> None:
    batch = api.batch()
    response = api.post(
        f"/batches/{batch['id']}/events",
        {
            "biz_step": "packing",
            "event_time": "2026-11-02T07:30:00+07:00",
            "quantity": 120,
            "unit": "kgm",
        },
    )
    assert response.status_code == 201, response.get_json()
    event = response.get_json()
    assert event["event_time"] == "2026-11-02T07:30:00+07:00"
    assert event["time_zone"] == "+07:00"
    assert event["disposition"] == "in_progress"
    assert event["kind"] == "ObjectEvent" and event["action"] == "OBSERVE"
    assert event["unit"] == "KGM" and event["quantity"] == 120
    assert event["id"].startswith("urn:uuid:")

    # A time in another zone keeps its own offset; a time with none is Vietnam time.
    api.post(
        f"/batches/{batch['id']}/events",
        {"biz_step": "shipping", "event_time": "2026-11-03T01:00:00Z"},
    )
    api.post(
        f"/batches/{batch['id']}/events",
        {"biz_step": "receiving", "event_time": "2026-11-04T09:00:00"},
    )
    events = api.get(f"/batches/{batch['id']}/events").get_json()["events"]
    assert [(e["biz_step"], e["event_time"]) for e in events] == [
        ("packing", "2026-11-02T07:30:00+07:00"),
        ("shipping", "2026-11-03T01:00:00+00:00"),
        ("receiving", "2026-11-04T09:00:00+07:00"),
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"biz_step": "dancing"}, "biz_step"),
        ({"biz_step": "packing", "disposition": "happy"}, "disposition"),
        ({"biz_step": "packing", "event_time": "yesterday"}, "event_time"),
        ({"biz_step": "packing", "event_time": "1890-01-01T00:00:00+07:00"}, "event_time"),
        ({"biz_step": "packing", "unit": "bags", "quantity": 3}, "unit"),
        ({"biz_step": "packing", "facility_id": 999999}, None),
        ({"biz_step": "packing", "inputs": [{"lot": "A1"}]}, "inputs"),
        (
            {"biz_step": "transforming", "inputs": [{"gtin": "8934567890129", "lot": "A1"}]},
            "inputs[0]",
        ),
        ({"biz_step": "packing", "place": "kho\x00"}, "place"),
        ({"biz_step": "shipping", "destination": 999999}, "destination"),
    ],
)
def test_a_bad_event_is_refused_with_its_field_and_nothing_is_recorded(
    api: Api, body: dict[str, Any], field: str | None
) -> None:
    batch = api.batch()
    response = api.post(f"/batches/{batch['id']}/events", body)
    assert 400 <= response.status_code < 500, response.get_json()
    if field is not None:
        assert error_of(response)["field"] == field
    assert api.get(f"/batches/{batch['id']}/events").get_json()["events"] == []


def test_a_transformation_links_its_input_batches_one_step_back(api: Api) -> None:
    leaves = api.batch(api.product(name="Chè búp tươi")["id"], lot="LA-01")
    tea = api.batch(api.product(name="Chè Thái Nguyên")["id"], lot="CTN-01")
    response = api.post(
        f"/batches/{tea['id']}/events",
        {
            "biz_step": "transforming",
            "inputs": [
                {"batch_id": leaves["id"], "quantity": 500, "unit": "KGM"},
                {"gtin": "08934567890120", "lot": "HUONG-7", "description": "Hương nhài"},
            ],
            "quantity": 100,
            "unit": "KGM",
        },
    )
    assert response.status_code == 201, response.get_json()
    event = response.get_json()
    assert event["kind"] == "TransformationEvent"
    assert [(i["batch_id"], i["lot"]) for i in event["inputs"]] == [
        (leaves["id"], None),
        (None, "HUONG-7"),
    ]


def test_another_business_cannot_see_or_write_a_batchs_events(api: Api, other_api: Api) -> None:
    batch = api.batch()
    api.post(f"/batches/{batch['id']}/events", {"biz_step": "packing"})
    assert other_api.get(f"/batches/{batch['id']}/events").status_code == 404
    assert (
        other_api.post(f"/batches/{batch['id']}/events", {"biz_step": "receiving"}).status_code
        == 404
    )
    assert other_api.get(f"/batches/{batch['id']}/passport.json").status_code == 404
    # Nor use it as the input of their own transformation.
    theirs = other_api.batch()
    response = other_api.post(
        f"/batches/{theirs['id']}/events",
        {"biz_step": "transforming", "inputs": [{"batch_id": batch["id"]}]},
    )
    assert response.status_code == 400
    assert len(api.get(f"/batches/{batch['id']}/events").get_json()["events"]) == 1


CSV = """event_time,biz_step,facility,quantity,unit,inputs,note
2026-10-01T06:00:00+07:00,commissioning,Đồi chè Tân Cương,800,KGM,,Hái sáng
2026-10-01T14:00:00+07:00,storing,Đồi chè Tân Cương,800,KGM,,
2026-10-02T08:00:00+07:00,shipping,,790,KGM,,Xe 29C-123.45
"""


def test_events_import_from_csv(api: Api) -> None:
    api.post("/facilities", {"name": "Đồi chè Tân Cương", "kind": "farm"})
    batch = api.batch()
    response = api.post(
        f"/batches/{batch['id']}/events.csv", data=CSV.encode(), content_type="text/csv"
    )
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["imported"] == 3
    events = api.get(f"/batches/{batch['id']}/events").get_json()["events"]
    assert [e["biz_step"] for e in events] == ["commissioning", "storing", "shipping"]
    assert events[0]["facility"]["name"] == "Đồi chè Tân Cương"
    assert events[0]["action"] == "ADD"
    assert {e["origin"] for e in events} == {"csv"}


def test_a_csv_with_one_bad_line_imports_nothing_and_names_the_line(api: Api) -> None:
    api.post("/facilities", {"name": "Đồi chè Tân Cương"})
    batch = api.batch()
    bad = CSV.replace("storing", "sleeping")
    response = api.post(
        f"/batches/{batch['id']}/events.csv", data=bad.encode(), content_type="text/csv"
    )
    assert response.status_code == 400
    assert "3" in error_of(response)["message"]  # the header is line 1
    assert api.get(f"/batches/{batch['id']}/events").get_json()["events"] == []

    for body in (b"\xff\xfe", b"name\nx\n", b"biz_step,colour\npacking,red\n", b"biz_step\n"):
        response = api.post(
            f"/batches/{batch['id']}/events.csv", data=body, content_type="text/csv"
        )
        assert response.status_code == 400, body
    assert api.get(f"/batches/{batch['id']}/events").get_json()["events"] == []


def test_a_shipment_accepted_by_the_partner_becomes_their_receiving_event(
    chain: dict[str, Api],
) -> None:
    grower, processor = chain["grower"], chain["processor"]
    leaves = grower.batch(grower.product(name="Chè búp tươi")["id"], lot="TC-2611")
    grower.post(f"/batches/{leaves['id']}/events", {"biz_step": "commissioning"})

    sent = grower.post(
        f"/batches/{leaves['id']}/shipments",
        {"partner": "0100109106", "quantity": 500, "unit": "KGM"},
    )
    assert sent.status_code == 201, sent.get_json()
    shipment = sent.get_json()
    assert shipment["status"] == "sent"
    assert shipment["receiver"]["name"] == "Công ty Chè Hà Nội"

    # Before accepting, the processor cannot write on the batch.
    assert (
        processor.post(f"/batches/{leaves['id']}/events", {"biz_step": "storing"}).status_code
        == 404
    )
    incoming = processor.get("/shipments").get_json()["incoming"]
    assert [s["id"] for s in incoming] == [shipment["id"]]

    accepted = processor.post(f"/shipments/{shipment['id']}/accept", {"note": "Đủ 500 kg"})
    assert accepted.status_code == 200, accepted.get_json()
    assert accepted.get_json()["status"] == "accepted"
    assert processor.post(f"/shipments/{shipment['id']}/accept").status_code == 409

    events = grower.get(f"/batches/{leaves['id']}/events").get_json()["events"]
    assert [(e["biz_step"], e["recorded_by"]["name"]) for e in events] == [
        ("commissioning", "HTX Chè Tân Cương"),
        ("shipping", "HTX Chè Tân Cương"),
        ("receiving", "Công ty Chè Hà Nội"),
    ]
    assert events[1]["destination"]["name"] == "Công ty Chè Hà Nội"
    assert events[2]["source"]["name"] == "HTX Chè Tân Cương"
    assert events[2]["quantity"] == 500

    # Now the processor holds the batch and can transform it into its own.
    tea = processor.batch(processor.product(name="Chè Thái Nguyên hộp 200 g")["id"])
    made = processor.post(
        f"/batches/{tea['id']}/events",
        {
            "biz_step": "transforming",
            "inputs": [{"batch_id": leaves["id"], "quantity": 500, "unit": "KGM"}],
        },
    )
    assert made.status_code == 201, made.get_json()


def test_a_refused_shipment_gives_no_access(chain: dict[str, Api]) -> None:
    grower, processor, retailer = chain["grower"], chain["processor"], chain["retailer"]
    leaves = grower.batch()
    shipment = grower.post(
        f"/batches/{leaves['id']}/shipments", {"partner": "0100109106"}
    ).get_json()
    # Only the receiver answers.
    assert retailer.post(f"/shipments/{shipment['id']}/accept").status_code == 404
    assert grower.post(f"/shipments/{shipment['id']}/accept").status_code == 404
    assert processor.post(f"/shipments/{shipment['id']}/refuse").get_json()["status"] == "refused"
    assert processor.get(f"/batches/{leaves['id']}/events").status_code == 404
    assert (
        grower.post(f"/batches/{leaves['id']}/shipments", {"partner": "9999999999"}).status_code
        == 400
    )
    own = grower.post(f"/batches/{leaves['id']}/shipments", {"partner": "0101243150"})
    assert own.status_code == 400


def test_the_passport_export_holds_what_decree_37_asks(chain: dict[str, Api]) -> None:
    grower, processor = chain["grower"], chain["processor"]
    leaves = grower.batch(grower.product(name="Chè búp tươi")["id"], lot="TC-1")
    shipment = grower.post(
        f"/batches/{leaves['id']}/shipments", {"partner": "0100109106"}
    ).get_json()
    processor.post(f"/shipments/{shipment['id']}/accept")
    product = processor.product(name="Chè Thái Nguyên", gtin="8934567890120", origin="Việt Nam")
    tea = processor.batch(
        product["id"], lot="CTN-9", production_date="2026-11-01", expiry_date="2027-11"
    )
    processor.post(
        f"/batches/{tea['id']}/events",
        {"biz_step": "transforming", "inputs": [{"batch_id": leaves["id"]}]},
    )
    passport = processor.get(f"/batches/{tea['id']}/passport.json").get_json()
    assert passport["id"] == "https://id.gs1.org/01/08934567890120/10/CTN-9"
    assert passport["product"]["gtin"] == "08934567890120"
    assert passport["product"]["origin"] == "Việt Nam"
    assert passport["producer"]["tax_code"] == "0100109106"
    assert passport["batch"]["production_date"] == "2026-11-01"
    assert passport["batch"]["expiry_date"] == "2027-11-30"
    assert [e["biz_step"] for e in passport["events"]] == ["transforming"]
    assert passport["inputs"][0]["producer"]["name"] == "HTX Chè Tân Cương"
    assert [e["biz_step"] for e in passport["inputs"][0]["events"]] == ["shipping", "receiving"]
