"""Browser tests: a real server on a free port and Debian's Chromium driven by Playwright.

Chromium comes from the system (`apt-get install chromium`), never from `playwright
install`. Without it these tests are skipped, unless TRACEQR_REQUIRE_BROWSER=1 (CI), where
a missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

CHROMIUM = os.environ.get("TRACEQR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {
    "viewport": {"width": 360, "height": 780},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "vi-VN",  # a phone set to Vietnamese
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        if os.environ.get("TRACEQR_REQUIRE_BROWSER") == "1":
            pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium")
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@dataclass
class LiveServer:
    url: str
    app: Flask


@pytest.fixture
def live_server(make_app: Any) -> Iterator[LiveServer]:
    """The app served over real HTTP; its public URL is its own address, so stamps link here."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    app = make_app(public_url=url)
    server = make_server("127.0.0.1", port, app, threaded=True)
    server.daemon_threads = False  # so the request threads are tracked (socketserver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield LiveServer(url, app)
    server.shutdown()
    thread.join(timeout=5)
    # The browser is closed by now, but a request it made last (a service worker's fetch,
    # a manifest) may still be running, holding a database connection: let it finish
    # before the app's engine is disposed, or that connection outlives its pool.
    deadline = time.monotonic() + 10
    for request_thread in list(getattr(server, "_threads", None) or ()):
        request_thread.join(timeout=max(0.0, deadline - time.monotonic()))
    server.socket.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    context = browser.new_context(**PHONE)
    page = context.new_page()
    yield page
    context.close()
