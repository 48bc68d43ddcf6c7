"""The offline verifier in a real browser: installed once online, then used with the
network cut — paste, photo and camera — and its JavaScript checked against the test
vectors of the stamp format (tests/vectors/stamp-v1.json, stamp-v2.json) and, for
version 2, against the Python reference on many more texts."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from PIL import Image

from tests.browser.conftest import CHROMIUM, CHROMIUM_FLAGS, PHONE, LiveServer
from tests.conftest import Api
from traceqr.domain.codec import base32_encode
from traceqr.domain.qr import QUIET_ZONE_MODULES, png_bytes, qr_matrix
from traceqr.domain.stamp_format import (
    StampFormatError,
    decode_code,
    extract_code,
    issue_v2,
    parse_scanned_text,
    serial_text,
    short_code,
)
from traceqr.services.businesses import NewBusiness
from traceqr.state import AppState

VECTOR_DIR = Path(__file__).resolve().parent.parent / "vectors"
VECTORS = json.loads((VECTOR_DIR / "stamp-v1.json").read_text("utf-8"))
VECTORS_V2 = json.loads((VECTOR_DIR / "stamp-v2.json").read_text("utf-8"))
PAGE = "/inspect/offline/"
# The group order of Ed25519: adding it to a signature's S gives the same point, a
# non-canonical signature that RFC 8032 verifiers must refuse.
ORDER_L = 2**252 + 27742317777372353535851937790883648493


@pytest.fixture
def offline_page(browser: Any) -> Iterator[Any]:
    """A phone page that records script errors (CSP violations included)."""
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    page.on(
        "console",
        lambda message: page.problems.append(message.text) if message.type == "error" else None,
    )
    yield page
    context.close()


def issue_stamps(live_server: LiveServer, business: Any, count: int = 1) -> list[str]:
    api = Api(live_server.app.test_client(), business.api_key)
    batch = api.batch()
    api.issue(batch["id"], count)
    return api.stamp_urls(batch["id"])


def install_and_go_offline(page: Any, live_server: LiveServer) -> None:
    """First visit online, wait until the worker has saved everything, cut the network,
    reload: the page must come back from the worker."""
    page.goto(live_server.url + PAGE)
    page.wait_for_selector("#offline[data-offline-ready='true']", timeout=20_000)
    assert page.get_attribute("#offline", "data-keys") in ("network", "cache")
    page.context.set_offline(True)
    response = page.reload()
    assert response is not None and response.from_service_worker
    page.wait_for_selector("#offline[data-started='true']", timeout=10_000)
    assert page.evaluate("navigator.onLine") is False
    assert page.evaluate("navigator.serviceWorker.controller !== null")
    # The key set comes from the worker's cache, with the time it was fetched.
    assert page.get_attribute("#offline", "data-keys") == "cache"
    assert page.get_attribute("#offline", "data-keys-fetched-at")
    assert int(page.get_attribute("#offline", "data-keys-count")) >= 1


def checks_shown(page: Any) -> int:
    return int(page.get_attribute("#offline-result", "data-checks") or 0)


def check_text(page: Any, text: str) -> dict[str, Any]:
    before = checks_shown(page)
    page.fill("#offline-text", text)
    page.click("#offline-check")
    return read_result(page, before)


def read_result(page: Any, before: int = 0) -> dict[str, Any]:
    """The result shown after the ``before``-th one (the check runs asynchronously)."""
    page.wait_for_selector(f"#offline-result[data-checks='{before + 1}']", state="visible")
    result = page.locator("#offline-result")
    return {
        "result": result.get_attribute("data-result"),
        "reason": result.get_attribute("data-reason"),
        "host": result.get_attribute("data-host"),
        "foreign": result.get_attribute("data-foreign"),
        "business": page.inner_text("#offline-business"),
        "short_code": page.inner_text("#offline-short-code"),
        "kid": page.inner_text("#offline-kid"),
        "gtin": page.text_content("#offline-gtin") if page.is_visible("#offline-gtin") else None,
        "lot": page.text_content("#offline-lot") if page.is_visible("#offline-lot") else None,
        "title": page.inner_text("#offline-verdict-title"),
        "reason_text": page.inner_text("#offline-verdict-reason"),
    }


def change_char(code_url: str, index: int) -> str:
    """The URL with one character of its code replaced by another of the alphabet."""
    prefix, code = code_url.rsplit("/S/", 1)
    old = code[index]
    new = "B" if old != "B" else "C"
    return f"{prefix}/S/{code[:index]}{new}{code[index + 1 :]}"


def test_the_offline_verifier_checks_stamps_with_the_network_cut(
    live_server: LiveServer, offline_page: Any, business: Any
) -> None:
    page = offline_page
    url = issue_stamps(live_server, business)[0]
    install_and_go_offline(page, live_server)

    genuine = check_text(page, url)
    assert genuine["result"] == "valid", genuine
    assert genuine["business"] == "Gốm sứ Bát Tràng Test"
    assert genuine["host"] == live_server.url.removeprefix("http://")
    assert genuine["foreign"] == "false"
    stamp = decode_code(extract_code(url, None))
    assert genuine["kid"] == stamp.kid.hex()
    assert (
        genuine["short_code"]
        == Api(live_server.app.test_client(), business.api_key).verify(url)["stamp"]["short_code"]
    )
    assert page.is_visible("#offline-limits")  # issuance only: not copies, not revocations
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # fits a phone

    # One base32 character changed in the signature, in the kid, in the unused last bits.
    assert check_text(page, change_char(url, 60))["reason"] == "bad_signature"
    assert check_text(page, change_char(url, 3))["reason"] == "unknown_key"
    last = url[:-1] + {"A": "B", "Q": "R"}.get(url[-1], "B")
    assert check_text(page, last)["reason"] == "non_canonical"
    assert check_text(page, url[:-1])["reason"] == "bad_length"
    assert check_text(page, url.lower() + "?utm=1#x")["result"] == "valid"

    # A genuine code printed with another site's address: valid, but shown as foreign.
    elsewhere = url.replace(live_server.url.upper(), "HTTPS://TRACEQR.EVIL.EXAMPLE")
    moved = check_text(page, elsewhere)
    assert moved["result"] == "valid"
    assert (moved["host"], moved["foreign"]) == ("traceqr.evil.example", "true")
    assert page.is_visible("#offline-foreign")
    assert "traceqr.evil.example" in page.inner_text("#offline-foreign")

    # Still offline: the English page was saved too, and checks the same.
    response = page.goto(live_server.url + PAGE + "?lang=en")
    assert response is not None and response.from_service_worker
    assert page.get_attribute("html", "lang") == "en"
    page.wait_for_selector("#offline[data-started='true']")
    english = check_text(page, url)
    assert (english["result"], english["title"]) == ("valid", "Valid signature")
    assert english["reason_text"] == "Issued by Gốm sứ Bát Tràng Test."
    assert check_text(page, "hello")["reason_text"].startswith("Bad format")

    assert page.problems == []


@pytest.mark.parametrize("backend", ["webcrypto", "tweetnacl"])
def test_the_javascript_follows_the_test_vectors(
    live_server: LiveServer, offline_page: Any, backend: str
) -> None:
    page = offline_page
    page.goto(live_server.url + PAGE)
    page.wait_for_selector("#offline[data-started='true']")
    assert page.evaluate("TraceQROffline.backend()") == "webcrypto"  # Chromium has Ed25519
    assert page.evaluate("name => TraceQROffline.setBackend(name)", backend) == backend

    outcome = page.evaluate(
        """async (vectors) => {
          const V = TraceQROffline;
          const jwks = {keys: vectors.valid.map(v => v.jwk)};
          const publicUrl = vectors.valid[0].public_url;
          const out = {valid: [], invalid: [], invalidOffline: [], same: []};
          for (const v of vectors.valid) {
            const r = await V.verifyStamp(v.url, jwks, {publicUrl});
            const bare = await V.verifyStamp(v.code.toLowerCase(), jwks);
            const stamp = V.decodeCode(v.code);
            out.valid.push({
              name: v.name, valid: r.valid, bare: bare.valid, kid: r.kid, serial: r.serial,
              shortCode: r.shortCode, host: r.host, bytes: V.toHex(stamp.signedMessage),
              signature: V.toHex(stamp.signature),
            });
          }
          for (const v of vectors.invalid) {
            const r = await V.verifyStamp(v.text, jwks, {publicUrl});
            const offline = await V.verifyStamp(v.text, jwks);
            out.invalid.push({name: v.name, valid: r.valid, reason: r.reason});
            out.invalidOffline.push({name: v.name, valid: offline.valid,
                                     reason: offline.reason, host: offline.host});
          }
          for (const v of vectors.equivalent_spellings) {
            const r = await V.verifyStamp(v.text, jwks, {publicUrl});
            out.same.push({valid: r.valid, kid: r.kid, serial: r.serial});
          }
          out.noKeys = (await V.verifyStamp(vectors.valid[0].url, {keys: []})).reason;
          return out;
        }""",
        VECTORS,
    )
    for vector, got in zip(VECTORS["valid"], outcome["valid"], strict=True):
        assert got == {
            "name": vector["name"],
            "valid": True,
            "bare": True,
            "kid": vector["kid"],
            "serial": vector["serial_text"],
            "shortCode": vector["short_code"],
            "host": "traceqr.example.vn",
            "bytes": vector["signed_message"],
            "signature": vector["signature"],
        }
    for vector, got in zip(VECTORS["invalid"], outcome["invalid"], strict=True):
        assert got == {"name": vector["name"], "valid": False, "reason": vector["reason"]}
    # Offline, any host is accepted and shown: the foreign URL is a valid signature there.
    for vector, got in zip(VECTORS["invalid"], outcome["invalidOffline"], strict=True):
        if vector["reason"] == "foreign_url":
            assert (got["valid"], got["host"]) == (True, "evil.example.vn")
        else:
            assert (got["valid"], got["reason"]) == (False, vector["reason"])
    first = VECTORS["valid"][0]
    assert outcome["same"] == [
        {"valid": True, "kid": first["kid"], "serial": first["serial_text"]}
    ] * len(VECTORS["equivalent_spellings"])
    assert outcome["noKeys"] == "no_keys"


@pytest.mark.parametrize("backend", ["webcrypto", "tweetnacl"])
def test_the_javascript_refuses_what_the_spec_refuses(
    live_server: LiveServer, offline_page: Any, backend: str
) -> None:
    page = offline_page
    page.goto(live_server.url + PAGE)
    page.wait_for_selector("#offline[data-started='true']")
    page.evaluate("name => TraceQROffline.setBackend(name)", backend)
    first = VECTORS["valid"][0]
    stamp = bytes.fromhex(first["stamp_bytes"])
    s = int.from_bytes(stamp[47:79], "little")
    high_s = stamp[:47] + (s + ORDER_L).to_bytes(32, "little")
    other_key = dict(VECTORS["valid"][1]["jwk"], kid=first["kid"])  # same kid, wrong key
    private = dict(first["jwk"], d="A" * 43)
    service = dict(first["jwk"], traceqr_role="service")
    cases = {
        "high_s": (base32_encode(high_s), [first["jwk"]]),
        "kid_twice": (first["code"], [other_key, first["jwk"]]),
        "kid_other_key_only": (first["code"], [other_key]),
        "private_key_refused": (first["code"], [private]),
        "service_key_ignored": (first["code"], [service]),
        "upper_kid": (first["code"], [dict(first["jwk"], kid=first["kid"].upper())]),
        "non_ascii": ("\u0410" + first["code"][1:], [first["jwk"]]),
        "nbsp_around": ("\u00a0" + first["url"] + "\u3000", [first["jwk"]]),
        "empty": ("  \n", [first["jwk"]]),
        "too_long": ("A" * 2049, [first["jwk"]]),
        "not_a_stamp_url": ("https://traceqr.example.vn/P/" + first["code"], [first["jwk"]]),
        "ftp": ("ftp://traceqr.example.vn/S/" + first["code"], [first["jwk"]]),
        "user_at_host": (
            "https://traceqr.example.vn@evil.example/S/" + first["code"],
            [first["jwk"]],
        ),
    }
    got = page.evaluate(
        """async (cases) => {
          const out = {};
          for (const [name, [text, keys]] of Object.entries(cases)) {
            const r = await TraceQROffline.verifyStamp(text, {keys});
            out[name] = [r.valid, r.reason, r.host || null];
          }
          return out;
        }""",
        cases,
    )
    assert got == {
        "high_s": [False, "bad_signature", None],
        "kid_twice": [True, None, None],
        "kid_other_key_only": [False, "bad_signature", None],
        "private_key_refused": [False, "no_keys", None],
        "service_key_ignored": [False, "no_keys", None],
        "upper_kid": [True, None, None],
        "non_ascii": [False, "bad_character", None],
        "nbsp_around": [True, None, "traceqr.example.vn"],
        "empty": [False, "empty", None],
        "too_long": [False, "too_long", None],
        "not_a_stamp_url": [False, "not_a_stamp_url", None],
        "ftp": [False, "not_a_stamp_url", None],
        "user_at_host": [True, None, "evil.example"],  # the host a browser would go to
    }
    assert page.problems == []


# --- stamp format version 2: a signed GS1 Digital Link (§9) -------------------------------


@pytest.mark.parametrize("backend", ["webcrypto", "tweetnacl"])
def test_the_javascript_follows_the_v2_test_vectors(
    live_server: LiveServer, offline_page: Any, backend: str
) -> None:
    page = offline_page
    page.goto(live_server.url + PAGE)
    page.wait_for_selector("#offline[data-started='true']")
    assert page.evaluate("name => TraceQROffline.setBackend(name)", backend) == backend

    outcome = page.evaluate(
        """async (vectors) => {
          const V = TraceQROffline;
          // What a result says about the stamp, whichever version.
          const facts = r => ({valid: r.valid, reason: r.reason, version: r.version ?? null,
            kid: r.kid ?? null, serial: r.serial ?? null, shortCode: r.shortCode ?? null,
            gtin: r.gtin ?? null, lot: r.lot ?? null, host: r.host ?? null});
          const jwks = {keys: vectors.valid.map(v => v.jwk)};
          const publicUrl = vectors.valid[0].public_url;
          const out = {valid: [], invalid: [], invalidOffline: [], same: []};
          for (const v of vectors.valid) {
            const service = await V.verifyStamp(v.url, jwks, {publicUrl});
            const offline = await V.verifyStamp(v.url, jwks);
            const stamp = V.parseScannedText(v.url);
            out.valid.push({
              name: v.name, service: facts(service), offline: facts(offline),
              bytes: V.toHex(stamp.signedMessage), signature: V.toHex(stamp.signature),
              printed: V.stampUrlV2(publicUrl, service),
            });
          }
          for (const v of vectors.invalid) {
            out.invalid.push(facts(await V.verifyStamp(v.text, jwks, {publicUrl})));
            out.invalidOffline.push(facts(await V.verifyStamp(v.text, jwks)));
          }
          for (const v of vectors.equivalent_spellings) {
            out.same.push([facts(await V.verifyStamp(v.text, jwks, {publicUrl})),
                           facts(await V.verifyStamp(v.text, jwks))]);
          }
          return out;
        }""",
        VECTORS_V2,
    )

    def genuine(vector: dict[str, Any], host: str = "traceqr.example.vn") -> dict[str, Any]:
        return {
            "valid": True,
            "reason": None,
            "version": 2,
            "kid": vector["kid"],
            "serial": vector["serial_text"],
            "shortCode": vector["short_code"],
            "gtin": vector["gtin"],
            "lot": vector["lot"],
            "host": host,
        }

    for vector, got in zip(VECTORS_V2["valid"], outcome["valid"], strict=True):
        assert got == {
            "name": vector["name"],
            "service": genuine(vector),
            "offline": genuine(vector),
            "bytes": vector["signed_message"],
            "signature": vector["signature"],
            "printed": vector["url"],
        }
    for vector, got in zip(VECTORS_V2["invalid"], outcome["invalid"], strict=True):
        assert (got["valid"], got["reason"]) == (False, vector["reason"]), vector["name"]
    # Offline, any host is accepted and shown: the foreign URL is a valid signature there.
    first = VECTORS_V2["valid"][0]
    for vector, got in zip(VECTORS_V2["invalid"], outcome["invalidOffline"], strict=True):
        if vector["reason"] == "foreign_url":
            assert got == genuine(first, host="evil.example.vn")
        else:
            assert (got["valid"], got["reason"]) == (False, vector["reason"]), vector["name"]
    for vector, (service, offline) in zip(
        VECTORS_V2["equivalent_spellings"], outcome["same"], strict=True
    ):
        assert service == offline == genuine(first), vector["name"]
    assert page.problems == []


def test_a_signature_of_one_version_is_never_valid_for_the_other(
    live_server: LiveServer, offline_page: Any
) -> None:
    """The first vectors of both versions share seed, kid and serial: only the context
    string (…-V1, …-V2) and the signed fields tell the signatures apart."""
    page = offline_page
    page.goto(live_server.url + PAGE)
    page.wait_for_selector("#offline[data-started='true']")
    v1, v2 = VECTORS["valid"][0], VECTORS_V2["valid"][0]
    assert (v1["seed"], v1["kid"], v1["serial"]) == (v2["seed"], v2["kid"], v2["serial"])
    v1_signature = bytes.fromhex(v1["stamp_bytes"])[15:]
    v2_signature = bytes.fromhex(v2["signature"])
    texts = {
        "v1_signature_in_v2_link": v2["url"].replace(
            v2["signature_text"], base32_encode(v1_signature)
        ),
        "v2_signature_in_v1_code": base32_encode(
            bytes.fromhex(v1["stamp_bytes"])[:15] + v2_signature
        ),
    }
    got = page.evaluate(
        """async ([texts, jwk]) => {
          const out = {};
          for (const [name, text] of Object.entries(texts)) {
            const r = await TraceQROffline.verifyStamp(text, {keys: [jwk]});
            out[name] = [r.valid, r.reason, r.version];
          }
          return out;
        }""",
        [texts, v2["jwk"]],
    )
    assert got == {
        "v1_signature_in_v2_link": [False, "bad_signature", 2],
        "v2_signature_in_v1_code": [False, "bad_signature", 1],
    }


def python_verdict(text: str, public_url: str | None) -> str:
    """What the reference reads: ``ok:<signed message>`` or the reason it refuses."""
    try:
        return "ok:" + parse_scanned_text(text, public_url).signed_message.hex()
    except StampFormatError as error:
        return error.reason


def v2_texts(count: int = 800, seed: int = 20261128) -> list[str]:
    """Texts around version 2 links: hand-picked corners of §9.3/§9.4 and random edits of
    the vector URLs (the edits of tests/unit/test_stamp_v2.py and a few more)."""
    valid = VECTORS_V2["valid"]
    url = valid[0]["url"]
    base, _, query = url.partition("?")
    texts = [
        "https://id.gs1.org/01/09506000134352/10/ABC/21/123?17=201225",
        "https://id.gs1.org/00/106141411234567897",
        "https://id.gs1.org/00/106141411234567897?" + query,
        "https://id.gs1.org/AQnYUc1gmg",
        "https://id.gs1.org/AQnYUc1gmg?" + query,
        "https://id.gs1.org/01/05412345000013/EEarwSOABgwEj9s0bAmQ?" + query,
        "https://id.gs1.org/414/5060917510004/254/RP56J920471?" + query,
        "https://example.com/products/shampoo",
        "https://traceqr.vn@evil.example/01/09506000134352?" + query,
        "https://[::1]:8443/dl" + url.removeprefix("HTTPS://TRACEQR.EXAMPLE.VN"),
        "HTTPS://TRACEQR.EXAMPLE.VN:443" + url.removeprefix("HTTPS://TRACEQR.EXAMPLE.VN"),
        "https://traceqr.example.vn/01/08934588012228/10/Lô/21/X?K=1&S=2",
        url + "&x=" + "a" * 2048,
        base + "?" + query.replace("K=", "%4B="),  # an escaped parameter name
        base + "?" + query.replace("S=", "%C5%BF="),  # "ſ" upper-cases to "S"
        url.replace("K=0A1B2C3D", "K=0A1B2C3%C4%B1"),
        url.replace(valid[0]["signature_text"], valid[0]["signature_text"].replace("I", "%C4%B1")),
        url.replace("/10/BT-2611-A/", "/10/BT-2611-%FF/"),
        url.replace("/10/BT-2611-A/", "/10/BT-2611-%ED%A0%80/"),
        url.replace("/10/BT-2611-A/", "/10/%EF%BB%BFBT/"),
        url.replace("/10/BT-2611-A/", "/10/" + "A" * 21 + "/"),
        url.replace("/21/", "/235/X/21/"),
        url.replace("/10/", "/22/V1/10/"),
        url.replace("/10/BT-2611-A/21/", "/235/X/"),
        url.replace("/01/", "/01/08934588012228/01/"),
        url.replace("/10/", "/7040/X/10/"),
        url.replace("/10/", "/17/261231/10/"),
        url.replace("?", "?lot=X&"),
        url.replace("?", "?exp=261231&"),
        url.replace("?", "?7003=2612312460&"),
        url.replace("?", "?422=704&"),
        url.replace("?", "?422=999&"),
        url.replace("?", "?17=260229&"),
        url.replace("?", "?17=250229&"),
        url.replace("?", "?253=9506000134352ABC&"),
        url.replace("?", "?7240=x&"),
        url.replace("?", "?21=1&"),
        url.replace("?", "?constructor=1&__proto__=2&"),
        url + "&K=0A1B2C3D",
        url.replace("/S/", "/s/"),
        "https://traceqr.example.vn/S/" + VECTORS["valid"][0]["code"] + "?" + query,
    ]
    texts += [vector["url"] for vector in valid]
    pieces = [
        *"/?&=%#;:.-_ 01289AKSaksu@[]~!$'()*+,\t\x1c",
        *["%2F", "%2f", "%25", "%ZZ", "%C4%B1", "%E2%80%8B", "%F0%9F%98%80", "%C0%80"],
        *["10", "21", "22", "17", "235", "00", "414", "254", "gtin", "lot", "ser", "exp"],
        *["K=", "S=", "k=0a1b2c3d", "?17=261231", "/S/", "HTTP://", ":8080", "u@", "ô"],
        *["AQnYUc1gmg", "EEarwSOABgwEj9s0bAmQ", "7003=2612312359", "3103=000195"],
    ]
    rng = random.Random(seed)
    for _ in range(count):
        text = rng.choice(texts[:3] + [vector["url"] for vector in valid])
        for _ in range(rng.randint(1, 4)):
            position = rng.randint(0, len(text))
            kind = rng.choice(["insert", "replace", "delete", "swapcase"])
            if kind == "insert":
                text = text[:position] + rng.choice(pieces) + text[position:]
            elif kind == "replace":
                text = text[:position] + rng.choice(pieces) + text[position + 1 :]
            elif kind == "delete":
                text = text[:position] + text[position + 1 :]
            else:
                text = (
                    text[:position]
                    + text[position : position + 6].swapcase()
                    + text[position + 6 :]
                )
        texts.append(text)
    return texts


def test_the_javascript_reads_version_2_texts_as_the_python_reference(
    live_server: LiveServer, offline_page: Any
) -> None:
    """Where §9 leaves a detail to the implementation, the page follows the Python code:
    the same verdict (the signed bytes, or the reason) for every text, service and offline."""
    page = offline_page
    page.goto(live_server.url + PAGE)
    page.wait_for_selector("#offline[data-started='true']")
    public_url = VECTORS_V2["valid"][0]["public_url"]
    texts = v2_texts()
    got = page.evaluate(
        """([texts, publicUrl]) => texts.map(text => [publicUrl, undefined].map(url => {
          const V = TraceQROffline;
          try {
            return "ok:" + V.toHex(V.parseScannedText(text, url).signedMessage);
          } catch (error) {
            return error.reason || "crash: " + error;
          }
        }))""",
        [texts, public_url],
    )
    expected = [[python_verdict(text, public_url), python_verdict(text, None)] for text in texts]
    mismatches = [
        (text, want, have)
        for text, want, have in zip(texts, expected, got, strict=True)
        if want != have
    ]
    assert mismatches == []
    # The corpus reaches every outcome of version 2, valid ones included.
    seen = {
        verdict if not verdict.startswith("ok:") else "ok" for pair in expected for verdict in pair
    }
    assert seen >= {
        "ok",
        "unsigned_digital_link",
        "missing_key_id",
        "missing_signature",
        "duplicate_parameter",
        "bad_key_id",
        "bad_signature_encoding",
        "bad_serial",
        "not_a_stamp_link",
        "unsigned_data",
        "bad_gtin",
        "bad_order",
        "bad_path",
        "misplaced_ai",
        "unknown_ai",
        "duplicate_ai",
        "bad_ai_value",
        "bad_percent_encoding",
        "compressed_not_supported",
        "unsupported_primary_key",
        "foreign_url",
        "not_a_stamp_url",
        "too_long",
        "bad_character",
    }


def test_a_v2_stamp_is_checked_offline(
    live_server: LiveServer,
    offline_page: Any,
    business: NewBusiness,
    state: AppState,
    tmp_path: Path,
) -> None:
    """A GS1 Digital Link stamp signed with the business's key, checked with the network
    cut: typed, and read from a photo of its QR (several QR modes in one symbol)."""
    page = offline_page
    v1_url = issue_stamps(live_server, business)[0]
    signer = state.keystore.load_signer(business.signing_key.kid, business.signing_key.public_key)
    serial = bytes.fromhex("0123456789abcdef0123")
    stamp = issue_v2(signer, serial, "8934588012228", "BT-2611/A")
    url = stamp.url(live_server.url)
    assert "/10/BT-2611%2FA/" in url
    install_and_go_offline(page, live_server)

    genuine = check_text(page, url)
    assert genuine["result"] == "valid", genuine
    assert genuine["business"] == "Gốm sứ Bát Tràng Test"
    assert genuine["host"] == live_server.url.removeprefix("http://")
    assert genuine["foreign"] == "false"
    assert genuine["kid"] == signer.kid.hex()
    assert genuine["short_code"] == short_code(serial)
    assert (genuine["gtin"], genuine["lot"]) == ("08934588012228", "BT-2611/A")
    assert page.is_visible("#offline-gtin-label") and page.is_visible("#offline-lot-label")
    assert page.is_visible("#offline-limits")
    # The online check goes to this service with the stamp's own link.
    online = urlsplit(page.get_attribute("#offline-online-link", "href"))
    assert f"{online.scheme}://{online.netloc}".lower() == live_server.url
    assert (online.path, parse_qs(online.query)) == ("/verify", {"code": [url]})
    # …where the service reads it: a valid signature (signed here, so without a record).
    answer = live_server.app.test_client().get(f"{online.path}?{online.query}")
    assert answer.status_code == 200
    assert 'data-status="unregistered"' in answer.get_data(as_text=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # fits a phone

    # The lot, the GTIN and the serial are signed; a lot is case-sensitive.
    assert check_text(page, url.replace("BT-2611%2FA", "BT-2611%2FB"))["reason"] == "bad_signature"
    assert check_text(page, url.replace("/08934588012228/", "/09506000134352/"))["reason"] == (
        "bad_signature"
    )
    other = serial_text(bytes.fromhex("0123456789abcdef0124"))
    assert check_text(page, url.replace(serial_text(serial), other))["reason"] == "bad_signature"
    tampered = check_text(page, url.lower())
    assert (tampered["reason"], tampered["gtin"], tampered["lot"]) == ("bad_signature", None, None)
    assert not page.is_visible("#offline-gtin-label")
    assert check_text(page, url.replace("K=", "X="))["reason"] == "missing_key_id"
    # Spellings GS1 allows read as the same stamp.
    assert check_text(page, url.replace("/01/08934588012228/", "/gtin/8934588012228/"))[
        "result"
    ] == ("valid")
    # A product link without a signature: said so, in words.
    unsigned = check_text(page, "https://id.gs1.org/01/09506000134352/10/ABC/21/123?17=201225")
    assert unsigned["reason"] == "unsigned_digital_link"
    assert unsigned["reason_text"] and unsigned["reason_text"] != "unsigned_digital_link"

    # A version 1 stamp shows no GTIN or lot: it does not sign them.
    plain = check_text(page, v1_url)
    assert (plain["result"], plain["gtin"], plain["lot"]) == ("valid", None, None)

    # The QR of a version 2 stamp mixes QR modes (alphanumeric, numeric, byte): read from
    # a photo, offline.
    photo = tmp_path / "stamp-v2.png"
    photo.write_bytes(stamp_png(url))
    before = checks_shown(page)
    page.set_input_files("#offline-photo", str(photo))
    from_photo = read_result(page, before)
    assert (from_photo["result"], from_photo["lot"]) == ("valid", "BT-2611/A")
    assert page.input_value("#offline-text") == url
    assert page.problems == []


NO_WEBCRYPTO_ED25519 = """
(() => {
  const importKey = SubtleCrypto.prototype.importKey;
  SubtleCrypto.prototype.importKey = function (format, data, algorithm, ...rest) {
    const name = typeof algorithm === "string" ? algorithm : algorithm && algorithm.name;
    if (String(name).toLowerCase() === "ed25519") {
      return Promise.reject(new DOMException("Unrecognized name.", "NotSupportedError"));
    }
    return importKey.call(this, format, data, algorithm, ...rest);
  };
})();
"""


def test_without_ed25519_in_webcrypto_the_vendored_fallback_checks(
    live_server: LiveServer, offline_page: Any, business: Any
) -> None:
    """Older browsers, and pages outside a secure context, have no WebCrypto Ed25519."""
    page = offline_page
    page.add_init_script(NO_WEBCRYPTO_ED25519)
    urls = issue_stamps(live_server, business, 2)
    page.goto(live_server.url + PAGE)
    page.wait_for_selector("#offline[data-started='true']")
    assert page.evaluate("TraceQROffline.backend()") == "tweetnacl"
    genuine = check_text(page, urls[1])
    assert (genuine["result"], genuine["business"]) == ("valid", "Gốm sứ Bát Tràng Test")
    assert check_text(page, change_char(urls[1], 80))["reason"] == "bad_signature"
    assert page.problems == []


def stamp_png(url: str) -> bytes:
    return png_bytes(qr_matrix(url, "Q"), module_pixels=6)


def test_a_photo_of_a_stamp_is_read_and_checked_offline(
    live_server: LiveServer, offline_page: Any, business: Any, tmp_path: Path
) -> None:
    page = offline_page
    url = issue_stamps(live_server, business)[0]
    install_and_go_offline(page, live_server)

    photo = tmp_path / "stamp.png"
    photo.write_bytes(stamp_png(url))
    page.set_input_files("#offline-photo", str(photo))
    result = read_result(page)
    assert result["result"] == "valid", result
    assert result["business"] == "Gốm sứ Bát Tràng Test"
    assert page.input_value("#offline-text") == url
    assert page.get_attribute("#offline-photo-status", "data-state") == "found"

    # A photo with no QR in it says so.
    blank = tmp_path / "blank.png"
    Image.new("L", (320, 240), 255).save(blank)
    page.set_input_files("#offline-photo", str(blank))
    page.wait_for_selector("#offline-photo-status[data-state='none']")
    assert page.problems == []


def y4m_of(image: np.ndarray, path: Path, frames: int = 30) -> Path:
    """A Y4M video (4:2:0) showing the grey image ``image`` for ``frames`` frames."""
    height, width = image.shape
    chroma = np.full((height // 2, width // 2), 128, dtype=np.uint8)
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n")
            out.write(image.astype(np.uint8).tobytes())
            out.write(chroma.tobytes())
            out.write(chroma.tobytes())
    return path


def camera_frame(url: str, width: int = 640, height: int = 480) -> np.ndarray:
    modules = np.pad(qr_matrix(url, "Q").modules, QUIET_ZONE_MODULES, constant_values=False)
    scale = min(width, height) // modules.shape[0]
    symbol = np.kron(np.where(modules, 0, 255), np.ones((scale, scale))).astype(np.uint8)
    frame = np.full((height, width), 255, dtype=np.uint8)
    top = (height - symbol.shape[0]) // 2
    left = (width - symbol.shape[1]) // 2
    frame[top : top + symbol.shape[0], left : left + symbol.shape[1]] = symbol
    return frame


def test_the_camera_reads_a_stamp_offline(
    live_server: LiveServer, browser: Any, business: Any, tmp_path: Path
) -> None:
    """Chromium's fake camera plays a video of the stamp; a browser of its own for the flags."""
    url = issue_stamps(live_server, business)[0]
    video = y4m_of(camera_frame(url), tmp_path / "stamp.y4m")
    flags = [
        *CHROMIUM_FLAGS,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ]
    camera_browser = browser.browser_type.launch(executable_path=CHROMIUM, args=flags)
    try:
        context = camera_browser.new_context(**PHONE)
        context.grant_permissions(["camera"], origin=live_server.url)
        page = context.new_page()
        page.problems = []
        page.on("pageerror", lambda error: page.problems.append(str(error)))
        install_and_go_offline(page, live_server)
        page.click("#offline-camera-start")
        result = read_result(page)
        assert result["result"] == "valid", result
        assert result["business"] == "Gốm sứ Bát Tràng Test"
        assert page.is_hidden("#offline-video")  # the camera is stopped once read
        assert page.problems == []
    finally:
        camera_browser.close()


def test_the_worker_manifest_and_page_are_served_to_install(client: Any) -> None:
    worker = client.get("/inspect/offline/sw.js")
    assert worker.status_code == 200
    assert worker.mimetype == "application/javascript"
    assert worker.headers["Service-Worker-Allowed"] == "/inspect/offline/"
    assert worker.headers["Cache-Control"] == "no-cache"
    assert (
        client.get(
            "/inspect/offline/sw.js", headers={"If-None-Match": worker.headers["ETag"]}
        ).status_code
        == 304
    )
    source = worker.get_data(as_text=True)
    config = json.loads(source.split("var CONFIG = ", 1)[1].split(";\n", 1)[0])
    assert config["scope"] == PAGE and config["jwks"] == "/.well-known/jwks.json"
    assert PAGE in config["pages"] and PAGE + "?lang=en" in config["pages"]
    for path in config["pages"] + config["assets"] + [config["jwks"]]:
        response = client.get(path)
        response.close()
        assert response.status_code == 200, path  # addAll fails on any miss
    assert "/static/offline/vendor/jsQR.js" in config["assets"]
    assert "/static/offline/vendor/nacl.min.js" in config["assets"]

    manifest = client.get("/inspect/offline/manifest.webmanifest?lang=en")
    assert manifest.mimetype == "application/manifest+json"
    document = manifest.get_json(force=True)
    assert document["display"] == "standalone"
    assert document["start_url"] == PAGE + "?lang=en" and document["scope"] == PAGE
    assert document["icons"][0]["src"] == "/static/img/icon.svg"

    page = client.get(PAGE)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-cache"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    html = page.get_data(as_text=True)
    assert "<script>" not in html and "style=" not in html  # nothing inline: the CSP forbids it
    assert 'rel="manifest"' in html
    assert client.get("/inspect/offline").status_code == 308  # the scope needs the slash
