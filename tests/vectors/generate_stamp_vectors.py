"""Writes stamp-v1.json: the stamp format's test vectors.

Run once when the format was defined; the vectors are committed and must never change
(Ed25519 is deterministic). tests/unit/test_stamp_vectors.py checks that the code still
produces them and that an independent Ed25519 implementation (OpenSSL through
`cryptography`) verifies them.

    .venv/bin/python tests/vectors/generate_stamp_vectors.py > tests/vectors/stamp-v1.json
"""

from __future__ import annotations

import hashlib
import json
import sys

from traceqr.domain.codec import base32_encode
from traceqr.domain.keys import PublicKey, StampSigner
from traceqr.domain.stamp_format import serial_text, short_code, signed_message

PUBLIC_URL = "https://traceqr.example.vn"

CASES = [
    ("counting bytes", bytes(range(32)), "0a1b2c3d", "00112233445566778899"),
    ("all ones", hashlib.sha256(b"traceqr vector 2").digest(), "ffffffff", "ff" * 10),
    ("all zeros", bytes(32), "00000000", "00" * 10),
]


def valid_vector(name: str, seed: bytes, kid_hex: str, serial_hex: str) -> dict[str, object]:
    kid, serial = bytes.fromhex(kid_hex), bytes.fromhex(serial_hex)
    signer = StampSigner(kid, seed)
    stamp = signer.issue(serial)
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
        "signed_message": signed_message(kid, serial).hex(),
        "signature": stamp.signature.hex(),
        "stamp_bytes": stamp.to_bytes().hex(),
        "code": stamp.code,
        "url": stamp.url(PUBLIC_URL),
    }


def invalid_vectors(valid: dict[str, object]) -> list[dict[str, object]]:
    code = str(valid["code"])
    raw = bytes.fromhex(str(valid["stamp_bytes"]))
    # 79 bytes = 632 bits in 127 characters (635 bits): the last character carries 3
    # unused bits. 'A' + 1 sets the lowest unused bit without changing the bytes.
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".index(code[-1])
    non_canonical = code[:-1] + "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[last | 1]
    flipped = bytearray(raw)
    flipped[-1] ^= 0x01
    version2 = bytearray(raw)
    version2[0] = 2
    return [
        {"name": "unused trailing bits set", "text": non_canonical, "reason": "non_canonical"},
        {
            "name": "signature bit flipped",
            "text": base32_encode(bytes(flipped)),
            "reason": "bad_signature",
        },
        {
            "name": "unknown format version",
            "text": base32_encode(bytes(version2)),
            "reason": "unknown_version",
        },
        {"name": "base32 padding", "text": code + "=", "reason": "bad_length"},
        {"name": "character outside base32", "text": code[:-1] + "1", "reason": "bad_character"},
        {"name": "one character short", "text": code[:-1], "reason": "bad_length"},
        {
            "name": "another service's URL",
            "text": "HTTPS://EVIL.EXAMPLE.VN/S/" + code,
            "reason": "foreign_url",
        },
    ]


def main() -> None:
    valid = [valid_vector(*case) for case in CASES]
    document = {
        "format": "TraceQR stamp format, version 1 (docs/stamp-format.md)",
        "valid": valid,
        "invalid": invalid_vectors(valid[0]),
        "equivalent_spellings": [
            {"name": "lower case code", "text": str(valid[0]["code"]).lower()},
            {"name": "lower case URL", "text": str(valid[0]["url"]).lower()},
            {"name": "surrounding white space", "text": "  " + str(valid[0]["url"]) + "\n"},
        ],
    }
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
