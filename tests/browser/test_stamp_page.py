"""A shopper scans a stamp with a phone: the page in a real browser at 360 px."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import LiveServer
from tests.conftest import Api


def test_a_shopper_reads_the_verdict_on_a_phone_in_both_languages(
    live_server: LiveServer, phone: Any, business: Any
) -> None:
    api = Api(live_server.app.test_client(), business.api_key)
    batch = api.batch(production_date="2026-11-02", expiry_date="2027-05-31")
    api.issue(batch["id"], 2)
    url = api.stamp_urls(batch["id"])[0]
    assert url.startswith("HTTP://127.0.0.1:")

    phone.goto(url)  # exactly what the QR holds, upper-case scheme and host included
    main = phone.locator("main")
    assert main.get_attribute("data-status") == "genuine"
    assert phone.locator("html").get_attribute("lang") == "vi"
    assert "Sản phẩm chính hãng" in phone.locator("h1").inner_text()
    assert phone.locator(".nsx").inner_text() == "02/11/2026"
    assert phone.locator(".hsd").inner_text().startswith("31/05/2027")
    # Nothing spills sideways on a 360 px screen.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360

    phone.get_by_role("link", name="EN").click()
    assert phone.locator("html").get_attribute("lang") == "en"
    assert "Genuine product" in phone.locator("h1").inner_text()
    assert "checked 2 times" in phone.locator(".scans").inner_text()


def test_typing_the_code_when_the_camera_fails(
    live_server: LiveServer, phone: Any, business: Any
) -> None:
    api = Api(live_server.app.test_client(), business.api_key)
    batch = api.batch()
    api.issue(batch["id"], 1)
    short = api.verify(api.stamp_urls(batch["id"])[0])["stamp"]["short_code"]

    phone.goto(live_server.url + "/")
    phone.get_by_label("Mã in dưới mã QR").fill(short.lower())
    phone.get_by_role("button", name="Kiểm tra").click()
    assert phone.locator("main").get_attribute("data-status") == "genuine"
    assert phone.locator(".short-code").inner_text() == short


def test_the_demo_tea_chain_reads_as_a_timeline_on_a_phone(
    live_server: LiveServer, phone: Any
) -> None:
    """Grower → processor → retailer: the shopper at the shop sees all three, in order."""
    from datetime import UTC, datetime

    from traceqr.services.demo import load_demo_chain
    from traceqr.state import AppState

    state = AppState.of(live_server.app)
    with state.database.session() as session:
        url = load_demo_chain(session, state.keystore, live_server.url, datetime.now(UTC))
        session.commit()

    phone.goto(url)
    assert phone.locator("main").get_attribute("data-status") == "genuine"
    journey = phone.locator("section.journey")
    journey.scroll_into_view_if_needed()
    assert journey.is_visible()
    steps = journey.locator(".timeline-step")
    assert steps.count() == 8
    names = [steps.nth(i).locator(".step-by").inner_text() for i in range(steps.count())]
    assert names[0] == "HTX Chè Tân Cương" and names[-1] == "Siêu thị Thăng Long Mart"
    assert "Chè Hà Nội Sóc Sơn" in names
    # Each step is its own readable line on a 360 px screen, nothing spills sideways.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    first, last = steps.nth(0).bounding_box(), steps.nth(7).bounding_box()
    assert first is not None and last is not None and last["y"] > first["y"]
