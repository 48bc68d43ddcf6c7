"""Partners only by verified identity (issue 15).

A shipment goes to the *verified* business with a tax code, never to an impostor that
copied the tax code into its own profile, and never to a business id. A step names another
business on TraceQR only through a shipment both took part in; any other partner is text,
shown as written. And no answer turns a guessed business id into that business's name.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from tests.conftest import PUBLIC_URL, Api
from tests.web.portal_client import PortalClient
from tests.web.test_journey_page import journey_html, page_text
from tests.web.test_portal import make_batch, make_product
from traceqr.models import Shipment, TraceEventRecord
from traceqr.services import identity
from traceqr.state import AppState, utcnow

REAL_TAX_CODE = "0100109106"
REAL_NAME = "Công ty Chè Hà Nội"
IMPOSTOR_NAME = "Chè Hà Nội chính hãng"
OTHER_NAME = "Thực phẩm sạch Phú Thị"
NOT_FOUND = "no verified business on TraceQR has this tax code"


def error_of(response: Any) -> dict[str, Any]:
    body = response.get_json()
    assert set(body) == {"error"}, body
    return body["error"]


def stamp_page(api: Api, batch_id: int, lang: str = "vi") -> str:
    """The journey section of the stamp page of one of the batch's stamps."""
    urls = api.stamp_urls(batch_id)
    if not urls:
        api.issue(batch_id, 1)
        urls = api.stamp_urls(batch_id)
    html = api.client.get(f"/S/{urls[0].split('/S/', 1)[1]}?lang={lang}").get_data(as_text=True)
    assert 'data-status="genuine"' in html, html[:2000]
    return journey_html(html)


def shipment_count(app: Flask) -> int:
    with AppState.of(app).database.session() as session:
        return session.scalar(select(func.count()).select_from(Shipment)) or 0


@dataclass
class Member:
    """A verified business and its API."""

    id: int
    api: Api


def member(client: FlaskClient, make_business: Any, name: str, tax_code: str) -> Member:
    made = make_business(name, tax_code=tax_code)  # vouched for by the operator
    return Member(made.business.id, Api(client, made.api_key))


@pytest.fixture
def grower(client: FlaskClient, make_business: Any) -> Member:
    return member(client, make_business, "HTX Chè Tân Cương", "0101243150")


@pytest.fixture
def other(client: FlaskClient, make_business: Any) -> Member:
    """A verified business the others have no shipment with."""
    return member(client, make_business, OTHER_NAME, "0100233583")


# --- (a) the shipment hijack -----------------------------------------------------------------


@pytest.mark.parametrize("impostor_first", [True, False], ids=["impostor-first", "real-first"])
def test_a_shipment_reaches_the_verified_holder_of_a_tax_code_never_an_impostor(
    app: Flask, client: FlaskClient, make_business: Any, grower: Member, impostor_first: bool
) -> None:
    def real() -> Any:
        return make_business(REAL_NAME, tax_code=REAL_TAX_CODE)  # vouched for

    def impostor() -> Any:
        # Signed up on its own and copied the real producer's tax code into its profile.
        return make_business(IMPOSTOR_NAME, verified=False, tax_code=REAL_TAX_CODE)

    if impostor_first:
        fake, genuine = impostor(), real()
    else:
        genuine, fake = real(), impostor()
    fake_api, genuine_api = Api(client, fake.api_key), Api(client, genuine.api_key)
    leaves = grower.api.batch(lot="TC-2611")
    grower.api.post(f"/batches/{leaves['id']}/events", {"biz_step": "commissioning"})

    sent = []
    for written in (REAL_TAX_CODE, "0100-109-106", " 0100 109 106 "):
        response = grower.api.post(f"/batches/{leaves['id']}/shipments", {"partner": written})
        assert response.status_code == 201, response.get_json()
        assert response.get_json()["receiver"] == {"id": genuine.business.id, "name": REAL_NAME}
        sent.append(response.get_json()["id"])

    # The impostor got nothing: no shipment, no access to the batch, no way to write on it.
    assert fake_api.get("/shipments").get_json() == {"incoming": [], "outgoing": []}
    assert fake_api.get(f"/batches/{leaves['id']}/events").status_code == 404
    assert fake_api.get(f"/batches/{leaves['id']}/passport.json").status_code == 404
    destroy = fake_api.post(f"/batches/{leaves['id']}/events", {"biz_step": "destroying"})
    assert destroy.status_code == 404
    for shipment_id in sent:
        assert fake_api.post(f"/shipments/{shipment_id}/accept").status_code == 404

    incoming = genuine_api.get("/shipments").get_json()["incoming"]
    assert sorted(s["id"] for s in incoming) == sorted(sent)
    assert genuine_api.post(f"/shipments/{sent[0]}/accept").status_code == 200
    answer = grower.api.get(f"/batches/{leaves['id']}/events")
    steps = [(e["biz_step"], e["recorded_by"]["name"]) for e in answer.get_json()["events"]]
    assert ("receiving", REAL_NAME) in steps and len(steps) == 5
    assert "destroying" not in answer.get_data(as_text=True)
    assert IMPOSTOR_NAME not in answer.get_data(as_text=True)


def test_the_issue_story_in_the_portal_an_impostor_copies_a_tax_code_and_gets_nothing(
    app: Flask, client: FlaskClient, make_business: Any
) -> None:
    # The impostor signs up first and copies the real processor's tax code into its profile.
    fake = PortalClient(app.test_client())
    fake.signup(IMPOSTOR_NAME, "fake@chehanoi.example.vn")
    page = fake.post(
        "/portal/profile",
        {"name": IMPOSTOR_NAME, "tax_code": REAL_TAX_CODE, "province_code": "ha-noi"},
    )
    assert not page.errors, page.errors
    genuine = make_business(REAL_NAME, tax_code=REAL_TAX_CODE)

    owner = PortalClient(app.test_client())
    owner.signup("HTX Chè Tân Cương", "htx@tancuong.vn")
    batch_id = make_batch(owner, make_product(owner, name="Chè búp tươi"), lot="TC-2611")
    page = owner.post(
        f"/portal/batches/{batch_id}/ship",
        {"partner": REAL_TAX_CODE, "quantity": "500", "unit": "KGM"},
        form_page=f"/portal/batches/{batch_id}/journey",
    )
    assert page.flashes and REAL_NAME in page.flashes[0], page.errors
    assert IMPOSTOR_NAME not in page.html

    shipments = fake.get("/portal/shipments")
    assert "TC-2611" not in shipments.text and "HTX Chè Tân Cương" not in shipments.text
    assert fake.get(f"/portal/batches/{batch_id}/journey").status == 404
    (incoming,) = Api(client, genuine.api_key).get("/shipments").get_json()["incoming"]
    assert incoming["batch_id"] == batch_id


# --- (b) only verified businesses are found ------------------------------------------------


def test_a_tax_code_only_unverified_or_withdrawn_businesses_carry_is_refused_like_an_unknown_one(
    app: Flask, make_business: Any, grower: Member, other: Member
) -> None:
    # Signed up, never verified; and verified, then withdrawn (fraud found).
    make_business("Cơ sở tự đăng ký", verified=False, tax_code="4601900002")
    withdrawn = make_business("Cơ sở bị thu hồi xác minh", tax_code="0109800004")
    state = AppState.of(app)
    with state.database.session() as session:
        identity.withdraw(
            session,
            state.keystore,
            withdrawn.business.id,
            identity.Reviewer.operator("tests"),
            reason="Giấy đăng ký giả",
            at=utcnow(),
            now=utcnow(),
        )
    batch = grower.api.batch()
    unknown = grower.api.post(f"/batches/{batch['id']}/shipments", {"partner": "0109900009"})
    assert unknown.status_code == 400
    expected = error_of(unknown)
    assert expected["field"] == "partner" and NOT_FOUND in expected["message"]

    for partner in (
        "4601900002",  # only an unverified business carries it
        "0109800004",  # its only holder's verification was withdrawn
        other.id,  # a verified business, by id (a guess)
        str(other.id),
        withdrawn.business.id,
        999_999,
        "",
        "Thực phẩm sạch Phú Thị",
    ):
        response = grower.api.post(f"/batches/{batch['id']}/shipments", {"partner": partner})
        assert response.status_code == 400, partner
        assert error_of(response) == expected, partner
    assert shipment_count(app) == 0
    assert grower.api.get(f"/batches/{batch['id']}/events").get_json()["events"] == []
    assert other.api.get("/shipments").get_json()["incoming"] == []


def test_a_portal_shipment_to_an_unverified_tax_code_says_so_and_sends_nothing(
    app: Flask, make_business: Any
) -> None:
    make_business("Đăng ký chưa xác minh", verified=False, tax_code=REAL_TAX_CODE)
    owner = PortalClient(app.test_client())
    owner.signup("HTX Chè Tân Cương", "htx@tancuong.vn")
    batch_id = make_batch(owner, make_product(owner, name="Chè búp tươi"), lot="TC-2611")
    page = owner.post(
        f"/portal/batches/{batch_id}/ship",
        {"partner": REAL_TAX_CODE},
        form_page=f"/portal/batches/{batch_id}/journey",
    )
    assert page.status == 400 and len(page.errors) == 1, page.errors
    assert "Đăng ký chưa xác minh" not in page.html
    assert shipment_count(app) == 0


def test_a_business_not_yet_verified_may_ship_to_a_verified_one_which_decides(
    app: Flask, client: FlaskClient, make_business: Any
) -> None:
    sender = make_business("Cơ sở mới đăng ký", verified=False, tax_code="0101243150")
    receiver = make_business(REAL_NAME, tax_code=REAL_TAX_CODE)
    sender_api, receiver_api = Api(client, sender.api_key), Api(client, receiver.api_key)
    batch = sender_api.batch()
    sent = sender_api.post(f"/batches/{batch['id']}/shipments", {"partner": REAL_TAX_CODE})
    assert sent.status_code == 201, sent.get_json()
    (incoming,) = receiver_api.get("/shipments").get_json()["incoming"]
    assert incoming["sender"]["name"] == "Cơ sở mới đăng ký"
    assert receiver_api.post(f"/shipments/{incoming['id']}/refuse").status_code == 200
    # A verified business cannot ship to an unverified one, though.
    back = receiver_api.batch()
    sender_code = receiver_api.post(f"/batches/{back['id']}/shipments", {"partner": "0101243150"})
    assert sender_code.status_code == 400


def test_a_receiver_whose_verification_is_withdrawn_cannot_accept_a_waiting_shipment(
    app: Flask, client: FlaskClient, make_business: Any, grower: Member
) -> None:
    receiver = make_business(REAL_NAME, tax_code=REAL_TAX_CODE)
    receiver_api = Api(client, receiver.api_key)
    batch = grower.api.batch()
    shipment = grower.api.post(
        f"/batches/{batch['id']}/shipments", {"partner": REAL_TAX_CODE}
    ).get_json()
    state = AppState.of(app)
    with state.database.session() as session:
        identity.withdraw(
            session,
            state.keystore,
            receiver.business.id,
            identity.Reviewer.operator("tests"),
            reason="Giấy đăng ký giả",
            at=utcnow(),
            now=utcnow(),
        )
    accepted = receiver_api.post(f"/shipments/{shipment['id']}/accept")
    assert accepted.status_code == 409
    assert "verified" in error_of(accepted)["message"]
    assert receiver_api.get(f"/batches/{batch['id']}/events").status_code == 404
    assert receiver_api.post(f"/shipments/{shipment['id']}/refuse").status_code == 200


def test_a_partner_whose_verification_is_withdrawn_after_accepting_loses_the_batch(
    app: Flask, client: FlaskClient, make_business: Any, grower: Member
) -> None:
    """The hijack once more: an impostor a reviewer wrongly verified accepted a shipment;
    once its verification is withdrawn it can neither read nor write on the batch."""
    receiver = make_business(REAL_NAME, tax_code=REAL_TAX_CODE)
    receiver_api = Api(client, receiver.api_key)
    batch = grower.api.batch()
    shipment = grower.api.post(
        f"/batches/{batch['id']}/shipments", {"partner": REAL_TAX_CODE}
    ).get_json()
    assert receiver_api.post(f"/shipments/{shipment['id']}/accept").status_code == 200
    assert receiver_api.get(f"/batches/{batch['id']}/events").status_code == 200
    state = AppState.of(app)
    with state.database.session() as session:
        identity.withdraw(
            session,
            state.keystore,
            receiver.business.id,
            identity.Reviewer.operator("tests"),
            reason="Giấy đăng ký giả",
            at=utcnow(),
            now=utcnow(),
        )
    destroying = receiver_api.post(f"/batches/{batch['id']}/events", {"biz_step": "destroying"})
    assert destroying.status_code == 404
    assert receiver_api.get(f"/batches/{batch['id']}/events").status_code == 404


# --- (c) no unilateral partner claims --------------------------------------------------------


def test_an_event_naming_another_business_by_id_is_refused_everywhere(
    app: Flask, grower: Member, other: Member
) -> None:
    batch = grower.api.batch(grower.api.product(gtin="8934567890120")["id"], lot="A-1")
    path = f"/batches/{batch['id']}/events"
    refusals = {}
    for side in ("source", "destination"):
        for business_id in (other.id, 999_999):
            response = grower.api.post(path, {"biz_step": "receiving", side: business_id})
            assert response.status_code == 400, response.get_json()
            error = error_of(response)
            assert error["field"] == side
            assert "shipment" in error["message"] and "text" in error["message"]
            assert OTHER_NAME not in error["message"]
            refusals.setdefault(side, []).append(error)
    # The same answer whether the business exists or not.
    assert all(a == b for a, b in refusals.values())

    # EPCIS: a party that is a TraceQR business URI is refused the same way.
    def epcis(business_id: int) -> bytes:
        return json.dumps(
            {
                "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
                "type": "EPCISDocument",
                "schemaVersion": "2.0",
                "creationDate": "2026-11-05T10:00:00+07:00",
                "epcisBody": {
                    "eventList": [
                        {
                            "type": "ObjectEvent",
                            "eventID": f"urn:uuid:{uuid.uuid4()}",
                            "eventTime": "2026-11-05T09:00:00+07:00",
                            "eventTimeZoneOffset": "+07:00",
                            "action": "OBSERVE",
                            "bizStep": "receiving",
                            "quantityList": [
                                {
                                    "epcClass": "https://id.gs1.org/01/08934567890120/10/A-1",
                                    "quantity": 20,
                                    "uom": "KGM",
                                }
                            ],
                            "sourceList": [
                                {
                                    "type": "owning_party",
                                    "source": f"{PUBLIC_URL}/businesses/{business_id}",
                                }
                            ],
                        }
                    ]
                },
            }
        ).encode()

    answers = []
    for business_id in (other.id, 9999):
        response = grower.api.post(
            "/epcis/capture", data=epcis(business_id), content_type="application/ld+json"
        )
        assert response.status_code == 400, response.get_json()
        assert "shipment" in error_of(response)["message"]
        answers.append(error_of(response))
    assert answers[0] == answers[1]
    assert grower.api.get(path).get_json()["events"] == []

    # CSV takes no ids: a number there is text, shown as written, never a business's name.
    csv = f"biz_step,source,destination\nreceiving,{other.id},{OTHER_NAME}\n"
    response = grower.api.post(f"{path}.csv", data=csv.encode(), content_type="text/csv")
    assert response.status_code == 201, response.get_json()
    (event,) = response.get_json()["events"]
    assert event["source"] == {"id": None, "name": str(other.id)}
    assert event["destination"] == {"id": None, "name": OTHER_NAME}

    # Free text is allowed, and the stamp page marks it as the recorder's own words.
    response = grower.api.post(path, {"biz_step": "receiving", "source": OTHER_NAME})
    assert response.status_code == 201
    assert response.get_json()["source"] == {"id": None, "name": OTHER_NAME}
    journey = stamp_page(grower.api, batch["id"], lang="en")
    text = page_text(journey)
    assert f"From: {OTHER_NAME} (as written by the business, not checked by TraceQR)" in text
    assert f"To: {OTHER_NAME} (as written by the business, not checked by TraceQR)" in text
    assert journey.count('class="step-from step-as-written"') == 2
    assert journey.count('class="step-to step-as-written"') == 1
    assert 'class="step-from"' not in journey and 'class="step-to"' not in journey


def test_naming_ones_own_business_is_allowed(grower: Member) -> None:
    batch = grower.api.batch()
    response = grower.api.post(
        f"/batches/{batch['id']}/events",
        {"biz_step": "storing", "source": grower.id, "destination": grower.id},
    )
    assert response.status_code == 201, response.get_json()
    party = {"id": grower.id, "name": "HTX Chè Tân Cương"}
    assert response.get_json()["source"] == party
    assert response.get_json()["destination"] == party


def test_a_portal_step_names_a_partner_only_as_text(
    app: Flask, client: FlaskClient, other: Member
) -> None:
    owner = PortalClient(app.test_client())
    owner.signup("HTX Chè Tân Cương", "htx@tancuong.vn")
    batch_id = make_batch(owner, make_product(owner, name="Chè búp tươi"), lot="TC-2611")
    page = owner.post(
        f"/portal/batches/{batch_id}/events",
        {"biz_step": "receiving", "source": str(other.id), "destination": OTHER_NAME},
        form_page=f"/portal/batches/{batch_id}/journey",
    )
    assert page.flashes == ["Đã ghi bước."], page.errors
    assert OTHER_NAME in page.text  # the text as written ...
    assert 'class="step-to step-as-written"' in page.html  # ... marked as such
    with AppState.of(app).database.session() as session:
        event = session.scalars(select(TraceEventRecord)).one()
        assert (event.source_business_id, event.destination_business_id) == (None, None)
        assert (event.source_text, event.destination_text) == (str(other.id), OTHER_NAME)


# --- (d) a shipment names both partners, once accepted ----------------------------------------


def test_an_accepted_shipment_names_the_sender_and_the_receiver(
    app: Flask, client: FlaskClient, make_business: Any, grower: Member
) -> None:
    processor = make_business(REAL_NAME, tax_code=REAL_TAX_CODE)
    processor_api = Api(client, processor.api_key)
    batch = grower.api.batch(lot="TC-1")
    grower.api.issue(batch["id"], 1)
    shipment = grower.api.post(
        f"/batches/{batch['id']}/shipments", {"partner": REAL_TAX_CODE}
    ).get_json()

    # Waiting: the shipping step names nobody yet, anywhere.
    (shipping,) = grower.api.get(f"/batches/{batch['id']}/events").get_json()["events"]
    assert shipping["biz_step"] == "shipping" and shipping["destination"] is None
    assert REAL_NAME not in stamp_page(grower.api, batch["id"])

    accepted = processor_api.post(f"/shipments/{shipment['id']}/accept")
    assert accepted.status_code == 200, accepted.get_json()
    events = grower.api.get(f"/batches/{batch['id']}/events").get_json()["events"]
    assert [(e["biz_step"], e["recorded_by"]["name"]) for e in events] == [
        ("shipping", "HTX Chè Tân Cương"),
        ("receiving", REAL_NAME),
    ]
    assert events[0]["destination"] == {"id": processor.business.id, "name": REAL_NAME}
    assert events[1]["source"] == {"id": grower.id, "name": "HTX Chè Tân Cương"}
    text = page_text(stamp_page(grower.api, batch["id"]))
    assert f"Đến: {REAL_NAME}" in text and "Từ: HTX Chè Tân Cương" in text
    assert "step-as-written" not in stamp_page(grower.api, batch["id"])

    document = grower.api.get(f"/batches/{batch['id']}/epcis.jsonld").get_json()
    shipped, received = document["epcisBody"]["eventList"]
    assert shipped["destinationList"] == [
        {
            "type": "owning_party",
            "destination": f"{PUBLIC_URL}/businesses/{processor.business.id}",
        }
    ]
    assert received["sourceList"][0]["source"] == f"{PUBLIC_URL}/businesses/{grower.id}"
    # Sending the export back is safe: its events are already there.
    again = grower.api.post(
        "/epcis/capture", data=json.dumps(document).encode(), content_type="application/ld+json"
    )
    assert again.status_code == 201 and again.get_json()["already_present"] == 2


def test_a_refused_shipment_names_nobody(
    app: Flask, client: FlaskClient, make_business: Any, grower: Member
) -> None:
    processor = make_business(REAL_NAME, tax_code=REAL_TAX_CODE)
    batch = grower.api.batch()
    shipment = grower.api.post(
        f"/batches/{batch['id']}/shipments", {"partner": REAL_TAX_CODE}
    ).get_json()
    Api(client, processor.api_key).post(f"/shipments/{shipment['id']}/refuse")
    (shipping,) = grower.api.get(f"/batches/{batch['id']}/events").get_json()["events"]
    assert shipping["destination"] is None
    assert REAL_NAME not in stamp_page(grower.api, batch["id"])
    # The sender still sees whom it sent it to, and that it was refused.
    (outgoing,) = grower.api.get("/shipments").get_json()["outgoing"]
    assert (outgoing["receiver"]["name"], outgoing["status"]) == (REAL_NAME, "refused")


# --- (e) a guessed id never yields a name -----------------------------------------------------


def test_a_claim_recorded_before_partners_were_checked_shows_no_name(
    app: Flask, grower: Member, other: Member
) -> None:
    """A row naming another business by id without a shipment (as the API allowed before)
    shows nobody: not in the API, the passport, EPCIS, the portal or the stamp page."""
    batch = grower.api.batch(lot="TC-9")
    recorded = []
    for body in (
        {"biz_step": "receiving", "source": "x"},
        {"biz_step": "destroying", "destination": "x"},
    ):
        response = grower.api.post(f"/batches/{batch['id']}/events", body)
        assert response.status_code == 201
        recorded.append(response.get_json()["id"])
    with AppState.of(app).database.session() as session:
        session.execute(
            update(TraceEventRecord)
            .where(TraceEventRecord.event_uuid == recorded[0])
            .values(source_business_id=other.id, source_text=None)
        )
        session.execute(
            update(TraceEventRecord)
            .where(TraceEventRecord.event_uuid == recorded[1])
            .values(destination_business_id=other.id, destination_text=None)
        )

    events = grower.api.get(f"/batches/{batch['id']}/events").get_json()["events"]
    assert [(e["source"], e["destination"]) for e in events] == [(None, None), (None, None)]
    answers = {
        "events": grower.api.get(f"/batches/{batch['id']}/events").get_data(as_text=True),
        "passport": grower.api.get(f"/batches/{batch['id']}/passport.json").get_data(as_text=True),
        "epcis": grower.api.get(f"/batches/{batch['id']}/epcis.jsonld").get_data(as_text=True),
        "stamp page": stamp_page(grower.api, batch["id"]),
        "stamp page (en)": stamp_page(grower.api, batch["id"], lang="en"),
    }
    for where, answer in answers.items():
        text = json.loads(answer) if where in ("events", "passport", "epcis") else answer
        assert OTHER_NAME not in json.dumps(text, ensure_ascii=False), where
        assert f"/businesses/{other.id}" not in answer, where


def test_no_answer_turns_a_guessed_business_id_into_a_name(
    app: Flask, client: FlaskClient, grower: Member, other: Member
) -> None:
    """Every way a business id can be put to the API: refused the same way as an id that
    does not exist, and no answer carries the other business's name."""
    batch = grower.api.batch(grower.api.product(gtin="8934567890120")["id"], lot="A-1")
    missing = 987_654
    answers: list[str] = []

    def pair(path: str, make_body: Any) -> None:
        results = []
        for business_id in (other.id, missing):
            response = grower.api.post(path, make_body(business_id))
            answers.append(response.get_data(as_text=True))
            results.append((response.status_code, response.get_json()))
        assert results[0] == results[1], (path, results)
        assert results[0][0] == 400, (path, results)

    pair(f"/batches/{batch['id']}/shipments", lambda i: {"partner": i})
    pair(f"/batches/{batch['id']}/shipments", lambda i: {"partner": str(i)})
    pair(f"/batches/{batch['id']}/events", lambda i: {"biz_step": "receiving", "source": i})
    pair(f"/batches/{batch['id']}/events", lambda i: {"biz_step": "shipping", "destination": i})
    for answer in answers:
        assert OTHER_NAME not in answer
    # The portal's shipment form reads a tax code only, never an id.
    portal = PortalClient(app.test_client())
    portal.signup("Cơ sở thử", "thu@example.vn")
    batch_id = make_batch(portal, make_product(portal))
    page = portal.post(
        f"/portal/batches/{batch_id}/ship",
        {"partner": str(other.id)},
        form_page=f"/portal/batches/{batch_id}/journey",
    )
    assert page.status == 400 and OTHER_NAME not in page.html
    assert shipment_count(app) == 0
