"""Verified producers through the browser pages (docs/identity.md): a business that signed up
asks for verification with its registration certificate; an officer of its province reviews
the request beside what TraceQR knows, approves, rejects or later withdraws it; the
certificates are private, re-made before they are stored, and seen only by the business and
the officers whose provinces cover it."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from PIL import Image
from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy import select

from tests.conftest import Api
from tests.web.portal_client import Page, PortalClient
from traceqr.domain.dates import VIETNAM_TZ
from traceqr.errors import ValidationError
from traceqr.models import Business, IdentityAlert, User, VerificationRequest
from traceqr.services.businesses import hash_password
from traceqr.services.officials import create_official
from traceqr.services.uploads import (
    MAX_DOCUMENT_PAGES,
    private_folder,
    store_document,
)
from traceqr.state import AppState, utcnow

PASSWORD = "correct horse battery"
OFFICIAL_PASSWORD = "authority password 1"
TAX_CODE = "0101234565"
LIMIT = 5 * 1024 * 1024


# --- documents --------------------------------------------------------------------------------


def certificate_pdf(pages: int = 1, tax_code: str = TAX_CODE) -> bytes:
    """A business registration certificate, as a scanner's PDF would carry it."""
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=(595, 842))
    canvas.setAuthor("Secret Scanner Operator")
    for number in range(1, pages + 1):
        canvas.setFont("Helvetica-Bold", 16)
        canvas.drawString(72, 760, "GIAY CHUNG NHAN DANG KY DOANH NGHIEP")
        canvas.setFont("Helvetica", 12)
        canvas.drawString(72, 730, f"Ma so doanh nghiep: {tax_code}")
        canvas.drawString(72, 710, f"Trang {number}")
        canvas.showPage()
    canvas.save()
    return out.getvalue()


def hostile_pdf() -> bytes:
    """A PDF that runs a script when opened and carries an attachment and metadata."""
    writer = PdfWriter(clone_from=io.BytesIO(certificate_pdf()))
    script = DictionaryObject(
        {
            NameObject("/S"): NameObject("/JavaScript"),
            NameObject("/JS"): TextStringObject("app.alert('pwned-by-script');"),
        }
    )
    ref = writer._add_object(script)
    writer._root_object[NameObject("/OpenAction")] = ref
    writer._root_object[NameObject("/Names")] = writer._add_object(
        DictionaryObject(
            {
                NameObject("/JavaScript"): DictionaryObject(
                    {NameObject("/Names"): ArrayObject([TextStringObject("run"), ref])}
                )
            }
        )
    )
    writer.add_attachment("payload.exe", b"MZ-secret-attachment-payload")
    writer.add_metadata({"/Author": "SecretAuthorName", "/Subject": "SecretSubject"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def jpeg_with_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SecretCameraMaker"
    exif[0x8825] = {1: "N", 2: (21.0, 1.0, 0.0), 3: "E", 4: (105.0, 51.0, 0.0)}
    out = io.BytesIO()
    Image.new("RGB", (800, 600), (240, 240, 230)).save(out, format="JPEG", exif=exif)
    return out.getvalue()


def refusal(folder: Path, data: bytes) -> str:
    with pytest.raises(ValidationError) as caught:
        store_document(data, folder, field="registration_document", max_bytes=LIMIT)
    assert caught.value.field == "registration_document"
    assert not folder.exists() or not list(folder.iterdir()), "nothing is stored"
    return caught.value.template


def test_a_pdf_is_re_made_without_its_script_attachment_or_metadata(tmp_path: Path) -> None:
    data = hostile_pdf()
    reader = PdfReader(io.BytesIO(data))
    action = reader.trailer["/Root"]["/OpenAction"].get_object()
    assert action["/S"] == "/JavaScript" and "pwned-by-script" in action["/JS"]
    assert list(reader.attachments) == ["payload.exe"]
    assert reader.metadata is not None and reader.metadata.author == "SecretAuthorName"

    stored = store_document(data, tmp_path, field="registration_document", max_bytes=LIMIT)
    assert stored.kind == "pdf" and stored.pages == 1
    assert re.fullmatch(r"[0-9a-f]{32}\.pdf", stored.filename)
    out = (tmp_path / stored.filename).read_bytes()
    for secret in (b"pwned-by-script", b"MZ-secret", b"SecretAuthorName", b"SecretSubject"):
        assert secret not in out
    for name in (b"/JavaScript", b"/OpenAction", b"/EmbeddedFile", b"/AcroForm", b"/URI"):
        assert name not in out
    again = PdfReader(io.BytesIO(out))
    assert not again.attachments
    assert "/OpenAction" not in again.trailer["/Root"]
    assert len(again.pages) == 1
    page = again.pages[0]
    assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (595, 842)
    # The page is one image of the original page, at about 150 dpi.
    images = list(page.images)
    assert len(images) == 1
    assert abs(images[0].image.width - 595 * 150 / 72) < 3


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "choose a PDF or an image file"),
        (b"<html><script>alert(1)</script></html>", "upload a PDF, or a PNG, JPEG or WebP image"),
        (b"PK\x03\x04 a .docx is a zip", "upload a PDF, or a PNG, JPEG or WebP image"),
        (b"GIF89a\x01\x00\x01\x00", "upload a PDF, or a PNG, JPEG or WebP image"),
        (
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\nthis is no PDF at all",
            "the PDF is damaged: TraceQR cannot read it",
        ),
        (certificate_pdf()[:400], "the PDF is damaged: TraceQR cannot read it"),
        (certificate_pdf() + b"\0" * LIMIT, "the file is too large: at most %(limit)s MB"),
    ],
    ids=["empty", "html", "zip", "gif", "fake-pdf", "truncated-pdf", "too-large"],
)
def test_anything_but_a_readable_pdf_or_image_is_refused(
    tmp_path: Path, data: bytes, reason: str
) -> None:
    assert refusal(tmp_path / "private", data) == reason


def test_a_password_protected_pdf_is_refused(tmp_path: Path) -> None:
    writer = PdfWriter(clone_from=io.BytesIO(certificate_pdf()))
    writer.encrypt("mat-khau")
    out = io.BytesIO()
    writer.write(out)
    assert refusal(tmp_path / "private", out.getvalue()) == (
        "the PDF is protected by a password: upload a copy without one"
    )


def test_a_pdf_of_more_than_ten_pages_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "private"
    ten = store_document(
        certificate_pdf(MAX_DOCUMENT_PAGES), folder, field="registration_document", max_bytes=LIMIT
    )
    assert ten.pages == MAX_DOCUMENT_PAGES
    (folder / ten.filename).unlink()
    assert refusal(folder, certificate_pdf(MAX_DOCUMENT_PAGES + 1)) == (
        "the PDF has %(pages)s pages: at most %(limit)s"
    )


def test_a_pdf_holding_an_image_bomb_is_refused_before_drawing_it(tmp_path: Path) -> None:
    from reportlab.lib.utils import ImageReader

    bomb = io.BytesIO()
    Image.new("1", (8000, 6000), 0).save(bomb, format="PNG")  # 48 megapixels
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=(595, 842))
    canvas.drawImage(ImageReader(io.BytesIO(bomb.getvalue())), 10, 10, 100, 100)
    canvas.showPage()
    canvas.save()
    assert refusal(tmp_path / "private", out.getvalue()) == (
        "the PDF holds an image with too many pixels"
    )


def test_a_photographed_certificate_is_re_encoded_without_its_metadata(tmp_path: Path) -> None:
    data = jpeg_with_exif()
    stored = store_document(data, tmp_path, field="registration_document", max_bytes=LIMIT)
    assert stored.kind == "image" and stored.pages == 1
    out = (tmp_path / stored.filename).read_bytes()
    assert out != data and b"SecretCameraMaker" not in out and b"Exif" not in out
    with Image.open(io.BytesIO(out)) as again:
        assert again.format == "JPEG" and again.size == (800, 600)


# --- people -----------------------------------------------------------------------------------


def sign_up(app: Flask, business: str, email: str) -> PortalClient:
    portal = PortalClient(app.test_client())
    portal.get("/portal/signup?lang=en")  # kept in the session: English msgids are stable
    page = portal.signup(business, email)
    assert page.endpoint == "portal.profile", page.text[:300]
    return portal


def officer(app: Flask, email: str, provinces: list[str]) -> PortalClient:
    with AppState.of(app).database.session() as session:
        create_official(
            session,
            email=email,
            name="Cán bộ Sở Công Thương",
            role="authority",
            password=OFFICIAL_PASSWORD,
            provinces=provinces,
            now=utcnow(),
        )
    client = PortalClient(app.test_client())
    client.get("/authority/login?lang=en")
    page = client.post("/authority/login", {"email": email, "password": OFFICIAL_PASSWORD})
    assert page.endpoint == "authority.home", page.text[:300]
    return client


def api_of(portal: PortalClient) -> Api:
    page = portal.post("/portal/keys", {"name": "ERP"})
    found = re.search(r"tqr_[A-Za-z0-9_\-]{20,}", page.html)
    assert found, page.errors
    return Api(portal.client, found.group(0))


def identity_fields(**changes: Any) -> dict[str, Any]:
    return {
        "name": "Gốm sứ Minh An",
        "legal_name": "Công ty TNHH Gốm sứ Minh An",
        "tax_code": TAX_CODE,
        "address_street": "Số 5, đường Giang Cao",
        "address_commune": "Xã Bát Tràng",
        "province_code": "ha-noi",
        "legal_representative": "Nguyễn Văn An",
        "gs1_prefixes": "",
        **changes,
    }


def ask_for_verification(
    portal: PortalClient,
    document: bytes | None = None,
    filename: str = "gcn.pdf",
    **changes: Any,
) -> Page:
    data = identity_fields(**changes)
    data["registration_document"] = (io.BytesIO(document or certificate_pdf()), filename)
    return portal.post("/portal/verification", data, content_type="multipart/form-data")


def only_request(app: Flask) -> VerificationRequest:
    with AppState.of(app).database.session() as session:
        return session.scalars(select(VerificationRequest)).one()


def business_named(app: Flask, name: str) -> Business:
    with AppState.of(app).database.session() as session:
        return session.scalars(select(Business).where(Business.name == name)).one()


def private_files(app: Flask) -> list[Path]:
    folder = private_folder(AppState.of(app).settings.uploads_path)
    return sorted(folder.iterdir()) if folder.exists() else []


def verdict(api: Api, url: str) -> tuple[str, list[str]]:
    body = api.verify(url)
    return body["status"], body["reasons"]


def stamps(api: Api, count: int = 1) -> list[str]:
    batch = api.batch(product_id=api.product(name="Bình gốm men rạn")["id"])
    api.issue(batch["id"], count)
    return api.stamp_urls(batch["id"])


# --- the business's side, then the reviewer's -------------------------------------------------


def test_an_officer_of_the_province_approves_and_stamps_become_live(app: Flask) -> None:
    owner = sign_up(app, "Gốm sứ Minh An", "owner@minhan.vn")
    api = api_of(owner)
    test_stamp = stamps(api)[0]
    assert verdict(api, test_stamp) == ("inactive", ["test_stamp"])

    # The profile says what an unverified business's stamps are and where to go.
    profile = owner.get("/portal/profile")
    assert "TEM THỬ" in profile.text and 'href="/portal/verification"' in profile.html
    page = owner.get("/portal/verification")
    assert 'data-verification="unverified"' in page.html
    assert "Until TraceQR has checked your identity, your stamps are test stamps (TEM THỬ)" in (
        page.text
    )
    assert 'id="verification-form"' in page.html

    page = ask_for_verification(owner)
    assert page.endpoint == "portal.verification" and not page.errors, page.errors
    assert 'data-request-status="pending"' in page.html
    record = only_request(app)
    assert (record.status, record.tax_code, record.province_code) == ("pending", TAX_CODE, "ha-noi")
    assert record.legal_representative == "Nguyễn Văn An"
    # Stored re-made, under a random name, among the private uploads only.
    [stored] = private_files(app)
    assert stored.name == record.registration_document and stored.suffix == ".pdf"
    assert b"Secret Scanner Operator" not in stored.read_bytes()
    assert not list(AppState.of(app).settings.uploads_path.glob("*.pdf"))
    # The business reads its own certificate back, privately.
    own = f"/portal/verification/{record.id}/registration"
    with owner.client.get(own) as response:
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        assert response.headers["Cache-Control"] == "private, no-store"
        assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
        assert response.headers["Content-Disposition"].startswith("attachment")
        assert response.get_data() == stored.read_bytes()

    hanoi = officer(app, "can.bo@sct.hanoi.gov.vn", ["ha-noi"])
    home = hanoi.get("/authority/")
    assert 'data-pending="1"' in home.html
    queue = hanoi.get("/authority/verification")
    assert f'data-request="{record.id}"' in queue.html and "Gốm sứ Minh An" in queue.text
    page = hanoi.get(f"/authority/verification/{record.id}")
    assert page.status == 200 and 'data-request-status="pending"' in page.html
    assert "Công ty TNHH Gốm sứ Minh An" in page.text and "Nguyễn Văn An" in page.text
    assert 'data-warning="tax-code-taken"' not in page.html
    document = f"/authority/verification/{record.id}/registration"
    with hanoi.client.get(document) as response:
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        assert response.headers["Cache-Control"] == "private, no-store"
        assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert f'src="{document}/pages/1"' in page.html
    with hanoi.client.get(f"{document}/pages/1") as response:
        assert response.status_code == 200 and response.mimetype == "image/jpeg"
        assert response.headers["Cache-Control"] == "private, no-store"
        with Image.open(io.BytesIO(response.get_data())) as preview:
            assert preview.width > 500
    assert hanoi.client.get(f"{document}/pages/2").status_code == 404
    assert hanoi.client.get(f"/authority/verification/{record.id}/gs1").status_code == 404

    page = hanoi.post(
        f"/authority/verification/{record.id}/approve",
        form_page=f"/authority/verification/{record.id}",
    )
    assert any("is verified" in f for f in page.flashes), page.flashes
    assert 'data-request-status="approved"' in page.html
    business = business_named(app, "Gốm sứ Minh An")
    assert business.verification_status == "verified"
    assert business.verified_by == "Sở Công Thương Thành phố Hà Nội"
    assert (business.legal_name, business.tax_code) == ("Công ty TNHH Gốm sứ Minh An", TAX_CODE)
    assert 'data-pending="0"' in hanoi.get("/authority/").html
    decided = hanoi.get("/authority/verification/decided")
    assert f'data-request="{record.id}"' in decided.html

    # Live stamps now; the test stamps stay test stamps.
    live = stamps(api)[0]
    body = api.verify(live)
    assert body["status"] == "genuine", body
    assert body["business"]["verified"], body["business"]
    assert verdict(api, test_stamp) == ("inactive", ["test_stamp"])

    page = owner.get("/portal/verification")
    assert 'data-verification="verified"' in page.html
    assert "Sở Công Thương Thành phố Hà Nội" in page.text


def test_a_rejection_reason_is_shown_to_the_business(app: Flask) -> None:
    owner = sign_up(app, "Mây tre Phú Vinh", "owner@phuvinh.vn")
    assert not ask_for_verification(owner, name="Mây tre Phú Vinh").errors
    record = only_request(app)
    hanoi = officer(app, "can.bo@sct.hanoi.gov.vn", ["ha-noi"])
    path = f"/authority/verification/{record.id}"
    page = hanoi.post(f"{path}/reject", {"reason": "   "}, form_page=path)
    assert page.errors == ["This is required."], page.errors
    assert only_request(app).status == "pending"

    reason = "Ảnh giấy chứng nhận bị mờ, không đọc được mã số thuế <b>"
    page = hanoi.post(f"{path}/reject", {"reason": reason}, form_page=path)
    assert page.flashes == ["The request is rejected; the business sees your reason."]
    assert only_request(app).status == "rejected"
    assert "Approve" not in page.text.split("What TraceQR already knows")[1]

    page = owner.get("/portal/verification")
    assert 'data-request-status="rejected"' in page.html
    assert reason in page.text and "&lt;b&gt;" in page.html  # shown as text
    # The form comes back filled with the rejected request, to correct it.
    assert 'value="Mây tre Phú Vinh"' in page.html
    assert business_named(app, "Mây tre Phú Vinh").verification_status == "unverified"
    assert "rejected" in owner.get("/portal/profile").text


def test_an_officer_of_another_province_finds_nothing(app: Flask, make_business: Any) -> None:
    owner = sign_up(app, "Gốm sứ Minh An", "owner@minhan.vn")
    assert not ask_for_verification(owner).errors
    record = only_request(app)
    bacninh = officer(app, "can.bo@sct.bacninh.gov.vn", ["bac-ninh"])
    base = f"/authority/verification/{record.id}"
    for path in (base, f"{base}/registration", f"{base}/registration/pages/1"):
        assert bacninh.client.get(path).status_code == 404, path
    token = bacninh.token("/authority/verification")
    for path in (f"{base}/approve", f"{base}/reject"):
        response = bacninh.client.post(path, data={"csrf_token": token, "reason": "x"})
        assert response.status_code == 404, path
    business_id = business_named(app, "Gốm sứ Minh An").id
    assert (
        bacninh.client.get(f"/authority/verification/businesses/{business_id}").status_code == 404
    )
    assert f'data-request="{record.id}"' not in bacninh.get("/authority/verification").html
    assert 'data-pending="0"' in bacninh.get("/authority/").html
    assert only_request(app).status == "pending"
    # Nor does another business.
    other = sign_up(app, "Cơ sở khác", "owner@khac.vn")
    with other.client.get(f"/portal/verification/{record.id}/registration") as response:
        assert response.status_code == 404


def test_staff_see_the_status_but_only_an_owner_asks(app: Flask) -> None:
    owner = sign_up(app, "Gốm sứ Minh An", "owner@minhan.vn")
    assert not ask_for_verification(owner).errors
    record = only_request(app)
    with AppState.of(app).database.session() as session:
        session.add(
            User(
                business_id=record.business_id,
                email="staff@minhan.vn",
                role="staff",
                password_hash=hash_password("staff password 1"),
                created_at=utcnow(),
            )
        )
    staff = PortalClient(app.test_client())
    staff.get("/portal/login?lang=en")
    assert staff.login("staff@minhan.vn", "staff password 1").endpoint == "portal.dashboard"
    page = staff.get("/portal/verification")
    assert page.status == 200 and 'data-request-status="pending"' in page.html
    assert 'id="verification-form"' not in page.html and "data-owner-only" in page.html
    data = {"csrf_token": staff.token(), **identity_fields()}
    data["registration_document"] = (io.BytesIO(certificate_pdf()), "gcn.pdf")
    response = staff.client.post(
        "/portal/verification", data=data, content_type="multipart/form-data"
    )
    assert response.status_code == 403
    with AppState.of(app).database.session() as session:
        assert len(session.scalars(select(VerificationRequest)).all()) == 1
    assert len(private_files(app)) == 1
    # Staff read the business's own documents.
    with staff.client.get(f"/portal/verification/{record.id}/registration") as response:
        assert response.status_code == 200


def test_a_tax_code_verified_for_another_business_is_refused_and_alerted(
    app: Flask, make_business: Any
) -> None:
    make_business("Gốm sứ Minh An thật", province_code="ha-noi", tax_code=TAX_CODE)
    copier = sign_up(app, "Gốm sứ Minh An", "owner@gia-mao.vn")
    copier.post(
        "/portal/profile",
        {"name": "Gốm sứ Minh An", "province_code": "ha-noi"},
        content_type="multipart/form-data",
    )
    page = ask_for_verification(copier)
    assert any("belongs to a business already verified on TraceQR" in e for e in page.errors), (
        page.errors
    )
    assert 'id="tax_code-error"' in page.html
    with AppState.of(app).database.session() as session:
        assert session.scalars(select(VerificationRequest)).all() == []
        [alert] = session.scalars(select(IdentityAlert)).all()
        assert (alert.kind, alert.detail) == ("tax_code_taken", TAX_CODE)
    assert private_files(app) == [], "a refused request leaves no document behind"

    hanoi = officer(app, "can.bo@sct.hanoi.gov.vn", ["ha-noi"])
    page = hanoi.get("/authority/verification/alerts")
    assert f'data-alert="{alert.id}"' in page.html and 'data-kind="tax_code_taken"' in page.html
    assert "Gốm sứ Minh An thật" in page.text and TAX_CODE in page.text
    page = hanoi.post(
        f"/authority/verification/alerts/{alert.id}/resolve",
        form_page="/authority/verification/alerts",
    )
    assert page.flashes == ["The alert is marked as seen."]
    assert f'data-alert="{alert.id}"' not in page.html
    with AppState.of(app).database.session() as session:
        assert session.get(IdentityAlert, alert.id).resolved_at is not None  # type: ignore[union-attr]


def test_a_request_whose_tax_code_is_verified_meanwhile_is_shown_in_red(
    app: Flask, make_business: Any
) -> None:
    owner = sign_up(app, "Gốm sứ Minh An", "owner@minhan.vn")
    assert not ask_for_verification(owner).errors
    record = only_request(app)
    make_business("Gốm sứ Minh An thật", province_code="ha-noi", tax_code=TAX_CODE)
    hanoi = officer(app, "can.bo@sct.hanoi.gov.vn", ["ha-noi"])
    queue = hanoi.get("/authority/verification")
    assert "tax code already verified for another business" in queue.text
    page = hanoi.get(f"/authority/verification/{record.id}")
    assert 'data-warning="tax-code-taken"' in page.html
    assert "same tax code" in page.text and "Gốm sứ Minh An thật" in page.text
    page = hanoi.post(
        f"/authority/verification/{record.id}/approve",
        form_page=f"/authority/verification/{record.id}",
    )
    assert page.flashes and "already belongs to verified business" in page.flashes[0]
    assert only_request(app).status == "pending"
    assert business_named(app, "Gốm sứ Minh An").verification_status == "unverified"


def test_a_document_that_is_no_certificate_is_refused_next_to_its_field(app: Flask) -> None:
    owner = sign_up(app, "Gốm sứ Minh An", "owner@minhan.vn")
    page = ask_for_verification(owner, b"<svg onload='alert(1)'/>", "gcn.pdf")
    assert page.errors == ["Upload a PDF, or a PNG, JPEG or WebP image."], page.errors
    page = owner.post("/portal/verification", identity_fields(), content_type="multipart/form-data")
    assert any("registration certificate" in e for e in page.errors), page.errors
    page = ask_for_verification(owner, gs1_prefixes="893458801")
    assert any("GS1 Vietnam membership certificate" in e for e in page.errors), page.errors
    assert private_files(app) == [] and not list(AppState.of(app).settings.uploads_path.glob("*.*"))
    with AppState.of(app).database.session() as session:
        assert session.scalars(select(VerificationRequest)).all() == []
    # A photo of the certificate is taken, re-encoded.
    assert not ask_for_verification(owner, jpeg_with_exif(), "anh.jpg").errors
    [stored] = private_files(app)
    assert stored.suffix == ".jpg" and b"SecretCameraMaker" not in stored.read_bytes()


# --- once verified ----------------------------------------------------------------------------


def verified_owner(app: Flask, make_business: Any, email_name: str = "Gốm sứ Minh An") -> Any:
    made = make_business(
        email_name,
        password=PASSWORD,
        legal_name="Công ty TNHH Gốm sứ Minh An",
        tax_code=TAX_CODE,
        address_street="Số 5, đường Giang Cao",
        province_code="ha-noi",
        phone="024 3874 0000",
    )
    portal = PortalClient(app.test_client())
    portal.get("/portal/login?lang=en")
    assert portal.login(made.owner.email).endpoint == "portal.dashboard"
    return made, portal


def test_a_verified_identity_is_frozen_on_the_profile(app: Flask, make_business: Any) -> None:
    made, owner = verified_owner(app, make_business)
    page = owner.get("/portal/profile")
    assert "data-frozen-identity" in page.html
    for name in ("name", "legal_name", "tax_code", "address_street", "province_code"):
        assert f'name="{name}"' not in page.html, name
    assert TAX_CODE in page.text and "Công ty TNHH Gốm sứ Minh An" in page.text

    # Sent anyway (an old page, a hand-made form): refused, and said why.
    page = owner.post(
        "/portal/profile",
        {
            "name": "Tên khác",
            "legal_name": "Công ty Khác",
            "tax_code": "0100109106",
            "phone": "0912 345 678",
        },
        content_type="multipart/form-data",
    )
    assert any("changes only through a new verification request" in f for f in page.flashes), (
        page.flashes,
        page.errors,
    )
    business = business_named(app, "Gốm sứ Minh An")
    assert (business.legal_name, business.tax_code, business.phone) == (
        "Công ty TNHH Gốm sứ Minh An",
        TAX_CODE,
        "024 3874 0000",
    )
    # What is not frozen is saved as before.
    page = owner.post(
        "/portal/profile", {"phone": "0912 345 678"}, content_type="multipart/form-data"
    )
    assert page.flashes == ["The profile is saved."], (page.flashes, page.errors)
    business = business_named(app, "Gốm sứ Minh An")
    assert (business.phone, business.tax_code, business.name) == (
        "0912 345 678",
        TAX_CODE,
        "Gốm sứ Minh An",
    )
    assert made.business.id == business.id
    # A change is a new request, starting from the checked identity.
    page = owner.get("/portal/verification")
    assert 'data-verification="verified"' in page.html
    assert "Ask for a change of your identity" in page.text
    assert f'value="{TAX_CODE}"' in page.html and 'value="Công ty TNHH Gốm sứ Minh An"' in page.html


def test_withdrawing_makes_the_stamps_signed_since_invalid(
    app: Flask, make_business: Any, client: Any
) -> None:
    made, _owner = verified_owner(app, make_business)
    api = Api(client, made.api_key)
    since = datetime.now(UTC).astimezone(VIETNAM_TZ).replace(second=0, microsecond=0)
    [stamp] = stamps(api)
    assert verdict(api, stamp)[0] == "genuine"

    bacninh = officer(app, "can.bo@sct.bacninh.gov.vn", ["bac-ninh"])
    path = f"/authority/verification/businesses/{made.business.id}"
    assert bacninh.client.get(path).status_code == 404
    hanoi = officer(app, "can.bo@sct.hanoi.gov.vn", ["ha-noi"])
    page = hanoi.get(path)
    assert 'id="withdraw-form"' in page.html and 'data-business-status="verified"' in page.html

    reason = "Giả mạo giấy chứng nhận đăng ký doanh nghiệp"
    page = hanoi.post(f"{path}/withdraw", {"reason": reason}, form_page=path)
    assert page.errors == ["Tick the box to confirm."], page.errors
    future = (datetime.now(UTC) + timedelta(days=1)).astimezone(VIETNAM_TZ)
    page = hanoi.post(
        f"{path}/withdraw",
        {"reason": reason, "confirm": "y", "at": future.strftime("%Y-%m-%dT%H:%M")},
        form_page=path,
    )
    assert page.errors == ["A withdrawal takes effect from a time that has passed."], page.errors
    page = hanoi.post(
        f"{path}/withdraw", {"reason": reason, "confirm": "y", "at": "next tuesday"}, form_page=path
    )
    assert page.errors and "Vietnam time" in page.errors[0], page.errors
    assert business_named(app, "Gốm sứ Minh An").verification_status == "verified"
    assert verdict(api, stamp)[0] == "genuine"

    page = hanoi.post(
        f"{path}/withdraw",
        {"reason": reason, "confirm": "y", "at": since.strftime("%Y-%m-%dT%H:%M")},
        form_page=path,
    )
    assert page.flashes and "is withdrawn from" in page.flashes[0], (page.flashes, page.errors)
    assert 'data-business-status="withdrawn"' in page.html
    business = business_named(app, "Gốm sứ Minh An")
    assert business.verification_status == "withdrawn" and business.withdrawal_reason == reason
    assert business.withdrawn_at == since.astimezone(UTC)
    assert verdict(api, stamp) == ("invalid", ["verification_withdrawn"])
    # The business is told, and signs test stamps again.
    page = PortalClient(app.test_client())
    page.get("/portal/login?lang=en")
    page.login(made.owner.email)
    shown = page.get("/portal/verification")
    assert 'data-verification="withdrawn"' in shown.html and reason in shown.text
    assert verdict(api, stamps(api)[0]) == ("inactive", ["test_stamp"])


# --- who may reach these pages ----------------------------------------------------------------

PORTAL_ROUTES = [
    ("GET", "/portal/verification"),
    ("POST", "/portal/verification"),
    ("GET", "/portal/verification/1/registration"),
    ("GET", "/portal/verification/1/gs1"),
]
AUTHORITY_ROUTES = [
    ("GET", "/authority/verification"),
    ("GET", "/authority/verification/decided"),
    ("GET", "/authority/verification/alerts"),
    ("POST", "/authority/verification/alerts/1/resolve"),
    ("GET", "/authority/verification/1"),
    ("GET", "/authority/verification/1/registration"),
    ("GET", "/authority/verification/1/registration/pages/1"),
    ("POST", "/authority/verification/1/approve"),
    ("POST", "/authority/verification/1/reject"),
    ("GET", "/authority/verification/businesses/1"),
    ("POST", "/authority/verification/businesses/1/withdraw"),
]


def test_every_verification_page_needs_the_right_sign_in(app: Flask) -> None:
    owner = sign_up(app, "Gốm sứ Minh An", "owner@minhan.vn")
    assert not ask_for_verification(owner).errors
    anonymous = PortalClient(app.test_client())
    token = anonymous.token("/portal/login")
    for method, path in PORTAL_ROUTES + AUTHORITY_ROUTES:
        with anonymous.client.open(path, method=method, data={"csrf_token": token}) as response:
            expected = "/authority/login" if path.startswith("/authority") else "/portal/login"
            assert response.status_code == 302, (method, path, response.status_code)
            assert response.headers["Location"].startswith(expected), (method, path)
    # A business's owner is no officer.
    token = owner.token("/portal/verification")
    for method, path in AUTHORITY_ROUTES:
        with owner.client.open(path, method=method, data={"csrf_token": token}) as response:
            assert response.status_code == 302, (method, path, response.status_code)
            assert response.headers["Location"].startswith("/authority/login"), (method, path)
    assert only_request(app).status == "pending"


def test_a_request_with_two_large_certificates_fits(app: Flask) -> None:
    """Two documents of nearly the upload limit each pass the request size limit (which
    is smaller for every other form)."""
    owner = sign_up(app, "Gốm sứ Minh An", "owner@minhan.vn")
    large = certificate_pdf() + b"%" + b"0" * (LIMIT - 200_000)  # a comment: still a PDF
    data = identity_fields(gs1_prefixes="8934588")
    data["registration_document"] = (io.BytesIO(large), "gcn.pdf")
    data["gs1_document"] = (io.BytesIO(large), "gs1.pdf")
    page = owner.post("/portal/verification", data, content_type="multipart/form-data")
    assert page.status == 200 and not page.errors, page.errors
    record = only_request(app)
    assert record.status == "pending" and record.gs1_prefixes == "8934588"
