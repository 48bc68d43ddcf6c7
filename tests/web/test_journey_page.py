"""The stamp page tells the batch's journey: the demo's tea went from a grower to a
processor to a shop, and a shopper at the shop sees all three."""

from __future__ import annotations

import re
from datetime import datetime
from html import unescape

from flask.testing import FlaskClient

from tests.conftest import Api
from traceqr.services.demo import load_demo_chain
from traceqr.state import AppState


def page_text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def journey_html(html: str) -> str:
    start = html.index('<section class="card journey"')
    return html[start : html.index("</section>", start)]


def demo_chain_stamp(state: AppState, now: datetime) -> str:
    with state.database.session() as session:
        url = load_demo_chain(session, state.keystore, state.settings.public_url, now)
        session.commit()
    return url.split("/S/", 1)[1]


def test_the_retailers_stamp_page_shows_grower_processor_and_retailer(
    client: FlaskClient, state: AppState, now: datetime
) -> None:
    code = demo_chain_stamp(state, now)
    html = client.get(f"/S/{code}?lang=vi").get_data(as_text=True)
    assert 'data-status="genuine"' in html
    journey = journey_html(html)
    steps = re.findall(r'data-step="([a-z_]+)"', journey)
    # The tea leaves (one level down), then the packed tea itself.
    assert steps == [
        "commissioning",
        "shipping",
        "receiving",
        "transforming",
        "packing",
        "shipping",
        "receiving",
        "retail_selling",
    ]
    text = page_text(journey)
    assert "Hành trình của lô hàng" in text
    for business in ("HTX Chè Tân Cương", "Chè Hà Nội Sóc Sơn", "Siêu thị Thăng Long Mart"):
        assert business in text
    assert "Nguyên liệu: Chè búp tươi Tân Cương, lô TC-2611-05" in text
    assert (
        "Thu hoạch hoặc sản xuất" in text and "Chế biến" in text and "Đang bán tại cửa hàng" in text
    )
    assert "Đồi chè Tân Cương" in text and "Thái Nguyên" in text
    assert "Đến: Siêu thị Thăng Long Mart" in text
    assert "500 kg" in text
    assert re.search(r"\d\d:\d\d \d\d/\d\d/\d{4}", text)

    english = page_text(journey_html(client.get(f"/S/{code}?lang=en").get_data(as_text=True)))
    assert "Journey of this batch" in english
    assert "Harvested or produced" in english and "On sale at the shop" in english
    assert "To: Siêu thị Thăng Long Mart" in english


def test_a_batch_with_no_recorded_steps_shows_no_journey(client: FlaskClient, api: Api) -> None:
    batch = api.batch()
    api.issue(batch["id"], 1)
    (url,) = api.stamp_urls(batch["id"])
    html = client.get("/S/" + url.split("/S/", 1)[1]).get_data(as_text=True)
    assert 'data-status="genuine"' in html
    assert "journey" not in html


def test_an_event_in_another_time_zone_shows_its_own_clock(client: FlaskClient, api: Api) -> None:
    batch = api.batch()
    api.post(
        f"/batches/{batch['id']}/events",
        {
            "biz_step": "arriving",
            "event_time": "2026-11-03T09:15:00+09:00",
            "place": "Cảng Osaka <b>",
        },
    )
    api.issue(batch["id"], 1)
    (url,) = api.stamp_urls(batch["id"])
    html = client.get("/S/" + url.split("/S/", 1)[1] + "?lang=en").get_data(as_text=True)
    journey = journey_html(html)
    assert "09:15 03/11/2026 (UTC+09:00)" in page_text(journey)
    assert "Cảng Osaka &lt;b&gt;" in journey  # escaped
