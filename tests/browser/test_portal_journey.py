"""The whole journey of a business, in a real browser, in both languages: sign up, fill the
profile, add a product and a batch, issue 500 stamps, design the sheet, download the PDF,
read a stamp from it, and check that stamp on a phone. A business that signed up is not
verified yet, so its stamps are test stamps, and the phone says so plainly
(tests/browser/test_identity_journey.py goes on to verification and live stamps)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONE, LiveServer
from tests.sheet_reading import read_sheet
from traceqr.domain.sheet import SheetLayout

WORDS = {
    "vi": {
        "locale": "vi-VN",
        "welcome": "Chào mừng",
        "saved_profile": "Đã lưu hồ sơ.",
        "issued": "Hoàn tất: đã phát hành các tem từ số 1 đến 500.",
        "test": "TEM THỬ — không dùng cho sản phẩm",
        "design": "Thiết kế và in tờ tem",
        "download": "Tải tệp PDF",
    },
    "en": {
        "locale": "en-US",
        "welcome": "Welcome",
        "saved_profile": "The profile is saved.",
        "issued": "Done: stamps 1 to 500 are issued.",
        "test": "TEST STAMP — not for products",
        "design": "Design and print the sheet",
        "download": "Download the PDF",
    },
}


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_sign_up_to_a_checked_stamp(
    live_server: LiveServer, browser: Any, tmp_path: Path, lang: str
) -> None:
    words = WORDS[lang]
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale=words["locale"], accept_downloads=True
    )
    page = context.new_page()
    base = live_server.url

    # Sign up.
    page.goto(base + "/portal/signup")
    assert page.locator("html").get_attribute("lang") == lang
    page.fill("#business_name", "Gốm sứ Hưng Thịnh Bát Tràng")
    page.fill("#name", "Nguyễn Văn An")
    page.fill("#email", f"an-{lang}@hungthinh.vn")
    page.fill("#password", "correct horse battery")
    page.fill("#confirm", "correct horse battery")
    page.locator("form button[type=submit]").click()
    # "Check your e-mail", the same page whether or not the address had an account; then
    # the first sign-in opens the profile.
    expect(page.locator("main")).to_have_attribute("data-page", "portal.signup_sent")
    page.locator("main a[href$='/portal/login']").click()
    page.fill("#email", f"an-{lang}@hungthinh.vn")
    page.fill("#password", "correct horse battery")
    page.locator("form button[type=submit]").click()
    expect(page.locator(".flash")).to_contain_text(words["welcome"])

    # Profile: what shoppers will see.
    page.fill("#legal_name", "Hợp tác xã Gốm sứ Hưng Thịnh")
    page.fill("#tax_code", "0101234565")
    page.fill("#address_street", "Số 18, đường Giang Cao")
    page.fill("#address_commune", "Xã Bát Tràng")
    page.select_option("#province_code", "ha-noi")
    page.fill("#cluster_name", "Cụm công nghiệp làng nghề Bát Tràng")
    page.locator("form.grid-form button[type=submit]").click()
    expect(page.locator(".flash")).to_have_text(words["saved_profile"])

    # A product and a batch.
    page.goto(base + "/portal/products/new")
    page.fill("#name", "Bình hút lộc men rạn")
    page.fill("#gtin", "8934588012228")
    page.fill("#origin", "Việt Nam")
    page.fill("#standards", "TCCS 01:2025/HT")
    page.locator("form.grid-form button[type=submit]").click()
    page.locator("a[href$='/batches/new']").click()  # on the new product's page
    page.fill("#lot", "BT-2611-A")
    page.fill("#production_date", "02/11/2026")
    page.fill("#expiry_date", "11/2031")
    page.locator("form.grid-form button[type=submit]").click()

    # Issue 500 stamps: a progress page, then done.
    page.fill("#count", "500")
    page.check("#active")
    page.locator("form.row-form button[type=submit]").click()
    page.wait_for_selector(".flash--success", timeout=60_000)
    assert page.locator(".flash--success").inner_text() == words["issued"]
    page.locator(".card a.button").click()

    # Design the sheet: 30 mm stamps, a Vietnamese line of text beside each QR.
    page.get_by_role("link", name=words["design"]).click()
    page.fill("#stamp_mm", "30")
    page.select_option("#side", "text")
    page.fill("#side_text", "Gốm sứ Bát Tràng – lô BT-2611-A")
    page.locator("#sheet-form button[type=submit]").click()
    page.wait_for_function(
        "() => { const img = document.getElementById('sheet-preview');"
        " return img && img.complete && img.naturalWidth > 0; }",
        timeout=30_000,
    )
    assert page.evaluate("document.getElementById('sheet-preview').naturalWidth") > 300

    with page.expect_download() as download_info:
        page.get_by_role("link", name=words["download"]).click()
    pdf_path = tmp_path / f"sheet-{lang}.pdf"
    download_info.value.save_as(pdf_path)
    pdf = pdf_path.read_bytes()
    assert pdf.startswith(b"%PDF")

    # Read the first stamp off the printed sheet, as a phone camera would.
    layout = SheetLayout.paper("A4", stamp_mm=30, side="text")
    first_cell = read_sheet(pdf, layout)[0]
    assert len(first_cell) == 1
    stamp_url = first_cell[0]
    assert stamp_url.startswith(live_server.url.upper())

    phone = browser.new_context(**{**PHONE, "locale": words["locale"]})
    shopper = phone.new_page()
    shopper.goto(stamp_url)
    assert shopper.locator("main").get_attribute("data-status") == "inactive"
    assert shopper.locator("main").get_attribute("data-test") == "true"
    assert shopper.locator("html").get_attribute("lang") == lang
    assert words["test"] in shopper.locator("h1").inner_text()
    assert "Bình hút lộc men rạn" in shopper.locator(".product-name").inner_text()
    # An unverified business's own claims (address, tax code) are not shown as facts.
    assert shopper.locator(".business-address").count() == 0
    assert shopper.locator(".nsx").inner_text() == "02/11/2026"
    assert shopper.locator(".hsd").inner_text().startswith("30/11/2031")
    phone.close()
    context.close()
