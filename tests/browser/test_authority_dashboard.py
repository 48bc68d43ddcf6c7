"""The Department of Industry and Trade's dashboard in a real browser, on the demo data:
charts drawn, clusters ranked, a hot spot followed to the stamps behind it, exports saved."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from playwright.sync_api import expect
from pypdf import PdfReader

from tests.browser.conftest import LiveServer
from traceqr.services.demo import DEMO_PASSWORD, load_demo, simulate_demo_scans
from traceqr.services.demo_authority import AUTHORITY_EMAIL
from traceqr.state import AppState


def test_the_authority_reads_adoption_and_follows_a_hot_spot(
    live_server: LiveServer, browser: Any, tmp_path: Path
) -> None:
    state = AppState.of(live_server.app)
    now = datetime.now(UTC)
    with state.database.session() as session:
        credentials, _ = load_demo(
            session, state.keystore, state.settings.instance_path, live_server.url, now
        )
    with state.database.session() as session:
        simulate_demo_scans(
            session,
            state.verifier,
            live_server.url,
            now,
            credentials.stamp_url,
            keystore=state.keystore,
        )
    assert credentials.authority_login == AUTHORITY_EMAIL

    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="en-GB", accept_downloads=True
    )
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    base = live_server.url

    page.goto(base + "/authority/p/ha-noi")  # sends to the sign-in page, then back
    page.fill("#email", AUTHORITY_EMAIL)
    page.fill("#password", DEMO_PASSWORD)
    page.locator("form button[type=submit]").click()
    expect(page.locator("h1")).to_have_text("Thành phố Hà Nội")

    # Figures and charts: bars drawn from the demo's checks, with a tooltip each.
    assert int(page.locator(".stat-value").first.inner_text()) >= 10
    bars = page.locator("svg.achart rect.achart__bar")
    assert bars.count() > 30
    assert page.locator("svg.achart rect.achart__bar--2").count() > 0  # warnings stacked on top
    box = page.locator("svg.achart").first.bounding_box()
    assert box is not None and box["width"] > 600

    # The ranking: the register's clusters, those whose businesses all use stamps first.
    ranking = page.locator('[data-table="clusters"] tbody tr')
    assert ranking.count() >= 8
    assert ranking.first.locator("td").nth(8).inner_text() == "100 %"
    names = page.locator('[data-table="clusters"] tbody td:nth-child(2)').all_inner_texts()
    assert "Cụm công nghiệp Kiêu Kỵ" in names and "Cụm công nghiệp làng nghề Bát Tràng" in names

    with page.expect_download() as download:
        page.locator('[data-table="communes"] a[download]').click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text("utf-8-sig"))))
    assert {"Xã Bát Tràng", "Xã Kiêu Kỵ", "Xã Phú Túc"} <= {r["Commune or ward"] for r in rows}

    with page.expect_download() as download:
        page.get_by_role("link", name="PDF report").click()
    pdf = PdfReader(download.value.path())
    text = " ".join(" ".join(p.extract_text() for p in pdf.pages).split())
    assert "Businesses registered" in text and "Cụm công nghiệp Kiêu Kỵ" in text

    # A cluster's own dashboard lists its businesses, adopters or not.
    page.get_by_role("link", name="Cụm công nghiệp làng nghề Bát Tràng").click()
    page.wait_for_url("**/authority/clusters/**")
    businesses = page.locator('[data-table="businesses"] tbody td:first-child').all_inner_texts()
    assert "Gốm Đức Hạnh" in businesses and "Gốm Minh Ngọc Bát Tràng" in businesses

    # Hot spots: the copied gold-leaf stamp, followed to its inspector dossier link.
    page.get_by_role("link", name="Counterfeit hot spots").first.click()
    page.wait_for_url("**/hot-spots**")
    producers = page.locator('[data-table="clusters"] tbody tr', has_text="Kiêu Kỵ")
    producers.locator("td").nth(2).locator("a").click()  # its suspicious checks
    expect(page.locator("h1")).to_have_text("Behind the figures")
    stamps = page.locator('[data-table="stamps"] tbody tr')
    assert stamps.count() >= 1
    assert "Vàng quỳ" in stamps.first.inner_text()
    dossier = stamps.first.locator("a").first.get_attribute("href") or ""
    assert dossier.startswith("/inspect/stamp?code=")
    assert page.locator("text=Vàng quỳ Kiêu Kỵ giả tại chợ cửa khẩu").count() == 1  # the case

    assert problems == []  # no CSP violation, no script error
    context.close()
