from typing import Any
from tests.browser.test_offline_verifier import *  # noqa


def test_shot(live_server, offline_page, business):
    page = offline_page
    url = issue_stamps(live_server, business)[0]
    install_and_go_offline(page, live_server)
    check_text(page, url)
    print("scrollWidth", page.evaluate("document.documentElement.scrollWidth"))
    page.screenshot(path="/tmp/offline_valid.png", full_page=True)
    check_text(page, change_char(url, 60))
    page.screenshot(path="/tmp/offline_bad.png", full_page=True)
    check_text(page, url.replace(live_server.url.upper(), "HTTPS://TRACEQR.EVIL.EXAMPLE"))
    page.screenshot(path="/tmp/offline_foreign.png", full_page=True)
