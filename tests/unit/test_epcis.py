"""EPCIS 2.0 export and import: schema validity, round trips, fixtures, hostile documents."""

from __future__ import annotations

import copy
import json
import socket
import string
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator, FormatChecker
from referencing import Registry
from referencing.jsonschema import DRAFT7

from traceqr.domain import epcis
from traceqr.domain.epcis import (
    EPCIS_CONTEXT,
    TQR_NAMESPACE,
    EpcisError,
    export_document,
    import_document,
    is_uri,
    load_schema,
    parse_time,
    schema_validator,
)
from traceqr.domain.gs1 import CSET82, check_digit
from traceqr.domain.trace import (
    BIZ_STEPS,
    DISPOSITIONS,
    Action,
    EventKind,
    LotRef,
    Party,
    Place,
    Quantity,
    TraceEvent,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "epcis"
SCHEMA_PATH = FIXTURES / "EPCISDocument.schema.json"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
VN = timezone(timedelta(hours=7))
CREATED = datetime(2025, 7, 3, 9, 0, tzinfo=VN)
SERVICE = "https://traceqr.example.vn"

GTIN = "08934588012228"
LOT = LotRef(GTIN, "CAM-2507")
LOT_NO_GTIN = LotRef(None, "NE-0207", uri=f"{SERVICE}/lots/42")
GLN_FARM = "8934588000027"
GLN_COOP = "8934588000010"


# --- helpers -------------------------------------------------------------------------------------


def _reference_validator() -> Draft7Validator:
    """jsonschema, the reference implementation, on the published schema; nothing fetched."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft7Validator.check_schema(schema)
    checker = FormatChecker(formats=())
    checker.checks("uri")(lambda value: not isinstance(value, str) or is_uri(value))
    checker.checks("date-time")(lambda value: not isinstance(value, str) or _parses(value))
    registry: Registry[Any] = Registry().with_resource(
        schema["$id"], DRAFT7.create_resource(schema)
    )
    return Draft7Validator(schema, registry=registry, format_checker=checker)


def _parses(text: str) -> bool:
    try:
        parse_time(text)
    except ValueError:
        return False
    return True


REFERENCE = _reference_validator()


def schema_messages(document: Any) -> list[str]:
    return [
        f"{list(error.absolute_path)}: {error.message}" for error in REFERENCE.iter_errors(document)
    ]


def fast_valid(document: Any) -> bool:
    from fastjsonschema import JsonSchemaException

    try:
        schema_validator(str(SCHEMA_PATH))(document)
    except JsonSchemaException:
        return False
    return True


def load(data: Any, **options: Any) -> list[TraceEvent]:
    options.setdefault("schema_path", SCHEMA_PATH)
    return import_document(data, now=NOW, **options)


def refused(data: Any, **options: Any) -> EpcisError:
    with pytest.raises(EpcisError) as caught:
        load(data, **options)
    return caught.value


def event(**overrides: Any) -> TraceEvent:
    fields: dict[str, Any] = {
        "event_id": "urn:uuid:6f1c2d3e-4b5a-4c6d-8e7f-000000000001",
        "kind": EventKind.OBJECT,
        "event_time": datetime(2025, 7, 1, 6, 15, tzinfo=VN),
        "biz_step": "commissioning",
        "disposition": "active",
        "action": Action.ADD,
        "outputs": (Quantity(LOT, 1200.0, "KGM"),),
    }
    fields.update(overrides)
    return TraceEvent(**fields)


def transformation(**overrides: Any) -> TraceEvent:
    fields: dict[str, Any] = {
        "event_id": "urn:uuid:6f1c2d3e-4b5a-4c6d-8e7f-000000000003",
        "kind": EventKind.TRANSFORMATION,
        "biz_step": "transforming",
        "disposition": None,
        "action": None,
        "inputs": (Quantity(LOT, 500.0, "KGM"),),
        "outputs": (Quantity(LOT_NO_GTIN, 300.0, "LTR"),),
    }
    fields.update(overrides)
    return event(**fields)


def base_document() -> dict[str, Any]:
    """A valid document of two events, to break in the hostile tests."""
    return export_document(
        [
            event(),
            event(
                event_id="urn:uuid:6f1c2d3e-4b5a-4c6d-8e7f-000000000002",
                action=Action.OBSERVE,
                biz_step="shipping",
                disposition="in_transit",
                note="Giao hàng",
            ),
        ],
        created=CREATED,
    )


def first(document: dict[str, Any]) -> dict[str, Any]:
    return document["epcisBody"]["eventList"][0]


def second(document: dict[str, Any]) -> dict[str, Any]:
    return document["epcisBody"]["eventList"][1]


# --- export: every document follows the published schema ------------------------------------------

EXPORT_CASES: dict[str, list[TraceEvent]] = {
    "object with GTIN": [event()],
    "object without GTIN": [event(outputs=(Quantity(LOT_NO_GTIN, 3, "EA"),))],
    "object, no quantity": [event(outputs=(Quantity(LOT),), disposition=None)],
    "observe with parties and places": [
        event(
            action=Action.OBSERVE,
            biz_step="shipping",
            disposition="in_transit",
            place=Place("Vườn cam", gln=GLN_FARM, address="Xã Cao Phong", uri=f"{SERVICE}/f/1"),
            source=Party("HTX Cam Cao Phong", gln=GLN_COOP),
            destination=Party("Công ty B", uri=f"{SERVICE}/businesses/7"),
            actor=Party("HTX Cam Cao Phong", gln=GLN_COOP, uri=f"{SERVICE}/businesses/3"),
            note="Giao hàng 🚚\nđợt 2",
        )
    ],
    "parties and places by name only": [
        event(
            action=Action.OBSERVE,
            biz_step="receiving",
            disposition="in_progress",
            place=Place("Chợ đầu mối", address="Hà Nội"),
            source=Party("Anh Nam"),
            destination=Party(""),
        )
    ],
    "delete": [event(action=Action.DELETE, biz_step="destroying", disposition="destroyed")],
    "ilmd": [event(extensions={"expiry_date": "2025-08-15", "production_date": "2025-07-01"})],
    "ilmd keys on observe go to tqr:extensions": [
        event(action=Action.OBSERVE, biz_step="storing", extensions={"expiry_date": "2025-08-15"})
    ],
    "transformation": [transformation()],
    "transformation without inputs": [transformation(inputs=())],
    "transformation with GTIN output and ILMD": [
        transformation(
            outputs=(Quantity(LotRef("08934588012341", "J-1"), 10.0, "LTR"),),
            extensions={"best_before_date": "2026-01-31", "brix": "11.5"},
        )
    ],
    "recalling (not a CBV step)": [
        event(action=Action.OBSERVE, biz_step="recalling", disposition="recalled")
    ],
}


@pytest.mark.parametrize("events", EXPORT_CASES.values(), ids=EXPORT_CASES.keys())
def test_exported_documents_follow_the_published_schema(events: list[TraceEvent]) -> None:
    document = export_document(events, sender=Party("HTX", gln=GLN_COOP), created=CREATED)
    assert schema_messages(document) == []
    assert not list(Draft7Validator(REFERENCE.schema).iter_errors(document))  # default formats
    assert fast_valid(document)
    assert load(json.dumps(document)) == events


def test_exported_document_shape() -> None:
    events = EXPORT_CASES["observe with parties and places"] + [transformation()]
    document = export_document(events, created=CREATED)
    assert document["@context"] == [EPCIS_CONTEXT, {"tqr": TQR_NAMESPACE}]
    assert document["type"] == "EPCISDocument"
    assert document["schemaVersion"] == "2.0"
    assert document["creationDate"] == "2025-07-03T09:00:00+07:00"
    shipped, made = document["epcisBody"]["eventList"]
    assert shipped["type"] == "ObjectEvent"
    assert shipped["eventTime"] == "2025-07-01T06:15:00+07:00"
    assert shipped["eventTimeZoneOffset"] == "+07:00"
    assert shipped["action"] == "OBSERVE"
    assert (shipped["bizStep"], shipped["disposition"]) == ("shipping", "in_transit")
    assert shipped["quantityList"] == [
        {"epcClass": LOT.class_uri(), "quantity": 1200.0, "uom": "KGM"}
    ]
    assert shipped["bizLocation"] == {"id": f"https://id.gs1.org/414/{GLN_FARM}"}
    assert shipped["sourceList"] == [
        {"type": "owning_party", "source": f"https://id.gs1.org/417/{GLN_COOP}"}
    ]
    assert shipped["destinationList"] == [
        {"type": "owning_party", "destination": f"{SERVICE}/businesses/7"}
    ]
    assert shipped["tqr:note"] == "Giao hàng 🚚\nđợt 2"
    assert "ilmd" not in shipped
    assert made["type"] == "TransformationEvent"
    assert "action" not in made
    assert made["bizStep"] == "tqr:transforming"
    assert (
        made["inputQuantityList"][0]["epcClass"]
        == "https://id.gs1.org/01/08934588012228/10/CAM-2507"
    )
    assert made["outputQuantityList"] == [
        {"epcClass": f"{SERVICE}/lots/42", "quantity": 300.0, "uom": "LTR"}
    ]
    assert made["tqr:lots"] == {f"{SERVICE}/lots/42": "NE-0207"}


def test_ilmd_only_on_add() -> None:
    dates = {"expiry_date": "2025-08-15"}
    added = first(export_document([event(extensions=dates)], created=CREATED))
    assert added["ilmd"] == {"cbvmda:itemExpirationDate": "2025-08-15"}
    observed = first(
        export_document([event(action=Action.OBSERVE, extensions=dates)], created=CREATED)
    )
    assert "ilmd" not in observed
    assert observed["tqr:extensions"] == dates


@pytest.mark.parametrize(
    ("events", "reason", "path"),
    [
        ([event(event_time=datetime(2025, 7, 1))], "bad_time", "events[0].event_time"),
        ([event(action=None)], "invalid_event", "events[0].action"),
        ([transformation(action=Action.ADD)], "invalid_event", "events[0].action"),
        ([event(biz_step="harvesting")], "unknown_biz_step", "events[0].biz_step"),
        ([event(disposition="sold")], "unknown_disposition", "events[0].disposition"),
        (
            [event(outputs=(Quantity(LotRef("08934588012229", "A")),))],
            "bad_gtin",
            "events[0].outputs[0].lot.gtin",
        ),
        (
            [event(outputs=(Quantity(LotRef(GTIN, "LÔ 1")),))],
            "bad_lot",
            "events[0].outputs[0].lot.lot",
        ),
        (
            [event(outputs=(Quantity(LotRef(None, "A")),))],
            "bad_epc_class",
            "events[0].outputs[0].lot.uri",
        ),
        ([event(outputs=(Quantity(LOT, -1.0),))], "bad_quantity", "events[0].outputs[0].amount"),
        ([event(outputs=(Quantity(LOT, 1.0, "kg"),))], "bad_unit", "events[0].outputs[0].unit"),
        ([event(outputs=())], "no_lots", "events[0].outputs"),
        ([event(note="a\x00b")], "bad_text", "events[0].note"),
        ([event(event_id="not a uri")], "bad_event_id", "events[0].event_id"),
        ([event(), event()], "duplicate_event_id", "events[1].event_id"),
        ([event(place=Place("x", gln="8934588000028"))], "bad_gln", "events[0].place.gln"),
        (
            [event(extensions={"expiry_date": "15/08/2025"})],
            "bad_ilmd",
            "events[0].extensions.expiry_date",
        ),
        ([event(extensions={"Bad Key": "x"})], "bad_extension", 'events[0].extensions["Bad Key"]'),
    ],
)
def test_export_refuses_what_it_cannot_carry(
    events: list[TraceEvent], reason: str, path: str
) -> None:
    with pytest.raises(EpcisError) as caught:
        export_document(events, created=CREATED)
    assert (caught.value.reason, caught.value.path) == (reason, path)


def test_export_keeps_gtin14_only() -> None:
    document = export_document(
        [event(outputs=(Quantity(LotRef("8934588012228", "A")),))], created=CREATED
    )
    assert first(document)["quantityList"][0]["epcClass"] == (
        "https://id.gs1.org/01/08934588012228/10/A"
    )


# --- round trips ----------------------------------------------------------------------------------


def test_round_trip_keeps_the_offset_of_each_event() -> None:
    events = [
        event(event_time=datetime(2025, 7, 1, 6, 15, 0, 123456, tzinfo=VN)),
        transformation(
            event_time=datetime(2025, 7, 1, 22, 0, tzinfo=timezone(-timedelta(hours=5)))
        ),
    ]
    back = load(json.dumps(export_document(events, created=CREATED), ensure_ascii=False))
    assert back == events
    assert [e.time_zone for e in back] == ["+07:00", "-05:00"]
    assert [e.event_time.isoformat() for e in back] == [e.event_time.isoformat() for e in events]
    assert back[1].outputs[0].lot == LOT_NO_GTIN
    assert back[1].inputs[0].lot == LOT


def test_round_trip_from_bytes_str_and_dict() -> None:
    document = export_document([event(), transformation()], created=CREATED)
    text = json.dumps(document, ensure_ascii=False)
    assert load(text) == load(text.encode()) == load(document) == [event(), transformation()]


_SAFE_TEXT = st.characters(
    blacklist_categories=("Cc", "Cs", "Zl", "Zp"),
    blacklist_characters="\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufffe\uffff",
)
names = st.text(_SAFE_TEXT, max_size=30)
notes = st.text(st.one_of(_SAFE_TEXT, st.sampled_from("\n\t🍊👨‍🌾")), max_size=80)
lots = st.text(sorted(CSET82), min_size=1, max_size=20)
plain_lots = st.text(string.ascii_letters + string.digits + "-._", min_size=1, max_size=20)
ids = st.integers(min_value=1, max_value=10**12)


@st.composite
def gtins(draw: st.DrawFn) -> str:
    body = draw(st.text("0123456789", min_size=13, max_size=13))
    return body + str(check_digit(body))


@st.composite
def glns(draw: st.DrawFn) -> str:
    body = draw(st.text("0123456789", min_size=12, max_size=12))
    return body + str(check_digit(body))


lot_refs = st.one_of(
    st.builds(LotRef, gtin=gtins(), lot=lots),
    st.builds(lambda i, lot: LotRef(None, lot, f"{SERVICE}/lots/{i}"), ids, lots),
    st.builds(lambda lot: LotRef(None, lot, f"{SERVICE}/lots/external/{lot}"), plain_lots),
)
quantities = st.builds(
    Quantity,
    lot=lot_refs,
    amount=st.none() | st.integers(0, 10**9) | st.floats(0, 1e15, allow_nan=False),
    unit=st.none() | st.sampled_from(["KGM", "LTR", "EA", "H87", "XBX", "GRM"]),
)
optional_uri = st.none() | st.builds(lambda i: f"{SERVICE}/businesses/{i}", ids)
parties = st.builds(Party, name=names, gln=st.none() | glns(), uri=optional_uri)
actors = st.builds(Party, name=names.filter(bool), gln=st.none() | glns(), uri=optional_uri)
places = st.builds(
    Place,
    name=names,
    gln=st.none() | glns(),
    address=st.none() | names,
    uri=st.none() | st.builds(lambda i: f"{SERVICE}/facilities/{i}", ids),
)
offsets = st.integers(-12 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
times = st.builds(
    lambda moment, tz: moment.replace(tzinfo=tz),
    st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2025, 12, 30)),
    offsets,
)
dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)).map(date.isoformat)
extensions = st.dictionaries(
    st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True),
    st.text(_SAFE_TEXT.filter(lambda c: c not in "\t\n\r\x85"), max_size=30),
    max_size=3,
).flatmap(
    lambda plain: st.dictionaries(st.sampled_from(sorted(epcis.ILMD_TERMS)), dates, max_size=2).map(
        lambda ilmd: {k: v for k, v in plain.items() if k not in epcis.ILMD_TERMS} | ilmd
    )
)


def _one_lot_per_uri(items: tuple[Quantity, ...], known: dict[str, str]) -> tuple[Quantity, ...]:
    fixed = []
    for item in items:
        lot = item.lot
        if lot.gtin is None and lot.uri is not None:
            if "/external/" in lot.uri:
                lot = LotRef(None, lot.uri.rsplit("/", 1)[1], lot.uri)
            lot = LotRef(None, known.setdefault(lot.uri, lot.lot), lot.uri)
        fixed.append(Quantity(lot, item.amount, item.unit))
    return tuple(fixed)


@st.composite
def trace_events(draw: st.DrawFn) -> TraceEvent:
    kind = draw(st.sampled_from(EventKind))
    known: dict[str, str] = {}
    outputs = _one_lot_per_uri(tuple(draw(st.lists(quantities, min_size=1, max_size=3))), known)
    inputs: tuple[Quantity, ...] = ()
    if kind is EventKind.TRANSFORMATION:
        inputs = _one_lot_per_uri(tuple(draw(st.lists(quantities, max_size=3))), known)
    return TraceEvent(
        event_id=f"urn:uuid:{draw(st.uuids())}",
        kind=kind,
        event_time=draw(times),
        biz_step=draw(st.sampled_from(sorted(BIZ_STEPS))),
        disposition=draw(st.none() | st.sampled_from(sorted(DISPOSITIONS))),
        action=draw(st.sampled_from(Action)) if kind is EventKind.OBJECT else None,
        outputs=outputs,
        inputs=inputs,
        place=draw(st.none() | places),
        source=draw(st.none() | parties),
        destination=draw(st.none() | parties),
        actor=draw(st.none() | actors),
        note=draw(st.none() | notes),
        extensions=draw(extensions),
    )


event_lists = st.lists(trace_events(), min_size=1, max_size=4, unique_by=lambda e: e.event_id)


@settings(max_examples=75)
@given(event_lists)
def test_round_trip_gives_back_the_same_events(events: list[TraceEvent]) -> None:
    document = export_document(events, created=CREATED)
    back = load(json.dumps(document, ensure_ascii=False).encode())
    assert back == events
    assert [(e.time_zone, e.event_time.isoformat()) for e in back] == [
        (e.time_zone, e.event_time.isoformat()) for e in events
    ]


@settings(max_examples=25)
@given(event_lists)
def test_random_exports_follow_the_published_schema(events: list[TraceEvent]) -> None:
    assert schema_messages(export_document(events, created=CREATED)) == []


# --- fixtures -------------------------------------------------------------------------------------


def test_the_fixture_schema_is_the_published_one() -> None:
    schema = load_schema(SCHEMA_PATH)
    assert schema["$id"] == "https://gs1.github.io/EPCIS/EPCIS-JSON-Schema.json"
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"


def test_traceqr_sample_imports() -> None:
    raw = (FIXTURES / "traceqr-sample.jsonld").read_bytes()
    made, shipped, pressed = load(raw)
    assert made.action is Action.ADD and made.biz_step == "commissioning"
    assert made.outputs == (Quantity(LOT, 1200.0, "KGM"),)
    assert made.place == Place(
        "Vườn cam Cao Phong", gln=GLN_FARM, address="Xã Cao Phong, tỉnh Phú Thọ"
    )
    assert made.actor == Party("HTX Cam Cao Phong", gln=GLN_COOP)
    assert made.extensions == {"expiry_date": "2025-08-15", "production_date": "2025-07-01"}
    assert made.note == "Thu hoạch đợt 1 🍊 — trời nắng"
    # URN and Web URI forms of CBV values; a UTC eventTime shown at its +07:00 offset.
    assert (shipped.biz_step, shipped.disposition) == ("shipping", "in_transit")
    assert shipped.event_time.isoformat() == "2025-07-02T06:40:00+07:00"
    assert shipped.source == Party("HTX Cam Cao Phong", gln=GLN_COOP)
    assert shipped.destination == Party("Công ty Nước ép Hà Nội", uri=f"{SERVICE}/businesses/7")
    assert pressed.kind is EventKind.TRANSFORMATION and pressed.biz_step == "transforming"
    assert pressed.outputs == (Quantity(LOT_NO_GTIN, 300.0, "LTR"),)
    assert pressed.event_time.microsecond == 250_000
    assert pressed.extensions == {"brix": "11.5"}
    # Exported again, it follows the schema and reads back the same.
    again = export_document([made, shipped, pressed], created=CREATED)
    assert schema_messages(again) == []
    assert load(again) == [made, shipped, pressed]


@pytest.mark.parametrize(
    ("name", "reason", "path"),
    [
        # A serialised item (epcList): TraceQR records lots, so the whole document is refused.
        ("readme-getting-started.json", "unsupported_field", "epcisBody.eventList[0].epcList"),
        # No eventID (and no objects: the schema refuses it as well).
        ("readme-two-events.json", "missing_field", "epcisBody.eventList[0].eventID"),
        ("readme-single-event.json", "not_epcis_document", "type"),
    ],
)
def test_package_examples_are_refused_with_a_reason(name: str, reason: str, path: str) -> None:
    error = refused((FIXTURES / name).read_bytes())
    assert (error.reason, error.path) == (reason, path)


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("readme-getting-started.json", True),
        ("readme-two-events.json", False),
        ("readme-single-event.json", False),
    ],
)
def test_both_validators_agree_on_the_package_examples(name: str, valid: bool) -> None:
    document = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    assert (schema_messages(document) == []) is valid
    assert fast_valid(document) is valid


def test_the_example_with_its_epc_list_emptied_says_what_else_is_missing() -> None:
    document = json.loads((FIXTURES / "readme-getting-started.json").read_text(encoding="utf-8"))
    first(document)["epcList"] = []
    error = refused(document)
    assert (error.reason, error.path) == ("no_lots", "epcisBody.eventList[0].quantityList")


def test_other_event_types_are_refused_naming_the_index() -> None:
    document = base_document()
    document["epcisBody"]["eventList"].append(
        {
            "type": "AggregationEvent",
            "eventTime": "2025-07-01T08:00:00+07:00",
            "eventTimeZoneOffset": "+07:00",
            "action": "ADD",
            "parentID": "urn:epc:id:sscc:0614141.1234567890",
            "childEPCs": [],
        }
    )
    error = refused(document)
    assert (error.reason, error.path) == ("unsupported_event_type", "epcisBody.eventList[2].type")
    assert error.params == {"index": 2, "type": "AggregationEvent"}


# --- hostile and malformed documents --------------------------------------------------------------


def _set(getter: Callable[[dict[str, Any]], dict[str, Any]], key: str, value: Any) -> Any:
    def mutate(document: dict[str, Any]) -> None:
        getter(document)[key] = value

    return mutate


def _drop(getter: Callable[[dict[str, Any]], dict[str, Any]], key: str) -> Any:
    def mutate(document: dict[str, Any]) -> None:
        del getter(document)[key]

    return mutate


def _quantity(key: str, value: Any) -> Any:
    return lambda document: first(document)["quantityList"][0].__setitem__(key, value)


E0 = "epcisBody.eventList[0]"
E1 = "epcisBody.eventList[1]"
DL = "https://id.gs1.org/01/"

MUTATIONS: dict[str, tuple[Any, str, str]] = {
    "wrong document type": (
        _set(lambda d: d, "type", "EPCISQueryDocument"),
        "not_epcis_document",
        "type",
    ),
    "old schema version": (
        _set(lambda d: d, "schemaVersion", "1.2"),
        "unsupported_version",
        "schemaVersion",
    ),
    "missing eventTime": (_drop(first, "eventTime"), "missing_field", f"{E0}.eventTime"),
    "missing offset": (
        _drop(first, "eventTimeZoneOffset"),
        "missing_field",
        f"{E0}.eventTimeZoneOffset",
    ),
    "eventTime without offset": (
        _set(first, "eventTime", "2025-07-01T06:15:00"),
        "bad_time",
        f"{E0}.eventTime",
    ),
    "eventTime not ISO": (
        _set(first, "eventTime", "01/07/2025 06:15"),
        "bad_time",
        f"{E0}.eventTime",
    ),
    "offset without colon": (
        _set(first, "eventTimeZoneOffset", "+0700"),
        "bad_time_zone",
        f"{E0}.eventTimeZoneOffset",
    ),
    "offset out of range": (
        _set(first, "eventTimeZoneOffset", "+15:00"),
        "bad_time_zone",
        f"{E0}.eventTimeZoneOffset",
    ),
    "time before 2000": (
        _set(first, "eventTime", "1999-12-31T23:00:00Z"),
        "time_out_of_range",
        f"{E0}.eventTime",
    ),
    "time in the future": (
        _set(first, "eventTime", "2026-01-03T00:00:00Z"),
        "time_out_of_range",
        f"{E0}.eventTime",
    ),
    "unknown bizStep": (_set(second, "bizStep", "harvesting"), "unknown_biz_step", f"{E1}.bizStep"),
    "unknown bizStep URN": (
        _set(second, "bizStep", "urn:epcglobal:cbv:bizstep:harvesting"),
        "unknown_biz_step",
        f"{E1}.bizStep",
    ),
    "CBV step TraceQR does not record": (
        _set(second, "bizStep", "loading"),
        "unsupported_biz_step",
        f"{E1}.bizStep",
    ),
    "missing bizStep": (_drop(second, "bizStep"), "missing_field", f"{E1}.bizStep"),
    "unknown disposition": (
        _set(second, "disposition", "sold"),
        "unknown_disposition",
        f"{E1}.disposition",
    ),
    "CBV disposition TraceQR does not record": (
        _set(second, "disposition", "stolen"),
        "unsupported_disposition",
        f"{E1}.disposition",
    ),
    "bad action": (_set(second, "action", "UPDATE"), "bad_action", f"{E1}.action"),
    "ILMD on OBSERVE": (
        _set(second, "ilmd", {"cbvmda:itemExpirationDate": "2025-08-15"}),
        "ilmd_not_allowed",
        f"{E1}.ilmd",
    ),
    "ILMD date not a date": (
        _set(first, "ilmd", {"cbvmda:itemExpirationDate": "soon"}),
        "bad_ilmd",
        f'{E0}.ilmd["cbvmda:itemExpirationDate"]',
    ),
    "bad GTIN check digit": (
        _quantity("epcClass", f"{DL}08934588012229/10/A"),
        "bad_gtin",
        f"{E0}.quantityList[0].epcClass",
    ),
    "lot with accents": (
        _quantity("epcClass", f"{DL}08934588012228/10/L%C3%94-1"),
        "bad_lot",
        f"{E0}.quantityList[0].epcClass",
    ),
    "lot with a space": (
        _quantity("epcClass", f"{DL}08934588012228/10/A%20B"),
        "bad_lot",
        f"{E0}.quantityList[0].epcClass",
    ),
    "lot too long": (
        _quantity("epcClass", f"{DL}08934588012228/10/{'A' * 21}"),
        "bad_lot",
        f"{E0}.quantityList[0].epcClass",
    ),
    "class without lot": (
        _quantity("epcClass", f"{DL}08934588012228"),
        "bad_epc_class",
        f"{E0}.quantityList[0].epcClass",
    ),
    "serial, not a class": (
        _quantity("epcClass", f"{DL}08934588012228/21/123"),
        "bad_epc_class",
        f"{E0}.quantityList[0].epcClass",
    ),
    "foreign class URI": (
        _quantity("epcClass", "https://example.com/products/1"),
        "bad_epc_class",
        f"{E0}.quantityList[0].epcClass",
    ),
    "negative quantity": (
        _quantity("quantity", -5),
        "bad_quantity",
        f"{E0}.quantityList[0].quantity",
    ),
    "quantity as text": (
        _quantity("quantity", "5"),
        "bad_quantity",
        f"{E0}.quantityList[0].quantity",
    ),
    "unit in lower case": (_quantity("uom", "kg"), "bad_unit", f"{E0}.quantityList[0].uom"),
    "no lots": (_drop(first, "quantityList"), "no_lots", f"{E0}.quantityList"),
    "serial EPC list": (
        _set(first, "epcList", ["https://id.gs1.org/01/08934588012228/21/1"]),
        "unsupported_field",
        f"{E0}.epcList",
    ),
    "sensor data": (
        _set(first, "sensorElementList", [{"sensorReport": []}]),
        "unsupported_field",
        f"{E0}.sensorElementList",
    ),
    "duplicate eventIDs": (
        _set(second, "eventID", "urn:uuid:6f1c2d3e-4b5a-4c6d-8e7f-000000000001"),
        "duplicate_event_id",
        f"{E1}.eventID",
    ),
    "eventID not a URI": (_set(second, "eventID", "event 2"), "bad_event_id", f"{E1}.eventID"),
    "missing eventID": (_drop(second, "eventID"), "missing_field", f"{E1}.eventID"),
    "remote @context": (
        _set(lambda d: d, "@context", [EPCIS_CONTEXT, "https://evil.example/ctx.jsonld"]),
        "unsupported_context",
        "@context[1]",
    ),
    "no EPCIS context": (
        _set(lambda d: d, "@context", [{"tqr": TQR_NAMESPACE}]),
        "unsupported_context",
        "@context",
    ),
    "remote context on an event": (
        _set(first, "@context", "https://evil.example/ctx.jsonld"),
        "unsupported_context",
        f"{E0}.@context",
    ),
    "@vocab in context": (
        _set(lambda d: d, "@context", [EPCIS_CONTEXT, {"@vocab": "https://evil.example/"}]),
        "unsupported_context",
        "@context[1].@vocab",
    ),
    "tqr prefix elsewhere": (
        _set(lambda d: d, "@context", [EPCIS_CONTEXT, {"tqr": "https://evil.example/"}]),
        "unsupported_context",
        "@context[1].tqr",
    ),
    "$ref in an event": (
        _set(first, "$ref", "https://evil.example/event.json"),
        "unknown_field",
        f"{E0}.$ref",
    ),
    "$ref in the document": (
        _set(lambda d: d, "$ref", "https://evil.example/doc.json"),
        "unknown_field",
        "$ref",
    ),
    "plain unknown member": (_set(first, "colour", "red"), "unknown_field", f"{E0}.colour"),
    "unknown tqr member": (
        _set(first, "tqr:colour", "red"),
        "bad_extension",
        f'{E0}["tqr:colour"]',
    ),
    "control character in a note": (
        _set(second, "tqr:note", "Giao\x07 hàng"),
        "bad_text",
        f'{E1}["tqr:note"]',
    ),
    "escape sequence in a name": (
        _set(first, "tqr:place", {"name": "\x1b[31mX"}),
        "bad_text",
        f'{E0}["tqr:place"].name',
    ),
    "bidi override in a note": (
        _set(second, "tqr:note", "abc\u202edef"),
        "bad_text",
        f'{E1}["tqr:note"]',
    ),
    "line break in a name": (
        _set(first, "tqr:place", {"name": "A\nB"}),
        "bad_text",
        f'{E0}["tqr:place"].name',
    ),
    "control character in a member name": (
        _set(first, "example:a\x00", "x"),
        "bad_text",
        f'{E0}["example:a\\u0000"]',
    ),
    "note too long": (_set(second, "tqr:note", "x" * 2001), "text_too_long", f'{E1}["tqr:note"]'),
    "bad GLN": (
        _set(first, "bizLocation", {"id": "https://id.gs1.org/414/8934588000028"}),
        "bad_gln",
        f"{E0}.bizLocation.id",
    ),
    "two owning parties": (
        _set(
            first,
            "sourceList",
            [
                {"type": "owning_party", "source": f"https://id.gs1.org/417/{GLN_COOP}"},
                {"type": "owning_party", "source": f"https://id.gs1.org/417/{GLN_FARM}"},
            ],
        ),
        "ambiguous_party",
        f"{E0}.sourceList[1]",
    ),
    "extension key in upper case": (
        _set(first, "tqr:extensions", {"Grade": "A"}),
        "bad_extension",
        f'{E0}["tqr:extensions"].Grade',
    ),
    "extra member in a quantity": (
        _quantity("example:x", 1),
        "schema_invalid",
        f"{E0}.quantityList[0]",
    ),
    "creationDate not a date": (
        _set(lambda d: d, "creationDate", "yesterday"),
        "schema_invalid",
        "creationDate",
    ),
}


@pytest.mark.parametrize(("mutate", "reason", "path"), MUTATIONS.values(), ids=MUTATIONS.keys())
def test_hostile_documents_are_refused(mutate: Any, reason: str, path: str) -> None:
    document = base_document()
    mutate(document)
    error = refused(json.dumps(document, ensure_ascii=False).encode())
    assert (error.reason, error.path) == (reason, path), error
    assert error.message and error.template
    assert str(error).startswith(path) if path else True


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not_json"),
        (b"", "not_json"),
        (b"\xff\xfe{}", "not_json"),
        (b'{"a": 1} trailing', "not_json"),
        (b"[1, 2]", "not_epcis_document"),
        (b'"EPCISDocument"', "not_epcis_document"),
        (b'{"type": "EPCISDocument", "epcisBody": {"eventList": [NaN]}}', "bad_number"),
        (b'{"type": "EPCISDocument", "epcisBody": {"eventList": [Infinity]}}', "bad_number"),
        (b'{"type": "EPCISDocument", "epcisBody": {"eventList": [-Infinity]}}', "bad_number"),
        (b'{"type": "EPCISDocument", "epcisBody": {"eventList": [1e999]}}', "bad_number"),
        (
            b'{"type": "EPCISDocument", "epcisBody": {"eventList": [' + b"9" * 40 + b"]}}",
            "bad_number",
        ),
        (b'{"type": "EPCISDocument", "type": "EPCISDocument"}', "duplicate_key"),
        (b"[" * 100_000 + b"]" * 100_000, "too_deep"),
    ],
)
def test_malformed_json_is_refused(raw: bytes, reason: str) -> None:
    assert refused(raw).reason == reason


def test_duplicate_keys_deep_inside_are_refused() -> None:
    text = json.dumps(base_document())
    text = text.replace('"eventTime":', '"eventTime": "2025-07-01T06:15:00+07:00", "eventTime":', 1)
    error = refused(text)
    assert error.reason == "duplicate_key"
    assert error.params == {"key": "eventTime"}


def test_nesting_deeper_than_32_is_refused() -> None:
    document = base_document()
    deep: Any = "bottom"
    for _ in range(40):
        deep = [deep]
    first(document)["example:deep"] = deep
    assert refused(document).reason == "too_deep"
    shallow: Any = "bottom"
    for _ in range(20):
        shallow = [shallow]
    document = base_document()
    first(document)["example:shallow"] = shallow  # another namespace's extension: not kept
    assert len(load(document)) == 2


def test_too_big_is_refused_before_parsing() -> None:
    assert refused(b" " * 5_000_001).reason == "too_large"
    assert refused("x" * 5_000_001).reason == "too_large"
    small = json.dumps(base_document()).encode()
    assert refused(small, max_bytes=len(small) - 1).reason == "too_large"
    assert len(load(small, max_bytes=len(small))) == 2


def test_10001_events_are_refused() -> None:
    document = base_document()
    template = first(document)
    document["epcisBody"]["eventList"] = [
        {**template, "eventID": f"urn:uuid:00000000-0000-4000-8000-{i:012d}"} for i in range(10_001)
    ]
    error = refused(json.dumps(document).encode())
    assert (error.reason, error.path) == ("too_many_events", "epcisBody.eventList")
    assert error.params == {"limit": 10_000, "count": 10_001}


def test_all_or_nothing() -> None:
    events = [
        event(event_id=f"urn:uuid:00000000-0000-4000-8000-{i:012d}", action=Action.OBSERVE)
        for i in range(50)
    ]
    document = export_document(events, created=CREATED)
    document["epcisBody"]["eventList"][49]["bizStep"] = "harvesting"
    error = refused(document)
    assert (error.reason, error.path) == ("unknown_biz_step", "epcisBody.eventList[49].bizStep")


def test_dict_input_is_checked_like_text() -> None:
    document = base_document()
    first(document)["quantityList"][0]["quantity"] = float("nan")
    assert refused(document).reason == "bad_number"
    looped: dict[str, Any] = base_document()
    first(looped)["example:loop"] = looped
    assert refused(looped).reason == "not_json"
    assert refused(["not", "a", "mapping"]).reason == "not_json"


def test_vietnamese_note_with_emoji_is_kept() -> None:
    note = "Đã kiểm tra chất lượng ✅ — cam ngọt 🍊👨‍🌾\nLô đạt chuẩn VietGAP"
    events = [event(note=note, place=Place("Hợp tác xã Đồng Tháp", address="Tháp Mười"))]
    back = load(json.dumps(export_document(events, created=CREATED), ensure_ascii=False).encode())
    assert back == events
    assert back[0].note == note


def test_accepted_forms_of_identifiers() -> None:
    document = base_document()
    ev = first(document)
    ev["quantityList"] = [
        {"epcClass": "urn:epc:class:lgtin:8934588.001222.CAM-2507", "quantity": 1},
        {"epcClass": "https://brand.example.vn/shop/01/8934588012228/10/A%2FB"},
        {"epcClass": f"{SERVICE}/lots/external/L-9"},
    ]
    ev["bizLocation"] = {"id": "urn:epc:id:sgln:8934588.00002.0"}
    ev["sourceList"] = [
        {
            "type": "https://ref.gs1.org/cbv/SDT-owning_party",
            "source": "urn:epc:id:pgln:8934588.00001",
        }
    ]
    (made, _) = load(document)
    assert [q.lot for q in made.outputs] == [
        LotRef(GTIN, "CAM-2507"),
        LotRef(GTIN, "A/B"),
        LotRef(None, "L-9", f"{SERVICE}/lots/external/L-9"),
    ]
    assert made.place == Place("", gln=GLN_FARM)
    assert made.source == Party("", gln=GLN_COOP)


def test_context_only_members_are_accepted_and_not_kept() -> None:
    document = base_document()
    ev = second(document)
    ev["recordTime"] = "2025-07-01T08:00:00+07:00"
    ev["readPoint"] = {"id": "urn:epc:id:sgln:8934588.00002.1"}
    ev["bizTransactionList"] = [{"type": "po", "bizTransaction": "urn:example:po:1"}]
    ev["sourceList"] = [{"type": "location", "source": f"https://id.gs1.org/414/{GLN_FARM}"}]
    ev["example:colour"] = "red"
    document["@context"].append({"example": "https://example.com/ns/"})
    _, shipped = load(document)
    assert shipped.source is None
    assert shipped == load(base_document())[1]


# --- no network ----------------------------------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the network was used")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.mark.usefixtures("no_network")
def test_nothing_is_fetched() -> None:
    schema_validator.cache_clear()  # compile the schema again, offline
    assert len(load(base_document())) == 2
    for mutate in ("remote @context", "remote context on an event", "$ref in an event"):
        document = base_document()
        MUTATIONS[mutate][0](document)
        assert refused(document).reason == MUTATIONS[mutate][1]


@pytest.mark.usefixtures("no_network")
def test_a_schema_referring_outside_itself_is_refused(tmp_path: Path) -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    schema["definitions"]["uri"] = {"$ref": "https://evil.example/uri.json"}
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(schema), encoding="utf-8")
    with pytest.raises(ValueError, match="refers outside itself"):
        load(base_document(), schema_path=path)


# --- the two validators agree ---------------------------------------------------------------------


def test_fast_and_reference_validators_agree() -> None:
    documents = [export_document(events, created=CREATED) for events in EXPORT_CASES.values()]
    for mutate, _, _ in MUTATIONS.values():
        document = base_document()
        mutate(document)
        documents.append(document)
    broken = base_document()
    second(broken)["bizStep"] = "urn:epcglobal:cbv:bizstep:shipping"  # the schema wants bare words
    documents.append(broken)
    verdicts = [(schema_messages(d) == [], fast_valid(d)) for d in documents]
    assert all(reference == fast for reference, fast in verdicts), verdicts
    assert any(not reference for reference, _ in verdicts)


def test_default_schema_path_points_into_the_package() -> None:
    assert epcis.DEFAULT_SCHEMA_PATH.parts[-3:] == ("data", "epcis", "EPCISDocument.schema.json")
    assert copy.deepcopy(load_schema(SCHEMA_PATH)) == json.loads(SCHEMA_PATH.read_text("utf-8"))


def test_the_runtime_schema_is_the_published_one_kept_in_the_fixtures() -> None:
    import hashlib

    from traceqr.domain.epcis import DEFAULT_SCHEMA_PATH

    fixture = (
        Path(__file__).resolve().parents[1] / "fixtures" / "epcis" / "EPCISDocument.schema.json"
    )
    digest = hashlib.sha256(DEFAULT_SCHEMA_PATH.read_bytes()).hexdigest()
    assert digest == hashlib.sha256(fixture.read_bytes()).hexdigest()
    assert digest == "70b7ecb60eb605c6edd230761557763e4d470333510d28619291476de635bf20"
