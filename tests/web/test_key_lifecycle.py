"""A key compromised at T, seen by shoppers (page), scripts (API) and offline verifiers
(the JWKS with its root certificates); the transparency endpoints."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_login.utils import _create_identifier

from tests.conftest import PUBLIC_URL, Api
from tests.web.test_pages import page
from traceqr.domain.audit import Entry, verify_chain
from traceqr.domain.documents import verify_document
from traceqr.domain.key_certs import certified_ring, check_certificate, parse_roots
from traceqr.domain.keys import KeyRing
from traceqr.domain.stamp_format import FORMAT_V1, StampCode
from traceqr.errors import Conflict, ValidationError
from traceqr.models import Batch, SigningKey
from traceqr.services.businesses import NewBusiness, active_signing_key
from traceqr.services.issuance import issue_stamps
from traceqr.services.key_lifecycle import compromise_key
from traceqr.services.officials import create_official
from traceqr.state import AppState


def issue_at(state: AppState, batch_id: int, count: int, when: datetime) -> None:
    with state.database.session() as session:
        batch = session.get(Batch, batch_id)
        assert batch is not None
        issue_stamps(session, state.keystore, batch, count, now=when)


@pytest.fixture
def compromised(api: Api, state: AppState, business: NewBusiness) -> dict[str, Any]:
    """Stamps of one key issued before T and after T; then the key declared compromised at T."""
    now = datetime.now(UTC)
    t = now - timedelta(days=10)
    product = api.product()
    before, after = api.batch(product["id"]), api.batch(product["id"])
    issue_at(state, before["id"], 2, t - timedelta(days=1))
    issue_at(state, after["id"], 2, t + timedelta(hours=1))
    urls_before, urls_after = api.stamp_urls(before["id"]), api.stamp_urls(after["id"])
    assert api.verify(urls_after[0])["status"] == "genuine"  # fine until the compromise
    kid = business.signing_key.kid
    signer = state.keystore.load_signer(kid, business.signing_key.public_key)
    forged = StampCode(FORMAT_V1, kid, b"\x01" * 10, signer.sign_serial(b"\x01" * 10))
    assert api.verify(forged.url(PUBLIC_URL))["status"] == "unregistered"
    with state.database.session() as session:
        done = compromise_key(
            session, state.keystore, kid.hex(), at=t, reason="Máy chủ in tem bị xâm nhập", now=now
        )
        replacement = done.replacement.kid if done.replacement else None
    state.verifier.forget_keys()  # what KEY_CACHE_SECONDS does in every process
    return {
        "t": t,
        "kid": kid,
        "before": urls_before,
        "after": urls_after,
        "forged": forged.url(PUBLIC_URL),
        "replacement": replacement,
    }


def test_stamps_signed_before_the_compromise_stay_genuine(api: Api, compromised: Any) -> None:
    for url in compromised["before"]:
        answer = api.verify(url)
        assert answer["status"] == "genuine" and answer["signature_valid"] is True


def test_stamps_signed_after_it_are_invalid_with_their_reason(api: Api, compromised: Any) -> None:
    for url in compromised["after"]:
        answer = api.verify(url)
        assert answer["status"] == "invalid"
        assert answer["reasons"][0] == "key_compromised"
        assert answer["signature_valid"] is False
        assert "business" not in answer and "product" not in answer


def test_a_signature_with_no_record_is_invalid_too(api: Api, compromised: Any) -> None:
    answer = api.verify(compromised["forged"])
    assert (answer["status"], answer["reasons"][0]) == ("invalid", "key_compromised")


def test_the_page_says_not_genuine_and_why(client: FlaskClient, compromised: Any) -> None:
    _response, facts = page(client, compromised["after"][0] + "?lang=en")
    assert facts.status == "invalid"
    assert "signing key was reported stolen" in facts.words
    _response, facts = page(client, compromised["before"][0])
    assert facts.status == "genuine"


def test_the_business_signs_with_a_new_key_at_once(
    api: Api, state: AppState, business: NewBusiness, compromised: Any
) -> None:
    with state.database.session() as session:
        key = active_signing_key(session, business.business.id, "live")
        assert key.kid == compromised["replacement"] != compromised["kid"]
    batch = api.batch()
    api.issue(batch["id"], 1)
    assert api.verify(api.stamp_urls(batch["id"])[0])["status"] == "genuine"


def test_the_jwks_publishes_the_compromise_under_the_roots_certificate(
    client: FlaskClient, compromised: Any
) -> None:
    jwks = client.get("/.well-known/jwks.json").get_json(force=True)
    roots = parse_roots(client.get("/.well-known/traceqr-root.json").get_json())
    assert parse_roots(jwks["traceqr_root"])[0].key == roots[0].key
    jwk = next(k for k in jwks["keys"] if k["kid"] == compromised["kid"].hex())
    assert jwk["traceqr_status"] == "compromised"
    certified = check_certificate(jwk, roots).key
    assert certified.status == "compromised"
    assert datetime.fromisoformat(certified.compromised_at or "") == compromised["t"]
    ring = certified_ring(jwks, roots)
    assert ring.rejected == ()
    assert {k.kid for k in ring.ring} >= {compromised["kid"], compromised["replacement"]}
    assert all(k.get("traceqr_role") != "root" for k in jwks["keys"])


def test_a_compromise_can_move_earlier_never_later(state: AppState, compromised: Any) -> None:
    kid, t = compromised["kid"].hex(), compromised["t"]
    now = datetime.now(UTC)
    with state.database.session() as session, pytest.raises(Conflict):
        compromise_key(session, state.keystore, kid, at=t + timedelta(days=1), reason="x", now=now)
    with state.database.session() as session:
        done = compromise_key(
            session, state.keystore, kid, at=t - timedelta(days=5), reason="earlier", now=now
        )
        assert done.replacement is None  # it no longer signed anything
    with state.database.session() as session:
        key = session.query(SigningKey).filter_by(kid=compromised["kid"]).one()
        assert key.compromised_at == t - timedelta(days=5)


@pytest.mark.parametrize(
    ("kid", "at", "reason"),
    [
        ("zz", datetime.now(UTC) - timedelta(days=1), "x"),
        (None, datetime.now(UTC) + timedelta(days=1), "x"),  # the future
        (None, datetime(2026, 1, 1), "x"),  # no offset
        (None, datetime.now(UTC) - timedelta(days=1), "  "),
    ],
)
def test_a_compromise_needs_a_key_a_past_time_and_a_reason(
    state: AppState, business: NewBusiness, kid: str | None, at: datetime, reason: str
) -> None:
    with state.database.session() as session, pytest.raises(ValidationError):
        compromise_key(
            session,
            state.keystore,
            kid or business.signing_key.kid.hex(),
            at=at,
            reason=reason,
            now=datetime.now(UTC),
        )


# --- transparency ----------------------------------------------------------------------------


def test_the_signed_audit_head_matches_the_log(
    client: FlaskClient, api: Api, state: AppState
) -> None:
    batch = api.batch()
    api.issue(batch["id"], 2)
    head = client.get("/.well-known/audit-head.json").get_json()
    roots = parse_roots(client.get("/.well-known/traceqr-root.json").get_json())
    assert verify_document(head, KeyRing(roots)) == roots[0].kid.hex()
    from traceqr.services import audit

    with state.database.session() as session:
        entries = list(audit.iter_entries(session))
    assert head["seq"] == entries[-1].seq and head["hash"] == entries[-1].hash
    assert verify_chain(entries, head).ok
    forged = {**head, "seq": head["seq"] - 1}
    with pytest.raises(ValueError):
        verify_document(forged, KeyRing(roots))


def sign_in_official(app: Flask, client: FlaskClient, role: str) -> None:
    """A signed-in official's session, as the sign-in page of their area leaves it."""
    state = AppState.of(app)
    with state.database.session() as session:
        official = create_official(
            session,
            email=f"{role}@soct.hanoi.gov.vn",
            name="Cán bộ",
            role=role,
            password=None,
            provinces=[],
            now=datetime.now(UTC),
        )
        session_id = f"o:{official.id}:{official.session_version}"
    with app.test_request_context(
        headers={"User-Agent": "audit-test"}, environ_base={"REMOTE_ADDR": "127.0.0.1"}
    ):
        identifier = _create_identifier()
    with client.session_transaction() as flask_session:
        flask_session.update(_user_id=session_id, _fresh=True, _id=identifier)
        flask_session["_signed_in_at"] = int(datetime.now(UTC).timestamp())


def test_authority_officers_download_the_log_and_others_cannot(
    app: Flask, api: Api, state: AppState
) -> None:
    batch = api.batch()
    api.issue(batch["id"], 1)
    url = "/authority/audit/log.jsonl"
    anonymous = app.test_client()
    assert anonymous.get(url).status_code in (302, 401)
    inspector = app.test_client()
    sign_in_official(app, inspector, "inspector")
    assert inspector.get(url, headers={"User-Agent": "audit-test"}).status_code == 403
    officer = app.test_client()
    sign_in_official(app, officer, "authority")
    # Each download streams from the database: close it, as a server does when it is sent.
    with officer.get(url, headers={"User-Agent": "audit-test"}) as response:
        assert response.status_code == 200
        lines = response.get_data(as_text=True).splitlines()
    entries = [Entry.from_json(json.loads(line)) for line in lines]
    assert verify_chain(entries).ok and entries[-1].action == "official.create"
    after = f"?after={entries[-2].seq}"
    with officer.get(url + after, headers={"User-Agent": "audit-test"}) as later:
        assert len(later.get_data(as_text=True).splitlines()) == 1
    assert officer.get(url + "?after=x", headers={"User-Agent": "audit-test"}).status_code == 400


def test_the_portal_shows_a_business_its_keys_status(app: Flask, state: AppState) -> None:
    from sqlalchemy import select

    from tests.web.portal_client import PortalClient
    from traceqr.models import User

    owner = PortalClient(app.test_client())
    assert owner.signup("Gốm sứ Minh An", "owner@minhan.vn").endpoint == "portal.profile"
    with state.database.session() as session:
        business_id = session.scalar(
            select(User.business_id).where(User.email == "owner@minhan.vn")
        )
        assert business_id is not None
        kid = active_signing_key(session, business_id, "test").kid
    t = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    with state.database.session() as session:
        compromise_key(
            session, state.keystore, kid.hex(), at=t, reason="Lộ khóa", now=datetime.now(UTC)
        )
    page = owner.get("/portal/keys?lang=en")
    assert page.status == 200
    assert 'data-key-status="compromised"' in page.html
    assert 'data-key-status="active"' in page.html
    assert "compromised from 08:00 20/11/2026" in page.text and "Lộ khóa" in page.text
