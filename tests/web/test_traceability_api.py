"""Traceability through the API: facilities, events, transformations, CSV import, and
shipments that carry a batch's chain across businesses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from flask.testing import FlaskClient
from sqlalchemy import delete, select

from tests.conftest import Api
from traceqr.models import TraceEventInput, TraceEventRecord
from traceqr.state import AppState


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


# --- EPCIS 2.0 -----------------------------------------------------------------------------

SCHEMA = Path(__file__).resolve().parents[1] / "fixtures" / "epcis" / "EPCISDocument.schema.json"


def schema_errors(document: dict[str, Any]) -> list[str]:
    """The reference validator (jsonschema) on the published EPCIS 2.0 schema."""
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def comparable(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if k != "origin"} for e in events]


@pytest.fixture
def recorded_chain(chain: dict[str, Api]) -> dict[str, Any]:
    """The processor's tea batch with a commissioned input, a transformation, packing in
    another time zone and a shipment; returns the APIs and ids."""
    grower, processor = chain["grower"], chain["processor"]
    leaves = grower.batch(grower.product(name="Chè búp tươi")["id"], lot="TC/26-11")
    grower.post(
        f"/batches/{leaves['id']}/events",
        {
            "biz_step": "commissioning",
            "event_time": "2026-11-01T06:00:00+07:00",
            "quantity": 500,
            "unit": "KGM",
        },
    )
    shipment = grower.post(
        f"/batches/{leaves['id']}/shipments", {"partner": "0100109106"}
    ).get_json()
    processor.post(
        f"/shipments/{shipment['id']}/accept", {"event_time": "2026-11-01T17:00:00+07:00"}
    )
    works = processor.post(
        "/facilities",
        {"name": "Xưởng Sóc Sơn", "gln": "8934567000017", "address": "Cụm CN Nam Sơn"},
    ).get_json()
    tea = processor.batch(
        processor.product(name="Chè hộp", gtin="8934567890120")["id"], lot="CHN-1"
    )
    for body in (
        {
            "biz_step": "transforming",
            "event_time": "2026-11-02T08:00:00+07:00",
            "facility_id": works["id"],
            "inputs": [
                {"batch_id": leaves["id"], "quantity": 500, "unit": "KGM"},
                {"gtin": "8934567890120", "lot": "HUONG-7"},
                {"lot": "MUOI/2%3"},
            ],
            "quantity": 100,
            "unit": "KGM",
            "note": "Sao suốt thủ công 🍵",
        },
        {
            "biz_step": "packing",
            "event_time": "2026-11-03T09:15:00+09:00",
            "place": "Kho Osaka",
            "quantity": 500,
            "unit": "BX",
        },
        {
            "biz_step": "shipping",
            "event_time": "2026-11-04T07:00:00+07:00",
            "destination": "Siêu thị Thăng Long",
        },
    ):
        response = processor.post(f"/batches/{tea['id']}/events", body)
        assert response.status_code == 201, response.get_json()
    return {"processor": processor, "grower": grower, "tea": tea, "leaves": leaves, **chain}


def test_the_epcis_export_is_valid_against_the_published_schema(
    recorded_chain: dict[str, Any],
) -> None:
    processor, tea = recorded_chain["processor"], recorded_chain["tea"]
    response = processor.get(f"/batches/{tea['id']}/epcis.jsonld")
    assert response.status_code == 200
    assert response.mimetype == "application/ld+json"
    document = response.get_json()
    assert schema_errors(document) == []
    events = document["epcisBody"]["eventList"]
    assert [e["type"] for e in events] == ["TransformationEvent", "ObjectEvent", "ObjectEvent"]
    assert (
        events[0]["outputQuantityList"][0]["epcClass"]
        == "https://id.gs1.org/01/08934567890120/10/CHN-1"
    )
    assert events[1]["eventTimeZoneOffset"] == "+09:00"


def test_events_survive_a_round_trip_through_epcis(
    app: Any, recorded_chain: dict[str, Any]
) -> None:
    processor, tea = recorded_chain["processor"], recorded_chain["tea"]
    before = processor.get(f"/batches/{tea['id']}/events").get_json()["events"]
    document = processor.get(f"/batches/{tea['id']}/epcis.jsonld").get_data()

    # Sending the same document again changes nothing.
    again = processor.post("/epcis/capture", data=document, content_type="application/ld+json")
    assert again.status_code == 201, again.get_json()
    assert (again.get_json()["imported"], again.get_json()["already_present"]) == (0, 3)

    # Forget the events, import the export: the same events come back.
    with AppState.of(app).database.session() as session:
        ids = [
            e.id
            for e in session.scalars(
                select(TraceEventRecord).where(TraceEventRecord.batch_id == tea["id"])
            )
        ]
        session.execute(delete(TraceEventInput).where(TraceEventInput.event_id.in_(ids)))
        session.execute(delete(TraceEventRecord).where(TraceEventRecord.id.in_(ids)))
        session.commit()
    response = processor.post("/epcis/capture", data=document, content_type="application/ld+json")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["imported"] == 3
    after = processor.get(f"/batches/{tea['id']}/events").get_json()["events"]
    for old, new in zip(comparable(before), comparable(after), strict=True):
        diff = {k: (old[k], new[k]) for k in old if old[k] != new[k]}
        assert not diff, json.dumps(diff, ensure_ascii=False)
    assert {e["origin"] for e in after} == {"epcis"}


def epcis_with(events: list[dict[str, Any]]) -> bytes:
    return json.dumps(
        {
            "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": "2026-11-05T10:00:00+07:00",
            "epcisBody": {"eventList": events},
        }
    ).encode()


def partner_event(event_id: str, epc_class: str, step: str = "receiving") -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventID": event_id,
        "eventTime": "2026-11-05T09:00:00+07:00",
        "eventTimeZoneOffset": "+07:00",
        "action": "OBSERVE",
        "bizStep": step,
        "quantityList": [{"epcClass": epc_class, "quantity": 20, "uom": "KGM"}],
    }


def test_a_partners_epcis_events_are_imported_onto_the_matching_batch(api: Api) -> None:
    batch = api.batch(api.product(gtin="8934567890120")["id"], lot="A-1")
    body = epcis_with(
        [
            partner_event(
                "urn:uuid:6d5c4a3e-1111-4a2b-9c3d-000000000001",
                "https://id.gs1.org/01/08934567890120/10/A-1",
            ),
            partner_event(
                "urn:uuid:6d5c4a3e-1111-4a2b-9c3d-000000000002",
                "urn:epc:class:lgtin:8934567.089012.A-1",
                "storing",
            ),
        ]
    )
    response = api.post("/epcis/capture", data=body, content_type="application/json")
    assert response.status_code == 201, response.get_json()
    events = api.get(f"/batches/{batch['id']}/events").get_json()["events"]
    assert [(e["biz_step"], e["quantity"], e["unit"]) for e in events] == [
        ("receiving", 20, "KGM"),
        ("storing", 20, "KGM"),
    ]


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda doc: b"{not json", "JSON"),
        (
            lambda doc: doc.replace(
                b'"type": "EPCISDocument"', b'"type": "EPCISDocument", "type": "X"'
            ),
            "twice",
        ),
        (lambda doc: doc.replace(b'"receiving"', b'"dancing"'), "dancing"),
        (
            lambda doc: doc.replace(b"/10/A-1", b"/10/OTHER"),
            "OTHER",
        ),  # a lot the business does not hold
        (lambda doc: doc.replace(b"08934567890120", b"08934567890121"), "check digit"),
        (
            lambda doc: doc.replace(
                b'"eventList": [', b'"eventList": [' + b"[" * 40 + b"]" * 40 + b","
            ),
            "deep",
        ),
        (
            lambda doc: doc.replace(b"2026-11-05T09:00:00+07:00", b"2036-11-05T09:00:00+07:00"),
            "time",
        ),
    ],
)
def test_a_malformed_or_hostile_epcis_document_imports_nothing(
    api: Api, mutate: Any, words: str
) -> None:
    batch = api.batch(api.product(gtin="8934567890120")["id"], lot="A-1")
    good = epcis_with(
        [
            partner_event(
                "urn:uuid:6d5c4a3e-1111-4a2b-9c3d-000000000003",
                "https://id.gs1.org/01/08934567890120/10/A-1",
                "storing",
            ),
            partner_event(
                "urn:uuid:6d5c4a3e-1111-4a2b-9c3d-000000000004",
                "https://id.gs1.org/01/08934567890120/10/A-1",
            ),
        ]
    )
    bad = mutate(good)
    assert bad != good
    response = api.post("/epcis/capture", data=bad, content_type="application/ld+json")
    assert response.status_code == 400, response.get_json()
    assert words.lower() in error_of(response)["message"].lower()
    assert api.get(f"/batches/{batch['id']}/events").get_json()["events"] == []


def test_epcis_events_about_another_businesss_batch_are_refused(api: Api, other_api: Api) -> None:
    api.batch(api.product(gtin="8934567890120")["id"], lot="A-1")
    body = epcis_with(
        [
            partner_event(
                "urn:uuid:6d5c4a3e-1111-4a2b-9c3d-000000000005",
                "https://id.gs1.org/01/08934567890120/10/A-1",
            )
        ]
    )
    response = other_api.post("/epcis/capture", data=body, content_type="application/ld+json")
    assert response.status_code == 400
    assert "A-1" in error_of(response)["message"]
