"""Writes stamp-v2.json: the test vectors of stamp format version 2 (GS1 Digital Link).

Run once when version 2 was defined; the vectors are committed and must never change
(Ed25519 is deterministic). tests/unit/test_stamp_v2.py checks that the code still
produces them and that an independent Ed25519 implementation (OpenSSL through
`cryptography`) verifies them.

    .venv/bin/python tests/vectors/generate_stamp_v2_vectors.py > tests/vectors/stamp-v2.json
"""

from __future__ import annotations

import hashlib
import json
import sys

from traceqr.domain.codec import RFC4648_ALPHABET, base32_encode
from traceqr.domain.keys import PublicKey, StampSigner
from traceqr.domain.stamp_format import (
    issue_v2,
    serial_text,
    short_code,
    signed_message_v2,
)

PUBLIC_URL = "https://traceqr.example.vn"

# name, seed, kid, serial, GTIN as the business typed it, lot
CASES = [
    (
        "counting bytes, Vietnamese GTIN-13",
        bytes(range(32)),
        "0a1b2c3d",
        "00112233445566778899",
        "8934588012228",
        "BT-2611-A",
    ),
    (
        "GTIN-8 and a lot that needs percent-encoding",
        hashlib.sha256(b"traceqr v2 vector 2").digest(),
        "ffffffff",
        "ff" * 10,
        "96385074",
        "2026/11+A%1",
    ),
    (
        "GS1 example GTIN, one lower-case letter as lot",
        bytes(32),
        "00000000",
        "00" * 10,
        "09506000134352",
        "a",
    ),
    (
        "twenty characters: every CSET 82 symbol",
        hashlib.sha256(b"traceqr v2 vector 4").digest(),
        "8d3e0f42",
        "0123456789abcdef0123",
        "614141000036",
        "!\"%&'()*+,-./:;<=>?_",
    ),
]


def valid_vector(
    name: str, seed: bytes, kid_hex: str, serial_hex: str, gtin: str, lot: str
) -> dict[str, object]:
    kid, serial = bytes.fromhex(kid_hex), bytes.fromhex(serial_hex)
    signer = StampSigner(kid, seed)
    stamp = issue_v2(signer, serial, gtin, lot)
    assert stamp.gtin is not None
    return {
        "name": name,
        "public_url": PUBLIC_URL,
        "seed": seed.hex(),
        "public_key": signer.public_key.hex(),
        "jwk": PublicKey(kid, signer.public_key).to_jwk(),
        "kid": kid_hex,
        "serial": serial_hex,
        "serial_text": serial_text(serial),
        "short_code": short_code(serial),
        "gtin_as_given": gtin,
        "gtin": stamp.gtin,
        "lot": lot,
        "signed_message": signed_message_v2(kid, serial, stamp.gtin, lot).hex(),
        "signature": stamp.signature.hex(),
        "signature_text": base32_encode(stamp.signature),
        "url": stamp.url(PUBLIC_URL),
        "gs1_elements": [["01", stamp.gtin], ["10", lot], ["21", serial_text(serial)]],
    }


def invalid_vectors(valid: dict[str, object]) -> list[dict[str, object]]:
    url = str(valid["url"])
    base, _, query = url.partition("?")
    signature_text = str(valid["signature_text"])
    signature = bytes.fromhex(str(valid["signature"]))
    # 64 bytes = 512 bits in 103 characters (515 bits): the last character carries 3
    # unused bits. Setting the lowest keeps the bytes but is not the canonical spelling.
    last = RFC4648_ALPHABET.index(signature_text[-1])
    non_canonical = signature_text[:-1] + RFC4648_ALPHABET[last | 1]
    flipped = bytearray(signature)
    flipped[0] ^= 0x01
    kid_part, signature_part = query.split("&")
    other_gtin = "09506000134352"
    return [
        {
            "name": "a GS1 Digital Link without K and S (GS1 DL standard example)",
            "text": "https://id.gs1.org/01/09506000134352/10/ABC/21/123?17=201225",
            "reason": "unsigned_digital_link",
        },
        {
            "name": "no key id",
            "text": f"{base}?{signature_part}",
            "reason": "missing_key_id",
        },
        {"name": "no signature", "text": f"{base}?{kid_part}", "reason": "missing_signature"},
        {
            "name": "key id of 7 digits",
            "text": url.replace("K=0A1B2C3D", "K=0A1B2C3"),
            "reason": "bad_key_id",
        },
        {
            "name": "signature one character short",
            "text": url[:-1],
            "reason": "bad_signature_encoding",
        },
        {
            "name": "signature with unused trailing bits set",
            "text": url.replace(signature_text, non_canonical),
            "reason": "bad_signature_encoding",
        },
        {
            "name": "signature with a character outside base32",
            "text": url[:-1] + "1",
            "reason": "bad_signature_encoding",
        },
        {
            "name": "signature bit flipped",
            "text": url.replace(signature_text, base32_encode(bytes(flipped))),
            "reason": "bad_signature",
        },
        {
            "name": "lot altered",
            "text": url.replace("/10/BT-2611-A/", "/10/BT-2611-B/"),
            "reason": "bad_signature",
        },
        {
            "name": "GTIN replaced by another valid GTIN",
            "text": url.replace(str(valid["gtin"]), other_gtin),
            "reason": "bad_signature",
        },
        {
            "name": "serial not Crockford base32 (U)",
            "text": url.replace(str(valid["serial_text"]), "U" * 16),
            "reason": "bad_serial",
        },
        {
            "name": "serial one character short",
            "text": url.replace(str(valid["serial_text"]), str(valid["serial_text"])[:-1]),
            "reason": "bad_serial",
        },
        {
            "name": "no lot",
            "text": url.replace("/10/BT-2611-A", ""),
            "reason": "not_a_stamp_link",
        },
        {
            "name": "a consumer product variant (22) besides",
            "text": url.replace("/10/", "/22/V1/10/"),
            "reason": "not_a_stamp_link",
        },
        {
            "name": "an expiry date the signature does not cover",
            "text": url.replace("?", "?17=291231&"),
            "reason": "unsigned_data",
        },
        {
            "name": "signature given twice",
            "text": f"{url}&{signature_part}",
            "reason": "duplicate_parameter",
        },
        {
            "name": "GTIN check digit wrong",
            "text": url.replace(str(valid["gtin"]), str(valid["gtin"])[:-1] + "9"),
            "reason": "bad_gtin",
        },
        {
            "name": "serial before lot",
            "text": url.replace(
                f"/10/BT-2611-A/21/{valid['serial_text']}",
                f"/21/{valid['serial_text']}/10/BT-2611-A",
            ),
            "reason": "bad_order",
        },
        {
            "name": "another service's host",
            "text": url.replace("HTTPS://TRACEQR.EXAMPLE.VN", "HTTPS://EVIL.EXAMPLE.VN"),
            "reason": "foreign_url",
        },
        {
            "name": "a broken percent escape in the lot",
            "text": url.replace("/10/BT-2611-A/", "/10/BT%2-2611-A/"),
            "reason": "bad_percent_encoding",
        },
    ]


def equivalent_spellings(valid: dict[str, object]) -> list[dict[str, object]]:
    url = str(valid["url"])
    base, _, query = url.partition("?")
    kid_part, signature_part = query.split("&")
    host = "HTTPS://TRACEQR.EXAMPLE.VN"
    serial = str(valid["serial_text"])
    must = [
        ("scheme and host in lower case", url.replace(host, "https://traceqr.example.vn")),
        ("surrounding white space", "  " + url + "\n"),
        (
            "K and S in lower case, values too",
            f"{base}?{kid_part.lower()}&{signature_part.lower()}",
        ),
        ("serial in lower case", url.replace(serial, serial.lower())),
        ("S before K", f"{base}?{signature_part}&{kid_part}"),
        ("a parameter some scanner app added", f"{url}&utm_source=zalo"),
        ("a fragment", f"{url}#top"),
    ]
    should = [
        (
            "GTIN-13 as printed on the pack",
            url.replace("/01/08934588012228/", "/01/8934588012228/"),
        ),
        (
            "Digital Link 1.1 short names",
            url.replace("/01/", "/gtin/").replace("/10/", "/lot/").replace("/21/", "/ser/"),
        ),
        (
            "a percent-encoded unreserved character",
            url.replace("/10/BT-2611-A/", "/10/%42T-2611-A/"),
        ),
        ("a trailing slash", f"{base}/?{query}"),
        ("parameters separated by ;", f"{base}?{kid_part};{signature_part}"),
    ]
    return [{"name": name, "level": "MUST", "text": text} for name, text in must] + [
        {"name": name, "level": "SHOULD", "text": text} for name, text in should
    ]


def main() -> None:
    valid = [valid_vector(*case) for case in CASES]
    document = {
        "format": "TraceQR stamp format, version 2 (docs/stamp-format.md §9)",
        "valid": valid,
        "invalid": invalid_vectors(valid[0]),
        "equivalent_spellings": equivalent_spellings(valid[0]),
    }
    json.dump(document, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
