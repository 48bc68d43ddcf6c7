"""Stamp format version 2: a GS1 Digital Link that still verifies offline."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import pytest
import zxingcpp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from traceqr.domain.codec import CROCKFORD_ALPHABET, RFC4648_ALPHABET
from traceqr.domain.digital_link import parse_digital_link
from traceqr.domain.gs1 import GS1Error
from traceqr.domain.keys import KeyRing, PublicKey, StampSigner
from traceqr.domain.qr import QUIET_ZONE_MODULES, qr_matrix
from traceqr.domain.stamp_format import (
    FORMAT_V1,
    FORMAT_V2,
    SIGNATURE_TEXT_LENGTH,
    StampCode,
    StampFormatError,
    issue_v2,
    parse_scanned_text,
    serial_text,
    short_code,
    signed_message_v2,
)

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "stamp-v2.json").read_text())
VALID = VECTORS["valid"]
V1_VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "stamp-v1.json").read_text())
PUBLIC_URL = "https://traceqr.example.vn"
SIGNER = StampSigner(bytes.fromhex("01020304"), bytes(range(32)))
RING = KeyRing([PublicKey(SIGNER.kid, SIGNER.public_key)])
GTIN = "08934588012228"
LOT = "BT-2611-A"


def verifies(text: str, public_url: str | None = PUBLIC_URL, ring: KeyRing = RING) -> bool:
    try:
        stamp = parse_scanned_text(text, public_url)
    except StampFormatError:
        return False
    return ring.verify(stamp) is not None


def reason(text: str, public_url: str | None = PUBLIC_URL) -> str:
    with pytest.raises(StampFormatError) as error:
        parse_scanned_text(text, public_url)
    assert str(error.value)
    return error.value.reason


# --- the committed vectors ---------------------------------------------------------------


@pytest.mark.parametrize("vector", VALID, ids=[v["name"] for v in VALID])
def test_our_code_reproduces_each_vector(vector: dict) -> None:
    kid, serial = bytes.fromhex(vector["kid"]), bytes.fromhex(vector["serial"])
    signer = StampSigner(kid, bytes.fromhex(vector["seed"]))
    stamp = issue_v2(signer, serial, vector["gtin_as_given"], vector["lot"])
    assert signer.public_key.hex() == vector["public_key"]
    assert PublicKey(kid, signer.public_key).to_jwk() == vector["jwk"]
    assert stamp.version == FORMAT_V2
    assert stamp.gtin == vector["gtin"] and stamp.lot == vector["lot"]
    assert stamp.signed_message.hex() == vector["signed_message"]
    assert (
        signed_message_v2(kid, serial, vector["gtin"], vector["lot"]).hex()
        == (vector["signed_message"])
    )
    assert stamp.signature.hex() == vector["signature"]
    assert stamp.url(vector["public_url"]) == vector["url"]
    assert serial_text(serial) == vector["serial_text"]
    assert short_code(serial) == vector["short_code"]


@pytest.mark.parametrize("vector", VALID, ids=[v["name"] for v in VALID])
def test_the_signed_message_is_laid_out_as_documented(vector: dict) -> None:
    message = bytes.fromhex(vector["signed_message"])
    lot = vector["lot"].encode("ascii")
    assert message[:16] == b"TRACEQR-STAMP-V2"
    assert message[16] == 0x02
    assert message[17:21].hex() == vector["kid"]
    assert message[21:31].hex() == vector["serial"]
    assert message[31:45] == vector["gtin"].encode("ascii")
    assert message[45] == 0x00
    assert message[46:] == lot
    assert len(message) == 46 + len(lot)


@pytest.mark.parametrize("vector", VALID, ids=[v["name"] for v in VALID])
def test_an_independent_ed25519_agrees(vector: dict) -> None:
    """OpenSSL (through `cryptography`) signs and verifies the same bytes."""
    private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(vector["seed"]))
    message = bytes.fromhex(vector["signed_message"])
    assert private.sign(message).hex() == vector["signature"]
    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(vector["public_key"]))
    public.verify(bytes.fromhex(vector["signature"]), message)  # raises if wrong


@pytest.mark.parametrize("vector", VALID, ids=[v["name"] for v in VALID])
@pytest.mark.parametrize("public_url", [PUBLIC_URL, None], ids=["service", "offline"])
def test_each_vector_url_parses_and_verifies_with_its_jwk(
    vector: dict, public_url: str | None
) -> None:
    ring = KeyRing.from_jwks({"keys": [vector["jwk"]]})
    stamp = parse_scanned_text(vector["url"], public_url)
    key = ring.verify(stamp)
    assert key is not None and key.kid.hex() == vector["kid"]
    assert stamp.version == FORMAT_V2
    assert stamp.serial.hex() == vector["serial"]
    assert (stamp.gtin, stamp.lot) == (vector["gtin"], vector["lot"])
    assert stamp.signature.hex() == vector["signature"]
    # OpenSSL verifies what the parser hands over, too.
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(vector["public_key"])).verify(
        stamp.signature, stamp.signed_message
    )


@pytest.mark.parametrize("vector", VALID, ids=[v["name"] for v in VALID])
def test_each_vector_url_is_a_gs1_digital_link_of_01_10_21(vector: dict) -> None:
    link = parse_digital_link(vector["url"])
    assert [ai for ai, _ in link.elements()] == ["01", "10", "21"]
    assert link.gtin == vector["gtin"]
    assert link.qualifier("10") == vector["lot"]
    assert link.qualifier("21") == vector["serial_text"]
    assert link.attributes == ()
    assert [key for key, _ in link.other_params] == ["K", "S"]
    assert [list(element) for element in link.elements()] == vector["gs1_elements"]
    # The printed URL is the canonical one (on the upper-case public URL).
    assert link.uri("HTTPS://TRACEQR.EXAMPLE.VN") == vector["url"]


@pytest.mark.parametrize("case", VECTORS["invalid"], ids=[c["name"] for c in VECTORS["invalid"]])
def test_each_invalid_vector_is_refused_with_its_reason(case: dict) -> None:
    ring = KeyRing.from_jwks({"keys": [VALID[0]["jwk"]]})
    if case["reason"] == "bad_signature":
        stamp = parse_scanned_text(case["text"], VALID[0]["public_url"])
        assert ring.verify(stamp) is None
        return
    assert reason(case["text"], VALID[0]["public_url"]) == case["reason"]


@pytest.mark.parametrize(
    "case",
    VECTORS["equivalent_spellings"],
    ids=[c["name"] for c in VECTORS["equivalent_spellings"]],
)
@pytest.mark.parametrize("public_url", [PUBLIC_URL, None], ids=["service", "offline"])
def test_equivalent_spellings_read_as_the_first_vector(case: dict, public_url: str | None) -> None:
    ring = KeyRing.from_jwks({"keys": [VALID[0]["jwk"]]})
    stamp = parse_scanned_text(case["text"], public_url)
    assert ring.verify(stamp) is not None
    assert stamp == parse_scanned_text(VALID[0]["url"], public_url)


def test_the_vectors_cover_every_documented_reason() -> None:
    reasons = {case["reason"] for case in VECTORS["invalid"]}
    assert reasons >= {
        "unsigned_digital_link",
        "missing_key_id",
        "missing_signature",
        "bad_key_id",
        "bad_signature_encoding",
        "bad_signature",
        "bad_serial",
        "not_a_stamp_link",
        "unsigned_data",
        "duplicate_parameter",
        "foreign_url",
    }


# --- issuing and the StampCode API -------------------------------------------------------


def test_a_v2_stamp_is_its_url_not_bytes() -> None:
    stamp = issue_v2(SIGNER, os.urandom(10), GTIN, LOT)
    with pytest.raises(ValueError, match="version 1"):
        stamp.to_bytes()
    with pytest.raises(ValueError, match="version 1"):
        _ = stamp.code
    assert stamp.url(PUBLIC_URL).startswith("HTTPS://TRACEQR.EXAMPLE.VN/01/08934588012228/10/")
    assert len(stamp.url(PUBLIC_URL).rpartition("S=")[2]) == SIGNATURE_TEXT_LENGTH == 103
    without_lot = StampCode(FORMAT_V2, stamp.kid, stamp.serial, stamp.signature, GTIN)
    with pytest.raises(ValueError, match="GTIN and a lot"):
        _ = without_lot.signed_message
    with pytest.raises(ValueError, match="GTIN and a lot"):
        without_lot.url(PUBLIC_URL)


def test_v1_stamps_are_untouched_by_the_new_fields() -> None:
    vector = V1_VECTORS["valid"][0]
    signer = StampSigner(bytes.fromhex(vector["kid"]), bytes.fromhex(vector["seed"]))
    stamp = signer.issue(bytes.fromhex(vector["serial"]))
    assert stamp == StampCode(FORMAT_V1, stamp.kid, stamp.serial, stamp.signature)
    assert stamp.gtin is None and stamp.lot is None
    assert stamp.url(vector["public_url"]) == vector["url"]
    assert stamp.code == vector["code"]
    assert parse_scanned_text(vector["url"], vector["public_url"]) == stamp
    assert parse_scanned_text(vector["url"], None) == stamp


@pytest.mark.parametrize(
    ("gtin", "lot", "message"),
    [
        ("8934588012229", LOT, "check digit"),
        ("12345", LOT, "8, 12, 13 or 14 digits"),
        (GTIN, "", "cannot be empty"),
        (GTIN, "x" * 21, "at most 20"),
        (GTIN, "Lô 7", "letters without accents"),
    ],
)
def test_issuing_refuses_what_gs1_refuses(gtin: str, lot: str, message: str) -> None:
    with pytest.raises(GS1Error, match=message):
        issue_v2(SIGNER, os.urandom(10), gtin, lot)


def test_the_signed_message_insists_on_gtin14() -> None:
    with pytest.raises(ValueError, match="GTIN-14"):
        signed_message_v2(SIGNER.kid, bytes(10), "8934588012228", LOT)
    with pytest.raises(ValueError, match="4 bytes"):
        signed_message_v2(b"\x01", bytes(10), GTIN, LOT)


def test_a_public_url_with_a_path_prefix() -> None:
    public_url = "https://example.vn/traceqr"
    stamp = issue_v2(SIGNER, os.urandom(10), GTIN, LOT)
    url = stamp.url(public_url)
    assert url.startswith("HTTPS://EXAMPLE.VN/traceqr/01/")
    assert parse_scanned_text(url, public_url) == stamp
    assert parse_scanned_text(url, None) == stamp
    assert reason(url, "https://example.vn") == "foreign_url"


def test_offline_any_host_reads_and_the_service_only_its_own() -> None:
    stamp = issue_v2(SIGNER, os.urandom(10), GTIN, LOT)
    foreign = stamp.url("https://other.example.com")
    assert parse_scanned_text(foreign, None) == stamp
    assert reason(foreign) == "foreign_url"


def test_non_ascii_look_alikes_are_not_folded_into_the_signature() -> None:
    url, signature = VALID[0]["url"], VALID[0]["signature_text"]
    assert "I" in signature
    dotless = signature.replace("I", "%C4%B1", 1)  # "ı" upper-cases to "I"
    assert reason(url.replace(signature, dotless)) == "bad_signature_encoding"
    assert reason(url.replace("K=0A1B2C3D", "K=0A1B2C3%C4%B1")) == "bad_key_id"


def test_the_signature_covers_gtin_lot_and_serial() -> None:
    stamp = issue_v2(SIGNER, bytes.fromhex("00112233445566778899"), GTIN, LOT)
    url = stamp.url(PUBLIC_URL)
    assert verifies(url)
    assert not verifies(url.replace("/10/BT-2611-A/", "/10/BT-2611-a/"))  # lots are case-sensitive
    assert not verifies(url.replace(GTIN, "09506000134352"))
    other_serial = serial_text(bytes.fromhex("00112233445566778898"))
    assert not verifies(url.replace(serial_text(stamp.serial), other_serial))
    # The same fields signed as version 1 do not verify as version 2, and vice versa.
    v1 = SIGNER.issue(stamp.serial)
    assert RING.verify(StampCode(FORMAT_V2, v1.kid, v1.serial, v1.signature, GTIN, LOT)) is None
    assert RING.verify(StampCode(FORMAT_V1, stamp.kid, stamp.serial, stamp.signature)) is None


def test_a_plain_gs1_link_is_reported_as_not_a_stamp() -> None:
    for text in [
        "https://id.gs1.org/01/09506000134352/10/ABC/21/123?17=201225",
        "https://traceqr.example.vn/01/08934588012228/10/BT-2611-A/21/008J4CT4ANK7F24S",
        "https://id.gs1.org/00/106141411234567897",  # an SSCC
        "https://id.gs1.org/AQnYUc1gmg",  # compressed
        "https://brand.example.vn/01/09506000134352?7240=x",  # an AI TraceQR does not know
    ]:
        assert reason(text) == "unsigned_digital_link"
        assert reason(text, None) == "unsigned_digital_link"


def test_malformed_links_with_a_signature_keep_the_digital_link_reason() -> None:
    stamp = issue_v2(SIGNER, os.urandom(10), GTIN, LOT)
    url = stamp.url(PUBLIC_URL)
    assert reason(url.replace("?", "?7240=x&")) == "unknown_ai"
    assert reason(url.replace("/10/", "/17/")) == "misplaced_ai"


def test_non_stamp_texts_keep_their_version_1_reasons() -> None:
    code = SIGNER.issue(os.urandom(10)).code
    assert reason(f"https://evil.example.vn/S/{code}") == "foreign_url"
    assert reason(f"https://other.example/S/{code}/x", None) == "not_a_stamp_url"
    assert reason("https://example.com/products/shampoo") == "foreign_url"
    assert reason("https://example.com/products/shampoo", None) == "not_a_stamp_url"
    assert reason(f"https://traceqr.example.vn/{code}") == "foreign_url"
    assert reason("ABC") == "bad_length"
    assert reason("") == "empty"
    long_url = issue_v2(SIGNER, os.urandom(10), GTIN, LOT).url(PUBLIC_URL) + "&x=" + "a" * 2048
    assert reason(long_url) == "too_long"
    assert reason("https://traceqr.example.vn/01/08934588012228/10/Lô/21/X?K=1&S=2") == (
        "bad_character"
    )


# --- tampering ---------------------------------------------------------------------------


def test_replacing_any_character_of_kid_serial_or_signature_fails() -> None:
    """Exhaustive for one stamp: every position of K, 21 and S, every other symbol."""
    stamp = issue_v2(SIGNER, bytes.fromhex("00112233445566778899"), GTIN, LOT)
    url = stamp.url(PUBLIC_URL)
    assert verifies(url)
    kid_text, serial, signature = stamp.kid.hex().upper(), serial_text(stamp.serial), None
    signature = url.rpartition("S=")[2]
    parts = [
        (f"K={kid_text}", 2, "0123456789ABCDEF"),
        (f"/21/{serial}", 4, CROCKFORD_ALPHABET),
        (f"S={signature}", 2, RFC4648_ALPHABET),
    ]
    tried = 0
    for field, skip, alphabet in parts:
        start = url.index(field) + skip
        for position in range(start, start + len(field) - skip):
            for symbol in alphabet:
                if symbol != url[position]:
                    mutated = url[:position] + symbol + url[position + 1 :]
                    assert not verifies(mutated), (position, symbol)
                    tried += 1
    assert tried == 8 * 15 + 16 * 31 + 103 * 31


# --- QR size -----------------------------------------------------------------------------

QR_PUBLIC_URL = "https://traceqr.hanoi.vn"  # 24 characters, as in test_qr.py
LOT_20 = "BT-2611-A.0123456789"  # 20 characters, all in QR alphanumeric mode


def random_v2_urls(count: int, seed: int, lot: str = LOT_20) -> list[str]:
    rng = random.Random(seed)
    urls = []
    for _ in range(count):
        signer = StampSigner(rng.randbytes(4), rng.randbytes(32))
        urls.append(issue_v2(signer, rng.randbytes(10), "8934588012228", lot).url(QR_PUBLIC_URL))
    return urls


def raster(modules: np.ndarray, pixels: int = 4) -> np.ndarray:
    padded = np.pad(modules, QUIET_ZONE_MODULES, constant_values=False)
    return np.kron(np.where(padded, 0, 255).astype(np.uint8), np.ones((pixels, pixels), np.uint8))


@pytest.mark.parametrize(("ecc", "largest_version"), [("M", 8), ("Q", 10)])
def test_v2_symbols_stay_small_and_decode_to_the_exact_url(ecc: str, largest_version: int) -> None:
    assert len(QR_PUBLIC_URL) == 24 and len(LOT_20) == 20
    urls = random_v2_urls(300, seed=20261128)
    versions = set()
    for url in urls:
        assert len(url) == 24 + len("/01/") + 14 + len("/10/") + 20 + len("/21/") + 16 + 117
        symbol = qr_matrix(url, ecc)
        versions.add(symbol.version)
        results = zxingcpp.read_barcodes(
            raster(symbol.modules), formats=zxingcpp.BarcodeFormat.QRCode
        )
        assert [result.text for result in results] == [url]
    assert max(versions) == largest_version


@pytest.mark.parametrize(
    ("lot", "m_version", "q_version"),
    [
        ("L1", 8, 10),  # a short lot gains nothing: the signature dominates
        ("abcdefghijklmnopqrst", 9, 11),  # lower case leaves alphanumeric mode
        ("2026/11/28/A/B/C/D/E", 9, 11),  # each "/" is written %2F
    ],
)
def test_lots_that_leave_alphanumeric_mode_cost_one_version(
    lot: str, m_version: int, q_version: int
) -> None:
    urls = random_v2_urls(20, seed=7, lot=lot)
    assert max(qr_matrix(url, "M").version for url in urls) == m_version
    assert max(qr_matrix(url, "Q").version for url in urls) == q_version


# --- properties --------------------------------------------------------------------------


@given(st.text(max_size=300))
def test_any_text_gives_a_stamp_or_a_clean_error(text: str) -> None:
    for public_url in (PUBLIC_URL, None):
        try:
            stamp = parse_scanned_text(text, public_url)
        except StampFormatError as exc:
            assert exc.reason
            assert str(exc)
        else:
            assert isinstance(stamp, StampCode)


_STAMP = issue_v2(SIGNER, bytes.fromhex("00112233445566778899"), GTIN, LOT)
_URL = _STAMP.url(PUBLIC_URL)


@settings(max_examples=300)
@given(
    st.lists(
        st.tuples(
            st.integers(0, len(_URL)),
            st.sampled_from(["insert", "replace", "delete"]),
            st.sampled_from([*"/?&=%#;:.-_ 01289AKSaks", "%2F", "10", "21", "22", "17"]),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_a_mangled_stamp_url_is_either_refused_or_the_same_stamp(edits: list) -> None:
    text = _URL
    for position, kind, piece in edits:
        position = min(position, len(text))
        if kind == "insert":
            text = text[:position] + piece + text[position:]
        elif kind == "replace":
            text = text[:position] + piece + text[position + 1 :]
        else:
            text = text[:position] + text[position + 1 :]
    for public_url in (PUBLIC_URL, None):
        try:
            stamp = parse_scanned_text(text, public_url)
        except StampFormatError as exc:
            assert exc.reason
            continue
        if RING.verify(stamp) is not None:
            # Whatever the spelling, a verifying text means exactly the issued stamp.
            assert stamp == _STAMP
