"""Verified producers in a real browser (docs/identity.md): a business signs up, prints test
stamps (TEM THỬ), uploads its registration certificate; an officer of the Department of its
province reads the certificate in the review page and approves it; the business's stamps
are live from then on. A second business is rejected and reads the reviewer's reason."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from playwright.sync_api import expect
from reportlab.pdfgen.canvas import Canvas

from tests.browser.conftest import PHONE, LiveServer
from traceqr.services.officials import create_official
from traceqr.state import AppState, utcnow

PASSWORD = "correct horse battery"
OFFICER_EMAIL = "can.bo@sct.hanoi.gov.vn"
OFFICER_PASSWORD = "authority password 1"
SCREENSHOT = "/tmp/traceqr-identity-review-360x740.png"


def certificate_pdf(tax_code: str) -> bytes:
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=(595, 842))
    canvas.setFont("Helvetica-Bold", 18)
    canvas.drawString(60, 760, "GIAY CHUNG NHAN DANG KY DOANH NGHIEP")
    canvas.setFont("Helvetica", 14)
    canvas.drawString(60, 720, f"Ma so doanh nghiep: {tax_code}")
    canvas.drawString(60, 700, "Nguoi dai dien theo phap luat: Nguyen Van An")
    canvas.rect(380, 560, 150, 110)  # where the seal is
    canvas.showPage()
    canvas.save()
    return out.getvalue()


def new_page(browser: Any, **options: Any) -> Any:
    context = browser.new_context(**{"locale": "vi-VN", **options})
    page = context.new_page()
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    return page


def sign_up(page: Any, base: str, business: str, email: str) -> None:
    page.goto(base + "/portal/signup")
    page.fill("#business_name", business)
    page.fill("#name", "Nguyễn Văn An")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.fill("#confirm", PASSWORD)
    page.locator("form button[type=submit]").click()
    expect(page.locator("main")).to_have_attribute("data-page", "portal.signup_sent")
    page.locator("main a[href$='/portal/login']").click()  # as the welcome mail says
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.locator("form button[type=submit]").click()
    expect(page.locator("main")).to_have_attribute("data-page", "portal.profile")


def ask_for_verification(page: Any, legal_name: str, tax_code: str) -> None:
    # From the profile, where an unverified business is told what its stamps are.
    expect(page.locator("[data-verification=unverified]")).to_contain_text("TEM THỬ")
    page.locator("[data-verification=unverified] a[href='/portal/verification']").click()
    expect(page.locator("main")).to_have_attribute("data-page", "portal.verification")
    page.fill("#legal_name", legal_name)
    page.fill("#tax_code", tax_code)
    page.fill("#legal_representative", "Nguyễn Văn An")
    page.fill("#address_street", "Số 18, đường Giang Cao")
    page.fill("#address_commune", "Xã Bát Tràng")
    page.select_option("#province_code", "ha-noi")
    page.set_input_files(
        "#registration_document",
        {
            "name": "giay-chung-nhan.pdf",
            "mimeType": "application/pdf",
            "buffer": certificate_pdf(tax_code),
        },
    )
    page.locator("#verification-form button[type=submit]").click()
    expect(page.locator(".flash--success")).to_be_visible()
    expect(page.locator("[data-request-status=pending]")).to_be_visible()


def issue_one_stamp(page: Any, base: str, product: str, lot: str) -> str:
    """A product, a batch, one active stamp through the portal; its URL from the CSV."""
    page.goto(base + "/portal/products/new")
    page.fill("#name", product)
    page.locator("form.grid-form button[type=submit]").click()
    page.locator("a[href$='/batches/new']").click()
    page.fill("#lot", lot)
    page.locator("form.grid-form button[type=submit]").click()
    expect(page.locator("main")).to_have_attribute("data-page", "portal.batch")
    batch_id = re.search(r"/portal/batches/(\d+)", page.url).group(1)  # type: ignore[union-attr]
    page.fill("#count", "1")
    page.check("#active")
    page.locator("form.row-form button[type=submit]").click()
    page.wait_for_selector(".flash--success", timeout=60_000)  # on the job's page
    response = page.request.get(f"{base}/portal/batches/{batch_id}/stamps.csv")
    assert response.ok, response.status
    rows = list(csv.DictReader(io.StringIO(response.text().lstrip("\ufeff"))))
    assert len(rows) == 1, rows
    return str(rows[0]["url"])


def officer_signs_in(browser: Any, live_server: LiveServer) -> Any:
    with AppState.of(live_server.app).database.session() as session:
        create_official(
            session,
            email=OFFICER_EMAIL,
            name="Trần Thị Bình",
            role="authority",
            password=OFFICER_PASSWORD,
            provinces=["ha-noi"],
            now=utcnow(),
        )
    page = new_page(browser, viewport={"width": 1280, "height": 900})
    page.goto(live_server.url + "/authority/login")
    page.fill("#email", OFFICER_EMAIL)
    page.fill("#password", OFFICER_PASSWORD)
    page.locator("form button[type=submit]").click()
    expect(page.locator("main")).to_have_attribute("data-page", "authority.home")
    return page


def open_request(officer: Any, name: str) -> None:
    officer.locator(".portal-nav--authority a[href='/authority/verification']").click()
    officer.get_by_role("link", name=name).click()
    expect(officer.locator("main")).to_have_attribute("data-page", "authority.verification_request")


def test_a_business_is_verified_and_its_stamps_become_live(
    live_server: LiveServer, browser: Any
) -> None:
    base = live_server.url
    owner = new_page(browser, viewport={"width": 1280, "height": 900})
    sign_up(owner, base, "Gốm sứ Hưng Thịnh", "an@hungthinh.vn")
    ask_for_verification(owner, "Hợp tác xã Gốm sứ Hưng Thịnh", "0101234565")
    # Meanwhile its stamps are test stamps, and a phone says so.
    test_stamp = issue_one_stamp(owner, base, "Bình hút lộc", "BT-TEST-1")
    shopper = new_page(browser, **PHONE)
    shopper.goto(test_stamp)
    expect(shopper.locator("main")).to_have_attribute("data-test", "true")
    assert "TEM THỬ" in shopper.locator("main").inner_text()

    officer = officer_signs_in(browser, live_server)
    expect(
        officer.locator(".portal-nav--authority a[href='/authority/verification']")
    ).to_have_attribute("data-pending", "1")
    open_request(officer, "Gốm sứ Hưng Thịnh")
    expect(officer.locator("[data-request-status=pending]")).to_be_visible()
    expect(officer.locator("[data-table=identity-comparison]")).to_contain_text(
        "Hợp tác xã Gốm sứ Hưng Thịnh"
    )
    # The certificate is read in the page: its first page, drawn from the stored PDF.
    preview = officer.locator("[data-document=registration] img").first
    preview.scroll_into_view_if_needed()
    officer.wait_for_function(
        "img => img.complete && img.naturalWidth > 500", arg=preview.element_handle()
    )

    # On a phone: what a reviewer sees, for a look.
    officer.set_viewport_size({"width": 360, "height": 740})
    officer.evaluate("window.scrollTo(0, 0)")
    officer.screenshot(path=SCREENSHOT, full_page=True)
    width = officer.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the review page scrolls sideways on a phone ({width}px)"
    officer.set_viewport_size({"width": 1280, "height": 900})

    officer.locator("#approve-form button[type=submit]").click()
    expect(officer.locator(".flash--success")).to_be_visible()
    expect(officer.locator("[data-request-status=approved]")).to_be_visible()
    expect(
        officer.locator(".portal-nav--authority a[href='/authority/verification']")
    ).to_have_attribute("data-pending", "0")

    # The business: verified, and its new stamps are live.
    owner.goto(base + "/portal/verification")
    expect(owner.locator("[data-verification=verified]")).to_contain_text(
        "Sở Công Thương Thành phố Hà Nội"
    )
    owner.goto(base + "/portal/profile")
    expect(owner.locator("[data-frozen-identity] [data-field=tax_code]")).to_have_text("0101234565")
    assert owner.locator("#tax_code").count() == 0
    live_stamp = issue_one_stamp(owner, base, "Bình gốm men rạn", "BT-LIVE-1")
    shopper.goto(live_stamp)
    expect(shopper.locator("main")).to_have_attribute("data-status", "genuine")
    assert shopper.locator("main").get_attribute("data-test") is None
    assert "TEM THỬ" not in shopper.locator("body").inner_text()
    # The test stamp printed before stays a test stamp.
    shopper.goto(test_stamp)
    expect(shopper.locator("main")).to_have_attribute("data-test", "true")
    for page in (owner, officer, shopper):
        assert page.problems == [], page.problems
        page.context.close()


def test_a_rejected_business_reads_the_reason(live_server: LiveServer, browser: Any) -> None:
    base = live_server.url
    owner = new_page(browser, **PHONE)  # on a phone, as many small producers are
    sign_up(owner, base, "Mây tre đan Phú Vinh", "lan@phuvinh.vn")
    ask_for_verification(owner, "Công ty TNHH Mây tre đan Phú Vinh", "0100109106")

    officer = officer_signs_in(browser, live_server)
    open_request(officer, "Mây tre đan Phú Vinh")
    reason = "Mã số thuế trên giấy chứng nhận không khớp với Cổng thông tin đăng ký doanh nghiệp."
    officer.fill("#reason", reason)
    officer.locator("#reject-form button[type=submit]").click()
    expect(officer.locator("[data-request-status=rejected]")).to_be_visible()

    owner.goto(base + "/portal/verification")
    expect(owner.locator("[data-request-status=rejected] [data-reason]")).to_have_text(reason)
    expect(owner.locator("[data-verification=unverified]")).to_contain_text("TEM THỬ")
    # The form is there again, filled with what was sent, to be corrected.
    expect(owner.locator("#legal_name")).to_have_value("Công ty TNHH Mây tre đan Phú Vinh")
    for page in (owner, officer):
        assert page.problems == [], page.problems
        page.context.close()
