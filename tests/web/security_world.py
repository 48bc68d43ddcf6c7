"""Two businesses and an inspector, with one of every kind of object business A owns, for the
security tests that walk every route of the app.

A's objects carry marker texts. Some are public by design (the product name shows on the
stamp page); the ``never_public`` ones (the owner's sign-in e-mail, the API key, the batch's
internal notes, a shopper's contact in a report, a pending invitation) must never reach
anybody but A, whatever the route.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from flask import Flask
from PIL import Image
from sqlalchemy import select

from tests.conftest import Api
from tests.web.portal_client import PortalClient
from traceqr.domain.gs1 import check_digit
from traceqr.models import (
    ApiKey,
    Batch,
    Case,
    CaseNote,
    Certification,
    Flag,
    Product,
    ProductImage,
    Report,
    Shipment,
    SigningKey,
    Stamp,
    User,
)
from traceqr.services.businesses import create_business
from traceqr.services.identity import Reviewer
from traceqr.services.officials import create_official
from traceqr.state import AppState, utcnow

PASSWORD = "correct horse battery"
C_TAX_CODE = "0100233583"  # not the tax code the route walk's forms send
INSPECTOR_PASSWORD = "inspector password 1"


def jpeg_bytes(size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(out, format="JPEG")
    return out.getvalue()


@dataclass
class World:
    app: Flask
    a_portal: PortalClient
    a_api: Api
    a_email: str
    a_api_key: str
    b_portal: PortalClient
    b_api_key: str
    inspector: PortalClient
    authority: PortalClient
    ids: dict[str, Any]
    stamp_url: str
    private: list[str] = field(default_factory=list)  # A's texts no other party may see
    never_public: list[str] = field(default_factory=list)  # ... not even on public pages

    def snapshot(self) -> dict[str, Any]:
        """What A owns, to prove that nobody else's requests changed it."""
        with AppState.of(self.app).database.session() as session:
            batch = session.get(Batch, self.ids["batch_id"])
            product = session.get(Product, self.ids["product_id"])
            assert batch is not None and product is not None
            stamps = session.scalars(select(Stamp).where(Stamp.batch_id == batch.id)).all()
            keys = session.execute(
                select(SigningKey.kid, SigningKey.status).where(
                    SigningKey.business_id == product.business_id
                )
            ).all()
            return {
                "product": (product.name, product.gtin, product.description),
                "batch": (batch.lot, batch.notes, batch.recalled_at, batch.stamps_total),
                "stamps": sorted(
                    (s.seq, s.active, s.revoked_at is not None, s.claimed_at is not None)
                    for s in stamps
                ),
                "images": session.scalars(select(ProductImage.id)).all(),
                "certifications": session.scalars(select(Certification.id)).all(),
                "api_key_revoked": session.scalar(
                    select(ApiKey.revoked_at).where(ApiKey.id == self.ids["key_id"])
                ),
                "signing_keys": sorted(tuple(k) for k in keys),
                "members": session.scalars(
                    select(User.email).where(User.business_id == product.business_id)
                ).all(),
                "shipment": session.scalar(
                    select(Shipment.status).where(Shipment.id == self.ids["shipment_id"])
                ),
            }


def build_world(app: Flask) -> World:
    state = AppState.of(app)
    tag = uuid.uuid4().hex[:6].upper()
    a_email = f"owner-a-{tag.lower()}@secret-a.example.vn"
    with state.database.session() as session:
        made_a = create_business(
            session,
            state.keystore,
            name=f"Cơ sở A {tag}",
            email=a_email,
            password=PASSWORD,
            now=utcnow(),
            profile={},
            vouched_by=Reviewer.operator("tests"),
        )
        made_c = create_business(
            session,
            state.keystore,
            name=f"Đối tác C {tag}",
            email=f"c-{tag.lower()}@example.vn",
            password=None,
            now=utcnow(),
            profile={},
            vouched_by=Reviewer.operator("tests"),
        )
        # A verified partner: shipments go to a verified business, by its tax code.
        made_c.business.tax_code = C_TAX_CODE
        made_c.business.verification_status = "verified"
        made_c.business.verified_at = utcnow()
        made_c.business.verified_by = "test"
        create_official(
            session,
            email=f"thanh.tra.{tag.lower()}@qltt.gov.vn",
            name="Trần Văn Kiểm",
            role="inspector",
            password=INSPECTOR_PASSWORD,
            provinces=[],
            now=utcnow(),
        )
        create_official(
            session,
            email=f"so.cong.thuong.{tag.lower()}@hanoi.gov.vn",
            name="Cán bộ Sở Công Thương",
            role="authority",
            password=INSPECTOR_PASSWORD,
            provinces=["ha-noi"],
            now=utcnow(),
        )
    assert made_a.api_key is not None
    a_api = Api(app.test_client(), made_a.api_key)

    product_name = f"Sản phẩm riêng của A {tag}"
    lot = f"LA{tag}"
    notes = f"Ghi chú nội bộ A {tag}"
    gtin = "893458801" + tag[:3].translate(str.maketrans("ABCDEF", "123456"))
    gtin += str(check_digit(gtin))
    product = a_api.product(name=product_name, gtin=gtin)
    batch = a_api.batch(product["id"], lot=lot, notes=notes)
    a_api.issue(batch["id"], 3)
    rows = list(
        csv.DictReader(
            io.StringIO(a_api.get(f"/batches/{batch['id']}/stamps.csv").get_data(as_text=True))
        )
    )
    issue_job = a_api.post(f"/batches/{batch['id']}/stamp-jobs", {"count": 2}).get_json()
    state.jobs.wait(issue_job["id"])
    # The walk's job is a done sheet job: its PDF, too, must be A's alone.
    job = a_api.post(f"/batches/{batch['id']}/sheet-jobs").get_json()
    state.jobs.wait(job["id"])
    assert a_api.get(f"/jobs/{job['id']}").get_json()["download_url"], job
    facility_name = f"Xưởng riêng A {tag}"
    facility = a_api.post("/facilities", {"name": facility_name, "kind": "factory"})
    assert facility.status_code == 201, facility.get_json()
    shipment = a_api.post(f"/batches/{batch['id']}/shipments", {"partner": C_TAX_CODE})
    assert shipment.status_code == 201, shipment.get_json()

    a_portal = PortalClient(app.test_client())
    assert a_portal.login(a_email).endpoint == "portal.dashboard"
    page = a_portal.post(
        f"/portal/products/{product['id']}/images",
        {"image": (io.BytesIO(jpeg_bytes()), "a.jpg")},
        form_page=f"/portal/products/{product['id']}",
        content_type="multipart/form-data",
    )
    assert not page.errors, page.errors
    page = a_portal.post(
        f"/portal/products/{product['id']}/certifications",
        {"kind": "OCOP", "grade": "4 sao"},
        form_page=f"/portal/products/{product['id']}",
    )
    assert not page.errors, page.errors
    invitee = f"staff-{tag.lower()}@secret-a.example.vn"
    page = a_portal.post("/portal/team", {"email": invitee, "name": "Nhân viên", "role": "staff"})
    assert not page.errors, page.errors

    # A shopper reports A's stamp, leaving a contact only A and inspectors may read.
    contact = f"nguoi-bao-{tag.lower()}@secret-report.example.vn"
    shopper = PortalClient(app.test_client())
    report_page = f"/report?code={rows[0]['url']}"
    page = shopper.post(
        report_page,
        {
            "code": rows[0]["url"],
            "note": "Tem lạ",
            "contact": contact,
            "photo": (io.BytesIO(jpeg_bytes()), "shop.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert page.status == 200, page.text[:300]

    inspector = PortalClient(app.test_client())
    page = inspector.post(
        "/inspect/login",
        {"email": f"thanh.tra.{tag.lower()}@qltt.gov.vn", "password": INSPECTOR_PASSWORD},
    )
    assert page.endpoint == "inspector.home", page.text[:200]
    authority = PortalClient(app.test_client())
    page = authority.post(
        "/authority/login",
        {"email": f"so.cong.thuong.{tag.lower()}@hanoi.gov.vn", "password": INSPECTOR_PASSWORD},
    )
    assert page.endpoint == "authority.home", page.text[:200]
    page = inspector.post("/inspect/cases", {"title": "Vụ việc kiểm tra"})
    assert page.status == 200
    with state.database.session() as session:
        case_id = session.scalar(select(Case.id))
    page = inspector.post(
        f"/inspect/cases/{case_id}/notes",
        {"text": "Ảnh quầy hàng", "photo": (io.BytesIO(jpeg_bytes()), "quay.jpg")},
        form_page=f"/inspect/cases/{case_id}",
        content_type="multipart/form-data",
    )
    assert page.status == 200 and not page.errors, page.errors

    with state.database.session() as session:
        stamp = session.scalar(select(Stamp).where(Stamp.batch_id == batch["id"], Stamp.seq == 1))
        assert stamp is not None
        inspector.post(
            f"/inspect/stamps/{stamp.id}/flag",
            {"reason": "Nghi ngờ"},
            form_page=f"/inspect/stamp?code={rows[0]['url']}",
        )
        ids: dict[str, Any] = {
            "product_id": product["id"],
            "batch_id": batch["id"],
            "job_id": job["id"],
            "shipment_id": shipment.get_json()["id"],
            "image_id": session.scalar(select(ProductImage.id)),
            "certification_id": session.scalar(select(Certification.id)),
            "user_id": made_a.owner.id,
            "key_id": session.scalar(
                select(ApiKey.id).where(ApiKey.business_id == made_a.business.id)
            ),
            "stamp_id": stamp.id,
            "case_id": case_id,
            "note_id": session.scalar(select(CaseNote.id)),
            "report_id": session.scalar(select(Report.id)),
            "flag_id": session.scalar(select(Flag.id)),
            "filename": session.scalar(select(ProductImage.filename)),
            "serial": rows[0]["serial"],
            "code": rows[0]["url"].rsplit("/", 1)[1],
            "rest": f"{product['gtin']}/10/{lot}",
            "token": "not-a-real-token",
        }
    missing = [name for name, value in ids.items() if value is None]
    assert not missing, f"the world lacks {missing}"

    b_portal = PortalClient(app.test_client())
    page = b_portal.signup(f"Cơ sở B {tag}", f"owner-b-{tag.lower()}@example.vn")
    assert page.endpoint == "portal.profile", page.text[:300]
    page = b_portal.post("/portal/keys", {"name": "B key"})
    found = re.search(r"tqr_[A-Za-z0-9_\-]{20,}", page.html)
    assert found, "the keys page shows B's new key once"

    return World(
        app=app,
        a_portal=a_portal,
        a_api=a_api,
        a_email=a_email,
        a_api_key=made_a.api_key,
        b_portal=b_portal,
        b_api_key=found.group(0),
        inspector=inspector,
        authority=authority,
        ids=ids,
        stamp_url=rows[0]["url"],
        private=[product_name, lot, facility_name],
        never_public=[a_email, made_a.api_key, notes, contact, invitee],
    )


class _InlineCodeFinder(HTMLParser):
    """What a Content-Security-Policy without 'unsafe-inline' would block."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._script_without_src = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name.lower(): value or "" for name, value in attrs}
        if tag == "script" and "src" not in names:
            self._script_without_src = True
        if tag == "style":
            self.found.append("a <style> element")
        for name, value in names.items():
            if name.startswith("on"):
                self.found.append(f"an inline event handler {name}= on <{tag}>")
            if name == "style":
                self.found.append(f"a style attribute on <{tag}>")
            if name in ("href", "src", "action", "formaction") and value.strip().lower().startswith(
                "javascript:"
            ):
                self.found.append(f"a javascript: URL in {name}= on <{tag}>")

    def handle_data(self, data: str) -> None:
        if self._script_without_src and data.strip():
            self.found.append(f"an inline <script>: {data.strip()[:60]!r}")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script_without_src = False


def inline_code(html: str) -> list[str]:
    finder = _InlineCodeFinder()
    finder.feed(html)
    finder.close()
    return finder.found


def missing_security_headers(response: Any) -> list[str]:
    """The headers every answer carries (docs/security.md), checked on one response."""
    headers = response.headers
    problems = []
    csp = headers.get("Content-Security-Policy", "")
    if "frame-ancestors 'none'" not in csp and "sandbox" not in csp:
        problems.append(f"Content-Security-Policy without frame-ancestors: {csp!r}")
    if "'unsafe-inline'" in csp or "'unsafe-eval'" in csp:
        problems.append(f"Content-Security-Policy allows inline code: {csp!r}")
    expected = {
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "strict-origin-when-cross-origin",
    }
    for name, value in expected.items():
        if headers.get(name) != value:
            problems.append(f"{name} is {headers.get(name)!r}, not {value!r}")
    if "microphone=()" not in headers.get("Permissions-Policy", ""):
        problems.append("no Permissions-Policy")
    if "max-age=" not in headers.get("Strict-Transport-Security", ""):
        problems.append("no Strict-Transport-Security (the public URL is https)")
    return problems
