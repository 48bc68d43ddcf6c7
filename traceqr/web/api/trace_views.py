"""Traceability endpoints: facilities, trace events, shipments between businesses, EPCIS,
and the product passport export."""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify, request, url_for

from traceqr.errors import N_, ValidationError
from traceqr.services import traceability
from traceqr.web.api import blueprint
from traceqr.web.api.schemas import (
    EventIn,
    FacilityIn,
    ShipmentAnswerIn,
    ShipmentIn,
)
from traceqr.web.api.views import created, parse_body
from traceqr.web.context import db_session, now, state
from traceqr.web.ratelimit import limited

MAX_IMPORT_BYTES = 5 * 1024 * 1024


def _public_url() -> str:
    return state().settings.public_url


def _caps() -> dict[str, int]:
    """The ceilings on a batch's events and an event's inputs (issue 16)."""
    settings = state().settings
    return {
        "max_events": settings.max_events_per_batch,
        "max_inputs": settings.max_inputs_per_event,
    }


@blueprint.get("/facilities")
@limited("api")
def list_facilities() -> dict[str, Any]:
    rows = traceability.facilities(db_session(), g.business_id)
    return {"facilities": [traceability.facility_json(f) for f in rows]}


@blueprint.post("/facilities")
@limited("api")
def create_facility() -> tuple[Response, int]:
    body = parse_body(FacilityIn)
    facility = traceability.create_facility(
        db_session(), g.business_id, body.model_dump(exclude_unset=True), now()
    )
    db_session().commit()
    return created(traceability.facility_json(facility), url_for("api.list_facilities"))


@blueprint.get("/batches/<id:batch_id>/events")
@limited("api")
def list_events(batch_id: int) -> dict[str, Any]:
    session = db_session()
    batch = traceability.batch_for_events(session, g.business_id, batch_id)
    return {"batch_id": batch.id, "events": traceability.events_json(session, batch.id)}


@blueprint.post("/batches/<id:batch_id>/events")
@limited("api")
def record_event(batch_id: int) -> tuple[Response, int]:
    body = parse_body(EventIn)
    session = db_session()
    data = body.model_dump(exclude_unset=True)
    event = traceability.record_event(
        session, g.business_id, batch_id, data, now(), origin="api", **_caps()
    )
    session.commit()
    return created(
        traceability.event_json(session, event), url_for("api.list_events", batch_id=batch_id)
    )


def _body_text(kind: str) -> str:
    if request.content_length is not None and request.content_length > MAX_IMPORT_BYTES:
        raise ValidationError(N_("the %(kind)s is larger than 5 MB"), field="file", kind=kind)
    raw = request.get_data(cache=False)
    if len(raw) > MAX_IMPORT_BYTES:
        raise ValidationError(N_("the %(kind)s is larger than 5 MB"), field="file", kind=kind)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(
            N_("the %(kind)s is not UTF-8 text"), field="file", kind=kind
        ) from exc


@blueprint.post("/batches/<id:batch_id>/events.csv")
@limited("api")
def import_events_csv(batch_id: int) -> tuple[Response, int]:
    """Bulk import: a CSV of events on this batch, all or none."""
    session = db_session()
    events = traceability.import_csv(
        session, g.business_id, batch_id, _body_text("CSV"), now(), **_caps()
    )
    session.commit()
    payload = {
        "imported": len(events),
        "already_present": 0,
        "events": traceability.events_json(session, batch_id, only=events),
    }
    return created(payload, url_for("api.list_events", batch_id=batch_id))


@blueprint.get("/batches/<id:batch_id>/epcis.jsonld")
@limited("api")
def export_epcis(batch_id: int) -> Response:
    """The batch's events as an EPCIS 2.0 JSON-LD document."""
    session = db_session()
    batch = traceability.batch_for_events(session, g.business_id, batch_id)
    document = traceability.epcis_document(session, batch, _public_url(), now())
    response = jsonify(document)
    response.mimetype = "application/ld+json"
    return response


@blueprint.post("/epcis/capture")
@limited("api")
def import_epcis() -> tuple[Response, int]:
    """Events from a partner's EPCIS 2.0 JSON(-LD) document, all or none."""
    session = db_session()
    result = traceability.import_epcis(
        session, g.business_id, _body_text("EPCIS document"), _public_url(), now(), **_caps()
    )
    session.commit()
    payload = {
        "imported": len(result.created),
        "already_present": result.already_present,
        "events": traceability.events_json(session, 0, only=result.created),
    }
    return jsonify(payload), 201


@blueprint.post("/batches/<id:batch_id>/shipments")
@limited("api")
def ship_batch(batch_id: int) -> tuple[Response, int]:
    body = parse_body(ShipmentIn)
    session = db_session()
    data = body.model_dump(exclude_unset=True)
    # The partner's tax code. A JSON number is read as a tax code too, never as a business
    # id: ids can be guessed, and only a verified business is shipped to.
    partner = str(data.pop("partner"))
    shipment = traceability.ship(session, g.business_id, batch_id, partner, data, now())
    session.commit()
    return created(traceability.shipment_json(session, shipment), url_for("api.list_shipments"))


@blueprint.get("/shipments")
@limited("api")
def list_shipments() -> dict[str, Any]:
    session = db_session()
    incoming, outgoing = traceability.shipments(session, g.business_id)
    return {
        "incoming": [traceability.shipment_json(session, s) for s in incoming],
        "outgoing": [traceability.shipment_json(session, s) for s in outgoing],
    }


def _answer(shipment_id: int, accept: bool) -> dict[str, Any]:
    body = parse_body(ShipmentAnswerIn, optional=True)
    session = db_session()
    shipment = traceability.answer_shipment(
        session, g.business_id, shipment_id, accept, body.model_dump(exclude_unset=True), now()
    )
    session.commit()
    return traceability.shipment_json(session, shipment)


@blueprint.post("/shipments/<id:shipment_id>/accept")
@limited("api")
def accept_shipment(shipment_id: int) -> dict[str, Any]:
    """The batch arrived: a receiving event on it, recorded by you."""
    return _answer(shipment_id, True)


@blueprint.post("/shipments/<id:shipment_id>/refuse")
@limited("api")
def refuse_shipment(shipment_id: int) -> dict[str, Any]:
    return _answer(shipment_id, False)


@blueprint.get("/batches/<id:batch_id>/passport.json")
@limited("api")
def batch_passport(batch_id: int) -> dict[str, Any]:
    """Product and batch shaped for the national traceability portal and a digital
    product passport."""
    session = db_session()
    batch = traceability.batch_for_events(session, g.business_id, batch_id)
    return traceability.passport(session, batch, _public_url(), now())
