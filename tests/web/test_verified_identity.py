"""Issue 15: a genuine stamp leads to the real, checked business, never to whoever signed
up with its name. The impostor journey, GTIN ownership, one verified business per tax
code (also under concurrent approvals), and a withdrawn verification."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from tests.conftest import Api
from tests.web.portal_client import PortalClient
from traceqr.domain.key_certs import check_certificate, parse_roots
from traceqr.errors import Conflict
from traceqr.models import Business, IdentityAlert, VerificationRequest
from traceqr.services import identity
from traceqr.services.businesses import NewBusiness
from traceqr.services.identity import Reviewer
from traceqr.state import AppState

REAL = {
    "name": "Gốm sứ Hưng Thịnh Bát Tràng",
    "legal_name": "Hợp tác xã Gốm sứ Hưng Thịnh Bát Tràng",
    "tax_code": "0101234565",
    "address_street": "Số 5, đường Giang Cao",
    "address_commune": "Xã Bát Tràng",
    "province_code": "ha-noi",
    "cluster_name": "Cụm công nghiệp làng nghề Bát Tràng",
    "phone": "024 3874 0000",
}
REAL_GTIN = "8934588012228"
DEPARTMENT = "Sở Công Thương Thành phố Hà Nội"


@pytest.fixture
def real(make_business: Any, state: AppState) -> NewBusiness:
    """The real cooperative, verified by the Department, with a product under its GTIN."""
    made: NewBusiness = make_business(verified=False, **REAL)
    with state.database.session() as session:
        identity.vouch_for(
            session,
            state.keystore,
            made.business.id,
            Reviewer.operator("tests", DEPARTMENT),
            datetime.now(UTC),
            gs1_prefixes=["8934588"],
        )
    return made


def impostor_with_api(app: Flask) -> tuple[PortalClient, Api]:
    """A counterfeiter signs up with the real cooperative's name, copies its profile and
    makes an API key, as anyone can."""
    portal = PortalClient(app.test_client())
    page = portal.signup(REAL["name"], "ban-hang@hungthinh-battrang.vn")
    assert page.endpoint == "portal.profile", page.text[:300]
    page = portal.post(
        "/portal/profile",
        {**REAL, "website": ""},
        content_type="multipart/form-data",
    )
    assert not page.errors, page.errors
    page = portal.post("/portal/keys", {"name": "ERP"})
    key = re.search(r"data-new-key>(tqr_[^<]+)<", page.html).group(1)  # type: ignore[union-attr]
    return portal, Api(app.test_client(), key)


def test_the_impostor_gets_test_stamps_never_genuine_under_the_copied_name(
    app: Flask, real: NewBusiness, state: AppState
) -> None:
    _portal, impostor = impostor_with_api(app)
    batch = impostor.batch()
    issued = impostor.issue(batch["id"], 2)
    assert issued["test"] is True
    url = impostor.stamp_urls(batch["id"])[0]

    answer = impostor.verify(url)
    assert answer["status"] == "inactive" and answer["test"] is True
    assert "test_stamp" in answer["reasons"] and answer["signature_valid"] is True
    assert answer["message"] == "TEM THỬ — không dùng cho sản phẩm"
    # Its business block vouches for nothing: no copied tax code, address or legal name.
    assert answer["business"]["verified"] is None
    assert set(answer["business"]) == {"id", "name", "verified"}

    page = app.test_client().get(url.removeprefix("https://traceqr.example.vn"))
    html = page.get_data(as_text=True)
    assert '<main class="page verdict-page" data-status="inactive" data-test="true">' in html
    assert "TEM THỬ — không dùng cho sản phẩm" in html
    assert "Sản phẩm chính hãng" not in html
    assert REAL["tax_code"] not in html and "Nhà sản xuất đã xác minh" not in html

    # The JWKS: the impostor's key is certified as a test key naming no business.
    jwks = app.test_client().get("/.well-known/jwks.json").get_json()
    roots = parse_roots(jwks["traceqr_root"])
    kid = issued["kid"]
    certified = check_certificate(next(k for k in jwks["keys"] if k["kid"] == kid), roots)
    assert certified.key.is_test and certified.key.business_name is None
    assert certified.key.producer is None


def test_the_real_producers_stamps_name_its_checked_identity(app: Flask, real: NewBusiness) -> None:
    api = Api(app.test_client(), real.api_key or "")
    batch = api.batch()
    issued = api.issue(batch["id"], 1)
    assert issued["test"] is False
    answer = api.verify(api.stamp_urls(batch["id"])[0])
    assert answer["status"] == "genuine" and answer["test"] is False
    verified = answer["business"]["verified"]
    assert verified["legal_name"] == REAL["legal_name"]
    assert verified["tax_code"] == REAL["tax_code"]
    assert verified["verified_by"] == DEPARTMENT and verified["verified_at"]

    html = app.test_client().get(
        api.stamp_urls(batch["id"])[0].removeprefix("https://traceqr.example.vn")
    )
    text = html.get_data(as_text=True)
    assert "Sản phẩm chính hãng" in text
    assert (
        f"Nhà sản xuất đã xác minh: {REAL['legal_name']}, MST {REAL['tax_code']}, xác minh ngày"
        in text
    )
    english = app.test_client().get(
        api.stamp_urls(batch["id"])[0].removeprefix("https://traceqr.example.vn") + "?lang=en"
    )
    assert f"Verified producer: {REAL['legal_name']}, tax code {REAL['tax_code']}" in (
        english.get_data(as_text=True)
    )

    jwks = app.test_client().get("/.well-known/jwks.json").get_json()
    roots = parse_roots(jwks["traceqr_root"])
    certified = check_certificate(next(k for k in jwks["keys"] if k["kid"] == issued["kid"]), roots)
    assert certified.claims["v"] == 2 and certified.claims["purpose"] == "live"
    assert certified.key.producer == {
        "legal_name": REAL["legal_name"],
        "tax_code": REAL["tax_code"],
        "verified_at": certified.key.producer["verified_at"],  # type: ignore[index]
        "verified_by": DEPARTMENT,
    }


def test_another_brands_gtin_is_refused_and_flagged(
    app: Flask, real: NewBusiness, make_business: Any, state: AppState
) -> None:
    Api(app.test_client(), real.api_key or "").product(gtin=REAL_GTIN)
    _portal, impostor = impostor_with_api(app)
    taken = impostor.post("/products", {"name": "Bình gốm", "gtin": REAL_GTIN})
    assert taken.status_code == 409
    assert taken.get_json()["error"]["code"] == "identity_conflict"
    # Under the real producer's recorded prefix, even a GTIN it has not used yet.
    under_prefix = impostor.post("/products", {"name": "Bát", "gtin": "8934588000010"})
    assert under_prefix.status_code == 409
    # Another verified business is refused too, and may not stray outside its own prefixes.
    other: NewBusiness = make_business("Gốm Chu Đậu")
    with state.database.session() as session:
        identity.record_prefix(session, other.business.id, "8936000", datetime.now(UTC))
    other_api = Api(app.test_client(), other.api_key or "")
    assert other_api.post("/products", {"name": "x", "gtin": REAL_GTIN}).status_code == 409
    outside = other_api.post("/products", {"name": "y", "gtin": "8931234567897"})
    assert outside.status_code == 409 and "prefix" in outside.get_json()["error"]["message"]
    assert other_api.post("/products", {"name": "z", "gtin": "8936000000011"}).status_code == 201
    # Products without a GTIN stay possible for anyone.
    assert impostor.post("/products", {"name": "Không mã"}).status_code == 201
    with state.database.session() as session:
        kinds = session.scalars(select(IdentityAlert.kind).order_by(IdentityAlert.id)).all()
        assert kinds == ["gtin_taken", "gtin_taken", "gtin_taken", "gtin_outside_prefixes"]


def test_a_request_for_a_verified_tax_code_is_refused_and_flagged(
    app: Flask, real: NewBusiness, make_business: Any, state: AppState
) -> None:
    # The clone copied the real tax code into its profile, as the issue's counterfeiter did.
    clone: NewBusiness = make_business(
        verified=False, name="Gốm Hưng Thịnh", tax_code=REAL["tax_code"]
    )
    now = datetime.now(UTC)
    with state.database.session() as session:
        with (
            pytest.raises(identity.IdentityConflict) as refused,
            identity.flagging_conflicts(session, now),
        ):
            identity.submit_request(
                session,
                clone.business.id,
                {k: v for k, v in REAL.items() if k not in ("cluster_name", "phone")}
                | {"legal_representative": "Nguyễn Văn A"},
                identity.RequestDocuments(registration="a" * 32 + ".pdf"),
                user_id=None,
                now=now,
            )
        assert refused.value.field == "tax_code"
        assert session.scalar(select(func.count()).select_from(VerificationRequest)) == 0
        alert = session.scalars(select(IdentityAlert)).one()
        assert (alert.kind, alert.business_id, alert.other_business_id) == (
            "tax_code_taken",
            clone.business.id,
            real.business.id,
        )
        # The operator cannot vouch for it either.
        with pytest.raises(Conflict):
            identity.vouch_for(
                session,
                state.keystore,
                clone.business.id,
                Reviewer.operator("tests"),
                now,
            )


def test_a_verified_identity_is_frozen(app: Flask, real: NewBusiness, state: AppState) -> None:
    from traceqr.errors import ValidationError
    from traceqr.services.businesses import apply_profile

    with state.database.session() as session:
        business = session.get(Business, real.business.id)
        assert business is not None
        for field, value in (
            ("name", "Gốm Hưng Thịnh 2"),
            ("legal_name", "Công ty khác"),
            ("tax_code", "0100109106"),
        ):
            with pytest.raises(ValidationError):
                apply_profile(business, {field: value})
        apply_profile(business, {"phone": "024 0000 0000", "name": REAL["name"]})
        assert business.phone == "024 0000 0000"


def test_two_concurrent_approvals_of_one_tax_code_one_wins(
    make_business: Any, state: AppState
) -> None:
    """Two reviewers approve two requests for one tax code at the same moment: the unique
    index lets exactly one through, on SQLite and PostgreSQL alike."""
    first: NewBusiness = make_business(verified=False, name="Cơ sở A")
    second: NewBusiness = make_business(verified=False, name="Cơ sở B")
    now = datetime.now(UTC)
    requests = []
    with state.database.session() as session:
        for made in (first, second):
            requests.append(
                identity.submit_request(
                    session,
                    made.business.id,
                    {
                        "name": made.business.name,
                        "legal_name": f"Công ty TNHH {made.business.name}",
                        "tax_code": REAL["tax_code"],
                        "address_street": "Số 1",
                        "province_code": "ha-noi",
                        "legal_representative": "Trần Thị B",
                    },
                    identity.RequestDocuments(registration="b" * 32 + ".pdf"),
                    user_id=None,
                    now=now,
                ).id
            )
    first_flushed = threading.Event()
    outcomes: dict[str, str] = {}

    def approve_first() -> None:
        with state.database.sessions() as session:
            identity.approve(session, state.keystore, requests[0], Reviewer.operator("one"), now)
            first_flushed.set()
            # Hold the transaction open while the second reviewer tries.
            threading.Event().wait(0.5)
            session.commit()
            outcomes["first"] = "approved"

    def approve_second() -> None:
        first_flushed.wait(10)
        with state.database.sessions() as session:
            try:
                identity.approve(
                    session, state.keystore, requests[1], Reviewer.operator("two"), now
                )
                session.commit()
                outcomes["second"] = "approved"
            except Conflict:
                session.rollback()
                outcomes["second"] = "refused"

    threads = [threading.Thread(target=approve_first), threading.Thread(target=approve_second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcomes == {"first": "approved", "second": "refused"}
    with state.database.session() as session:
        verified = session.scalars(
            select(Business.id).where(
                Business.tax_code == REAL["tax_code"], Business.verification_status == "verified"
            )
        ).all()
        assert verified == [first.business.id]
        assert session.get(VerificationRequest, requests[1]).status == "pending"  # type: ignore[union-attr]


def test_a_withdrawn_verification_invalidates_later_stamps_only(
    app: Flask, real: NewBusiness, state: AppState
) -> None:
    api = Api(app.test_client(), real.api_key or "")
    batch = api.batch()
    api.issue(batch["id"], 1)
    before = api.stamp_urls(batch["id"])[0]
    cut = datetime.now(UTC)
    api.issue(batch["id"], 1)
    after = api.stamp_urls(batch["id"])[1]
    with state.database.session() as session:
        identity.withdraw(
            session,
            state.keystore,
            real.business.id,
            Reviewer.operator("tests"),
            reason="Giấy tờ giả mạo",
            at=cut,
            now=datetime.now(UTC) + timedelta(seconds=1),
        )
    state.verifier.forget_keys()
    later = api.verify(after)
    assert later["status"] == "invalid" and "verification_withdrawn" in later["reasons"]
    earlier = api.verify(before)
    assert earlier["status"] == "genuine" and "producer_withdrawn" in earlier["reasons"]
    assert earlier["business"]["verified"] is None
    assert earlier["business"]["verification_withdrawn_at"]
    page = app.test_client().get(before.removeprefix("https://traceqr.example.vn"))
    assert "đã bị thu hồi xác minh" in page.get_data(as_text=True)
    # The business signs test stamps again; its tax code is free for the real owner.
    assert api.issue(batch["id"], 1)["test"] is True
    with state.database.session() as session:
        assert identity.verified_holder(session, REAL["tax_code"]) is None


def test_a_sheet_of_test_stamps_says_so_on_every_stamp_and_page(
    app: Flask, make_business: Any
) -> None:
    import io

    from pypdf import PdfReader

    from tests.sheet_reading import read_sheet
    from traceqr.domain.sheet import SheetLayout

    signed_up: NewBusiness = make_business(verified=False)
    api = Api(app.test_client(), signed_up.api_key or "")
    batch = api.batch()
    api.issue(batch["id"], 3)
    response = api.get(f"/batches/{batch['id']}/sheet.pdf")
    assert response.status_code == 200
    pdf = response.get_data()
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert text.count("TEM THU ") >= 3 + 1  # each stamp, and the page's footer
    assert "KHONG DUNG CHO SAN PHAM" in text
    # The QRs still read as the stamps' URLs.
    decoded = [cell[0] for cell in read_sheet(pdf, SheetLayout()) if cell]
    assert sorted(decoded) == sorted(url.upper() for url in api.stamp_urls(batch["id"]))
