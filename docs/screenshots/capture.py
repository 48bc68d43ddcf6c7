"""Take the README's screenshots from a running demo, desktop and phone.

    .venv/bin/python docs/screenshots/capture.py

Needs Debian's Chromium (/usr/bin/chromium). Builds a throw-away instance with the demo
data, serves it on a free port, signs in as the demo business and saves PNGs here.
"""

from __future__ import annotations

import socket
import sys
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path

from playwright.sync_api import sync_playwright
from sqlalchemy import select
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.browser.conftest import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402
from traceqr import create_app  # noqa: E402
from traceqr.db import upgrade_schema  # noqa: E402
from traceqr.models import Batch, Stamp  # noqa: E402
from traceqr.services.demo import load_demo, simulate_demo_scans  # noqa: E402
from traceqr.services.stamps import iter_batch_stamps  # noqa: E402
from traceqr.state import AppState  # noqa: E402

OUT = Path(__file__).resolve().parent


def main() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    instance = tempfile.mkdtemp(prefix="traceqr-shots-")
    app = create_app({"instance_path": instance, "public_url": base, "rate_limits_enabled": False})
    state = AppState.of(app)
    upgrade_schema(state.database)
    now = datetime.now(UTC)
    with state.database.session() as session:
        credentials, _ = load_demo(session, state.keystore, Path(instance), base, now)
    with state.database.session() as session:
        simulate_demo_scans(session, state.verifier, base, now, credentials.stamp_url)
    with state.database.session() as session:
        batches = session.scalars(select(Batch).order_by(Batch.id)).all()
        recalled = next(b for b in batches if b.recalled_at is not None)
        recalled_url = next(iter_batch_stamps(session, recalled, base)).url
        copied_id = session.scalar(select(Stamp.id).order_by(Stamp.scan_count.desc()).limit(1))
        copied_batch = session.get(Batch, session.get(Stamp, copied_id).batch_id)  # type: ignore[union-attr]
        copied_url = next(
            s.url
            for s in iter_batch_stamps(session, copied_batch, base)
            if s.seq == session.get(Stamp, copied_id).seq  # type: ignore[union-attr]
        )
        first_batch_id = batches[0].id
        first_product_id = batches[0].product_id

    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            phone = browser.new_context(
                viewport={"width": 360, "height": 780},
                device_scale_factor=2,
                is_mobile=True,
                locale="vi-VN",
            )
            page = phone.new_page()
            page.goto(credentials.stamp_url)
            page.screenshot(path=OUT / "phone-stamp-genuine-vi.png", full_page=True)
            page.goto(copied_url + "?lang=en")
            page.screenshot(path=OUT / "phone-stamp-suspicious-en.png", full_page=True)
            page.goto(recalled_url)
            page.screenshot(path=OUT / "phone-stamp-recalled-vi.png", full_page=True)
            page.goto(base + "/S/NOTASTAMP")
            page.screenshot(path=OUT / "phone-stamp-invalid-vi.png", full_page=True)
            page.goto(credentials.chain_stamp_url)
            page.locator("section.journey").screenshot(path=OUT / "phone-stamp-journey-vi.png")

            desktop = browser.new_context(viewport={"width": 1280, "height": 860}, locale="vi-VN")
            page = desktop.new_page()
            page.goto(base + "/portal/login")
            page.screenshot(path=OUT / "desktop-login-vi.png")
            page.fill("#email", credentials.login_email)
            page.fill("#password", credentials.login_password)
            page.locator("form button[type=submit]").click()
            page.screenshot(path=OUT / "desktop-dashboard-vi.png", full_page=True)
            page.goto(f"{base}/portal/products/{first_product_id}")
            page.screenshot(path=OUT / "desktop-product-vi.png", full_page=True)
            page.goto(f"{base}/portal/batches/{first_batch_id}?lang=en")
            page.screenshot(path=OUT / "desktop-batch-en.png", full_page=True)
            page.goto(
                f"{base}/portal/batches/{first_batch_id}/sheet?lang=vi&page=A4&stamp_mm=30&ecc=Q"
                "&margin_mm=8&gap_mm=2&side=text&side_text=G%E1%BB%91m+s%E1%BB%A9+B%C3%A1t+Tr%C3%A0ng"
            )
            page.wait_for_function("() => document.getElementById('sheet-preview').complete")
            page.screenshot(path=OUT / "desktop-sheet-designer-vi.png", full_page=True)

            mobile_portal = browser.new_context(
                viewport={"width": 360, "height": 780},
                device_scale_factor=2,
                is_mobile=True,
                locale="vi-VN",
            )
            page = mobile_portal.new_page()
            page.goto(base + "/portal/login")
            page.fill("#email", credentials.login_email)
            page.fill("#password", credentials.login_password)
            page.locator("form button[type=submit]").click()
            page.screenshot(path=OUT / "phone-dashboard-vi.png", full_page=True)
            page.goto(f"{base}/portal/batches/{first_batch_id}")
            page.screenshot(path=OUT / "phone-batch-vi.png", full_page=True)
            browser.close()
    finally:
        server.shutdown()
        state.jobs.shutdown()
        state.database.dispose()
    print("\n".join(sorted(p.name for p in OUT.glob("*.png"))))


if __name__ == "__main__":
    main()
