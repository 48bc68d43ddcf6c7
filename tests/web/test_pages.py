"""Public pages: what a shopper sees after scanning, in Vietnamese and English."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import Api


class PageFacts(HTMLParser):
    """The bits of a page the contract pins: <html lang> and <main data-status>."""

    def __init__(self) -> None:
        super().__init__()
        self.html_lang: str | None = None
        self.mains: list[dict[str, str | None]] = []
        self.scripts_inline = 0
        self.text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "html":
            self.html_lang = attributes.get("lang")
        elif tag == "main":
            self.mains.append(attributes)
        elif tag == "script":
            self._in_script = True
            if "src" not in attributes:
                self.scripts_inline += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if not self._in_script:
            self.text.append(data)

    @property
    def status(self) -> str | None:
        assert len(self.mains) == 1, "exactly one <main>"
        return self.mains[0].get("data-status")

    @property
    def words(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.text))


def page(client: FlaskClient, url: str, **headers: str) -> tuple[Any, PageFacts]:
    path = re.sub(r"^https?://[^/]+", "", url, flags=re.IGNORECASE)
    response = client.get(path, headers=headers)
    facts = PageFacts()
    facts.feed(response.get_data(as_text=True))
    return response, facts


@pytest.fixture
def issued(api: Api) -> dict[str, Any]:
    product = api.product(
        name="Bình hút lộc men rạn", gtin="8934588012228", origin="Việt Nam", brand="Hưng Thịnh"
    )
    batch = api.batch(
        product["id"], lot="BT-2611-A", production_date="2026-11-02", expiry_date="2031-11"
    )
    api.issue(batch["id"], 5)
    return {"product": product, "batch": batch, "urls": api.stamp_urls(batch["id"])}


def test_a_genuine_stamp_page_shows_product_producer_batch_and_dates(
    client: FlaskClient, issued: dict[str, Any]
) -> None:
    response, facts = page(client, issued["urls"][0])
    assert response.status_code == 200
    assert facts.status == "genuine"
    assert facts.html_lang == "vi"
    words = facts.words
    assert "Sản phẩm chính hãng" in words
    assert "Bình hút lộc men rạn" in words
    assert "Gốm sứ Bát Tràng Test" in words
    assert "Số 1 Giang Cao, Xã Bát Tràng, Thành phố Hà Nội" in words
    assert "BT-2611-A" in words
    assert "02/11/2026" in words  # NSX as dd/mm/yyyy
    assert "30/11/2031" in words  # HSD given as a month: its last day
    assert "lần đầu" in words.lower()


def test_the_page_counts_checks_and_remembers_the_first(
    client: FlaskClient, issued: dict[str, Any]
) -> None:
    url = issued["urls"][1]
    _, first = page(client, url)
    assert "lần đầu tiên" in first.words  # "the first time this stamp has been checked"
    page(client, url)
    _, third = page(client, url, **{"Accept-Language": "en"})
    assert "checked 3 times" in third.words
    assert "First check:" in third.words


@pytest.mark.parametrize(
    ("accept", "query", "lang", "headline"),
    [
        (None, "", "vi", "Sản phẩm chính hãng"),
        ("en-US,en;q=0.9", "", "en", "Genuine product"),
        ("fr-FR", "", "vi", "Sản phẩm chính hãng"),
        ("en", "?lang=vi", "vi", "Sản phẩm chính hãng"),
        ("vi", "?lang=en", "en", "Genuine product"),
        ("vi", "?lang=de", "vi", "Sản phẩm chính hãng"),
    ],
)
def test_language_follows_the_query_then_the_browser_then_vietnamese(
    client: FlaskClient,
    issued: dict[str, Any],
    accept: str | None,
    query: str,
    lang: str,
    headline: str,
) -> None:
    headers = {"Accept-Language": accept} if accept else {}
    _, facts = page(client, issued["urls"][2] + query, **headers)
    assert facts.html_lang == lang
    assert headline in facts.words


def test_a_forced_language_inside_a_page_is_honoured_and_undone(app: Any) -> None:
    """Messages come from a cached catalogue per language; a block that forces another
    language (a PDF report in English from a Vietnamese page) must get that language, and
    the page its own again after."""
    from flask_babel import force_locale

    from traceqr.web.i18n import gettext, lazy_gettext, ngettext

    headline = lazy_gettext("Genuine product")
    with app.test_request_context("/", headers={"Accept-Language": "vi"}):
        assert gettext("Genuine product") == "Sản phẩm chính hãng"
        with force_locale("en"):
            assert gettext("Genuine product") == str(headline) == "Genuine product"
        assert str(headline) == "Sản phẩm chính hãng"
    with app.test_request_context("/?lang=en"):
        assert gettext("Genuine product") == "Genuine product"
        message = "%(num)s inspector case about these businesses is still open."
        plural = "%(num)s inspector cases about these businesses are still open."
        assert ngettext(message, plural, 2) == plural % {"num": 2}


def test_every_verdict_has_its_page(client: FlaskClient, api: Api, issued: dict[str, Any]) -> None:
    urls = issued["urls"]
    serial = api.verify(urls[3])["stamp"]["serial"]
    api.post(f"/stamps/{serial}/revoke", {"reason": "Tem bị mất cắp"})
    _, revoked = page(client, urls[3])
    assert revoked.status == "revoked"
    assert "Tem bị mất cắp" in revoked.words

    _, invalid = page(client, urls[4][:-1] + ("A" if urls[4][-1] != "A" else "Q"))
    assert invalid.status == "invalid"
    assert "Không phải tem chính hãng" in invalid.words

    api.post(f"/batches/{issued['batch']['id']}/recall", {"reason": "Men chứa chì vượt ngưỡng"})
    _, recalled = page(client, urls[0])
    assert recalled.status == "recalled"
    assert "Men chứa chì vượt ngưỡng" in recalled.words


@pytest.mark.parametrize(
    "path",
    [
        "/S/",
        "/S/x",
        "/S/" + "A" * 127,
        "/s/%00%01",
        "/S/<script>alert(1)</script>",
        "/S/" + "é" * 300,
    ],
)
def test_any_code_gets_a_page_that_says_invalid(client: FlaskClient, path: str) -> None:
    response, facts = page(client, path)
    if path == "/S/":
        assert response.status_code == 404
        return
    assert response.status_code == 200
    assert facts.status == "invalid"
    assert "<script>alert" not in response.get_data(as_text=True)


def test_typing_the_short_code_checks_the_stamp(
    client: FlaskClient, api: Api, issued: dict[str, Any]
) -> None:
    short = api.verify(issued["urls"][0])["stamp"]["short_code"]
    _, facts = page(client, "/verify?code=" + short.lower().replace("-", " "))
    assert facts.status == "genuine"
    # One typo is reported as a typing mistake, not as a fake.
    typo = ("1" if short[0] != "1" else "2") + short[1:]
    _, mistyped = page(client, "/verify?code=" + typo)
    assert mistyped.status == "invalid"
    assert "nhập sai" in mistyped.words


def test_the_home_page_offers_the_code_form(client: FlaskClient) -> None:
    response, facts = page(client, "/")
    assert response.status_code == 200
    assert "Kiểm tra" in facts.words
    _, empty = page(client, "/verify?code=")
    assert "Nhập mã in dưới mã QR" in empty.words


def test_pages_carry_security_headers_and_no_inline_script(
    client: FlaskClient, issued: dict[str, Any]
) -> None:
    response, facts = page(client, issued["urls"][0])
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert facts.scripts_inline == 0


def test_unknown_pages_are_a_friendly_404(client: FlaskClient) -> None:
    response, facts = page(client, "/no/such/page")
    assert response.status_code == 404
    assert "Không tìm thấy trang" in facts.words


def test_healthz_answers_when_the_database_does(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"


def test_healthz_says_503_when_the_database_is_unreachable(make_app: Any, tmp_path: Any) -> None:
    app = make_app(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "unavailable"


def test_healthz_says_503_when_the_schema_was_never_created(make_app: Any, tmp_path: Any) -> None:
    # A database that answers but holds no tables: the service must not be put in rotation.
    app = make_app(database_url=f"sqlite:///{tmp_path}/empty.sqlite3")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {
        "status": "unavailable",
        "database": "schema missing: run traceqr init",
    }


def test_jwks_lists_every_public_key_with_caching(client: FlaskClient, business: Any) -> None:
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    document = response.get_json(force=True)
    assert [key["kid"] for key in document["keys"]] == [business.signing_key.kid.hex()]
    for key in document["keys"]:
        assert key["kty"] == "OKP" and key["crv"] == "Ed25519"
        assert "d" not in key
    etag = response.headers["ETag"]
    again = client.get("/.well-known/jwks.json", headers={"If-None-Match": etag})
    assert again.status_code == 304
