"""Catching copies in a real browser: a shopper claims a PIN and reports a fake; an
inspector looks stamps up from a photo."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from playwright.sync_api import expect

from tests.browser.conftest import LiveServer
from tests.conftest import Api
from traceqr.domain.qr import QUIET_ZONE_MODULES, qr_matrix
from traceqr.services.officials import create_official
from traceqr.state import AppState, utcnow


def pin_stamps(live_server: LiveServer, business: Any) -> list[dict[str, str]]:
    api = Api(live_server.app.test_client(), business.api_key)
    batch = api.batch(with_pin=True)
    api.issue(batch["id"], 2)
    text = api.get(f"/batches/{batch['id']}/stamps.csv").get_data(as_text=True)
    return list(csv.DictReader(io.StringIO(text)))


def test_the_first_buyer_claims_the_product_with_the_scratch_off_pin(
    live_server: LiveServer, phone: Any, business: Any
) -> None:
    stamp = pin_stamps(live_server, business)[0]
    phone.goto(stamp["url"])
    assert phone.locator("main").get_attribute("data-status") == "genuine"
    phone.get_by_label("Mã PIN dưới lớp cào").fill("1234 5678")
    phone.get_by_role("button", name="Xác nhận").click()
    expect(phone.locator(".flash")).to_contain_text("Sai mã PIN")
    phone.get_by_label("Mã PIN dưới lớp cào").fill(f"{stamp['pin'][:4]} {stamp['pin'][4:]}")
    phone.get_by_role("button", name="Xác nhận").click()
    expect(phone.locator(".flash")).to_contain_text("người mua đầu tiên")
    # Anyone checking it later learns it was claimed.
    phone.goto(stamp["url"])
    assert "Người mua đầu tiên đã nhận sản phẩm ngày" in phone.locator(".claim").inner_text()


def test_a_shopper_reports_a_fake_with_a_photo(
    live_server: LiveServer, phone: Any, business: Any, tmp_path: Path
) -> None:
    fake = live_server.url + "/S/" + "A" * 127
    phone.goto(fake)
    assert phone.locator("main").get_attribute("data-status") == "invalid"
    phone.get_by_role("link", name="Báo cáo nghi ngờ hàng giả").click()
    phone.get_by_label("Cửa hàng bạn đã mua").fill("Tạp hóa Minh Phát")
    phone.get_by_label("Tỉnh/thành phố").select_option("ha-noi")
    phone.get_by_label("Điều gì bất thường?").fill("Tem mờ, không có lớp bảo an")
    photo = tmp_path / "fake.jpg"
    Image.new("RGB", (120, 80), (90, 40, 10)).save(photo, format="JPEG")
    phone.get_by_label("Ảnh sản phẩm hoặc tem").set_input_files(str(photo))
    phone.get_by_role("button", name="Gửi báo cáo").click()
    expect(phone.locator(".flash")).to_contain_text("đã được gửi")


def shelf_photo(urls: list[str], path: Path) -> None:
    tiles = []
    for url in urls:
        modules = np.pad(qr_matrix(url, "Q").modules, QUIET_ZONE_MODULES)
        tiles.append(np.kron(np.where(modules, 0, 255), np.ones((6, 6))).astype(np.uint8))
    Image.fromarray(np.hstack(tiles)).save(path, format="JPEG", quality=90)


def test_an_inspector_looks_stamps_up_from_a_photo(
    live_server: LiveServer, browser: Any, business: Any, tmp_path: Path
) -> None:
    state = AppState.of(live_server.app)
    with state.database.session() as session:
        create_official(
            session,
            email="qltt@hanoi.gov.vn",
            name="Đội QLTT số 1",
            role="inspector",
            password="inspector password 1",
            provinces=[],
            now=utcnow(),
        )
    api = Api(live_server.app.test_client(), business.api_key)
    batch = api.batch()
    api.issue(batch["id"], 2)
    urls = api.stamp_urls(batch["id"])
    forged = urls[1][:-3] + ("AAA" if not urls[1].endswith("AAA") else "BAA")
    photo = tmp_path / "shelf.jpg"
    shelf_photo([urls[0], forged], photo)

    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN")
    page = context.new_page()
    page.goto(live_server.url + "/inspect/login")
    page.fill("#email", "qltt@hanoi.gov.vn")
    page.fill("#password", "inspector password 1")
    page.locator("form button[type=submit]").click()
    page.get_by_label("Ảnh chụp một hoặc nhiều tem").set_input_files(str(photo))
    page.get_by_role("button", name="Giải mã ảnh").click()
    statuses = sorted(
        page.locator("tr[data-status]").evaluate_all("rows => rows.map(r => r.dataset.status)")
    )
    assert statuses == ["genuine", "invalid"]
    page.locator("tr[data-status=genuine] a").click()
    assert page.locator("section.verdict").get_attribute("data-status") == "genuine"
    assert "Gốm sứ Bát Tràng Test" in page.locator("main").inner_text()
    context.close()
