"""Stamp format version 2 end to end: a batch whose stamps are GS1 Digital Links — issued,
exported, printed, scanned at the service, typed as a short code, claimed with a PIN,
verified offline — and the service resolving plain GS1 links to products."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from tests.conftest import PUBLIC_URL, Api
from tests.sheet_reading import read_sheet
from traceqr.cli import main
from traceqr.domain.digital_link import parse_digital_link
from traceqr.domain.qr import qr_matrix
from traceqr.domain.sheet import SheetLayout, fit_stamp_size
from traceqr.domain.stamp_format import parse_serial
from traceqr.state import AppState

GTIN13 = "8934567890120"
GTIN14 = "08934567890120"


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@pytest.fixture
def v2_batch(api: Api) -> dict[str, Any]:
    product = api.product(name="Chè Thái Nguyên hộp 200 g", gtin=GTIN13)
    return api.batch(product["id"], lot="CHN-2611/A", stamp_format=2)


def test_v2_stamps_are_gs1_digital_links_that_verify(
    api: Api, client: FlaskClient, v2_batch: dict
) -> None:
    assert v2_batch["stamp_format"] == 2
    api.issue(v2_batch["id"], 3)
    urls = api.stamp_urls(v2_batch["id"])
    assert len(set(urls)) == 3
    for url in urls:
        link = parse_digital_link(url)  # a valid GS1 Digital Link URI
        assert link.gtin == GTIN14
        assert link.qualifier("10") == "CHN-2611/A"
        assert url.upper().startswith(f"{PUBLIC_URL.upper()}/01/{GTIN14}/10/CHN-2611%2FA/21/")
        assert re.search(r"\?K=[0-9A-F]{8}&S=[A-Z2-7]{103}$", url)

    result = api.verify(urls[0])
    assert result["status"] == "genuine"
    assert result["stamp"]["format_version"] == 2
    assert result["product"]["gtin"] == GTIN14
    assert result["batch"]["lot"] == "CHN-2611/A"

    # The QR opens the stamp page at the service.
    html = client.get(path_of(urls[1]) + "&lang=vi").get_data(as_text=True)
    assert html.count("<main") == 1 and 'data-status="genuine"' in html
    assert "Chè Thái Nguyên hộp 200 g" in html

    # The same stamp in another spelling GS1 allows (GTIN-13, lower-case host, extra
    # parameters a resolver adds) is the same stamp.
    respelled = (
        urls[2]
        .replace(f"/01/{GTIN14}/", f"/01/{GTIN13}/")
        .replace(PUBLIC_URL.upper(), PUBLIC_URL.lower())
        + "&linkType=gs1:pip"
    )
    again = api.verify(respelled)
    assert again["status"] == "genuine"
    canonical = api.verify(urls[2])
    assert again["stamp"]["serial"] == canonical["stamp"]["serial"]
    assert canonical["scans"]["count"] == 2  # one stamp, counted across spellings


@pytest.mark.parametrize(
    ("change", "status"),
    [
        (lambda url: url.replace("/10/CHN-2611%2FA/", "/10/CHN-2611%2FB/"), "invalid"),  # lot
        (lambda url: url.replace(f"/01/{GTIN14}/", "/01/08934567890137/"), "invalid"),  # GTIN
        (
            lambda url: url.replace("https://traceqr.example.vn", "https://id.gs1.org", 1).replace(
                "HTTPS://TRACEQR.EXAMPLE.VN", "https://id.gs1.org"
            ),
            "invalid",
        ),
        (lambda url: url.split("&S=")[0], "invalid"),  # no signature
        (lambda url: url + "&17=271130", "invalid"),  # an unsigned expiry date added
    ],
)
def test_an_altered_v2_stamp_is_invalid(api: Api, v2_batch: dict, change: Any, status: str) -> None:
    api.issue(v2_batch["id"], 1)
    (url,) = api.stamp_urls(v2_batch["id"])
    altered = change(url)
    assert altered != url
    assert api.verify(altered)["status"] == status


def test_a_v2_batch_needs_a_gtin_and_then_keeps_it(api: Api) -> None:
    product = api.product(name="Không mã vạch")
    response = api.post(f"/products/{product['id']}/batches", {"lot": "A1", "stamp_format": 2})
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "stamp_format"

    with_gtin = api.product(name="Có mã vạch", gtin=GTIN13)
    batch = api.batch(with_gtin["id"], lot="A1", stamp_format=2)
    api.issue(batch["id"], 1)
    state_url = api.stamp_urls(batch["id"])[0]
    assert api.verify(state_url)["status"] == "genuine"


def test_a_typed_short_code_finds_a_v2_stamp(api: Api, client: FlaskClient, v2_batch: dict) -> None:
    api.issue(v2_batch["id"], 1)
    (url,) = api.stamp_urls(v2_batch["id"])
    short = api.verify(url)["stamp"]["short_code"]
    html = client.get("/verify", query_string={"code": short.lower(), "lang": "en"}).get_data(
        as_text=True
    )
    assert 'data-status="genuine"' in html
    assert "Chè Thái Nguyên hộp 200 g" in html


def test_the_first_buyer_claims_a_v2_stamp_with_its_pin(
    api: Api, client: FlaskClient, state: AppState
) -> None:
    product = api.product(name="Rượu táo mèo", gtin=GTIN13)
    batch = api.batch(product["id"], lot="TM-1", stamp_format=2, with_pin=True)
    api.issue(batch["id"], 1)
    (url,) = api.stamp_urls(batch["id"])
    page = client.get(path_of(url) + "&lang=en").get_data(as_text=True)
    form = re.search(r'<form method="post" action="(/stamp/claim)".*?</form>', page, re.S)
    assert form is not None, page
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form.group(0))
    stamp_field = re.search(r'name="stamp" value="([^"]+)"', form.group(0))
    assert token is not None and stamp_field is not None
    action = (form.group(1), token.group(1), stamp_field.group(1))
    path, token, stamp_text = action
    assert path == "/stamp/claim"
    serial = parse_serial(api.verify(url)["stamp"]["serial"])
    pin = state.pins.pin_for(serial)
    response = client.post(
        path + "?lang=en",
        data={
            "csrf_token": token,
            "stamp": stamp_text.replace("&amp;", "&"),
            "pin": pin,
        },
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200, body[:2000]
    assert "first buyer" in body
    assert api.verify(url)["stamp"]["claimed_at"] is not None


def test_a_v2_sheet_prints_each_digital_link_once(api: Api, v2_batch: dict) -> None:
    api.issue(v2_batch["id"], 12)
    urls = api.stamp_urls(v2_batch["id"])
    # The denser QR gets a stamp just big enough to keep 0.4 mm modules.
    layout = fit_stamp_size(SheetLayout(), urls[0])
    assert layout.stamp_mm > SheetLayout().stamp_mm
    assert layout.module_mm(qr_matrix(urls[0], layout.ecc).size) >= 0.4
    response = api.get(f"/batches/{v2_batch['id']}/sheet.pdf")
    assert response.status_code == 200
    cells = read_sheet(response.get_data(), layout)
    assert [texts for texts in cells] == [[url] for url in urls]


def test_a_v2_stamp_verifies_offline_from_the_published_keys(
    api: Api, client: FlaskClient, v2_batch: dict, tmp_path: Path
) -> None:
    api.issue(v2_batch["id"], 1)
    (url,) = api.stamp_urls(v2_batch["id"])
    keys = tmp_path / "jwks.json"
    keys.write_bytes(client.get("/.well-known/jwks.json").get_data())
    result = CliRunner().invoke(main, ["verify", url, "--keys", str(keys), "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["valid"] is True and answer["format_version"] == 2
    assert (answer["gtin"], answer["lot"]) == (GTIN14, "CHN-2611/A")
    tampered = url.replace("CHN-2611%2FA", "CHN-2611%2FZ")
    assert CliRunner().invoke(main, ["verify", tampered, "--keys", str(keys)]).exit_code == 1


def test_a_plain_gs1_link_resolves_to_the_product_and_its_lot(
    api: Api, client: FlaskClient, v2_batch: dict
) -> None:
    api.post(
        f"/batches/{v2_batch['id']}/events",
        {"biz_step": "packing", "event_time": "2026-11-02T08:00:00+07:00"},
    )
    page = client.get(f"/01/{GTIN14}/10/CHN-2611%2FA?lang=vi")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-page="product-link"' in html and "data-status" not in html
    assert "Chè Thái Nguyên hộp 200 g" in html and "CHN-2611/A" in html
    assert 'data-step="packing"' in html
    assert client.get(f"/01/{GTIN13}").status_code == 200  # GTIN-13, no lot
    short_names = client.get(f"/gtin/{GTIN14}/lot/CHN-2611%2FA").get_data(as_text=True)
    assert 'data-step="packing"' in short_names  # Digital Link 1.0 short names
    assert client.get("/01/08934567890137").status_code == 404  # nobody registered it
    assert client.get("/01/08934567890121").status_code == 404  # bad check digit
