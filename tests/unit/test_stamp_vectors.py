"""The committed test vectors are the stamp format's ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from traceqr.domain.keys import KeyRing, PublicKey, StampSigner
from traceqr.domain.stamp_format import (
    StampFormatError,
    parse_scanned_text,
    serial_text,
    short_code,
    signed_message,
)

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "stamp-v1.json").read_text())
VALID = VECTORS["valid"]


@pytest.mark.parametrize("vector", VALID, ids=[v["name"] for v in VALID])
def test_our_code_reproduces_each_vector(vector: dict) -> None:
    kid, serial = bytes.fromhex(vector["kid"]), bytes.fromhex(vector["serial"])
    signer = StampSigner(kid, bytes.fromhex(vector["seed"]))
    stamp = signer.issue(serial)
    assert signer.public_key.hex() == vector["public_key"]
    assert signed_message(kid, serial).hex() == vector["signed_message"]
    assert stamp.signature.hex() == vector["signature"]
    assert stamp.to_bytes().hex() == vector["stamp_bytes"]
    assert stamp.code == vector["code"]
    assert stamp.url(vector["public_url"]) == vector["url"]
    assert serial_text(serial) == vector["serial_text"]
    assert short_code(serial) == vector["short_code"]
    assert PublicKey(kid, signer.public_key).to_jwk() == vector["jwk"]


@pytest.mark.parametrize("vector", VALID, ids=[v["name"] for v in VALID])
def test_an_independent_ed25519_agrees(vector: dict) -> None:
    """OpenSSL (through `cryptography`) signs and verifies the same bytes."""
    private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(vector["seed"]))
    message = bytes.fromhex(vector["signed_message"])
    assert private.sign(message).hex() == vector["signature"]
    public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(vector["public_key"]))
    public.verify(bytes.fromhex(vector["signature"]), message)  # raises if wrong


@pytest.mark.parametrize("vector", VALID, ids=[v["name"] for v in VALID])
def test_each_vector_url_parses_and_verifies_with_its_jwk(vector: dict) -> None:
    ring = KeyRing.from_jwks({"keys": [vector["jwk"]]})
    stamp = parse_scanned_text(vector["url"], vector["public_url"])
    assert ring.verify(stamp) is not None
    assert stamp.serial.hex() == vector["serial"]


@pytest.mark.parametrize(
    "case", VECTORS["invalid"], ids=[case["name"] for case in VECTORS["invalid"]]
)
def test_each_invalid_vector_is_refused_with_its_reason(case: dict) -> None:
    ring = KeyRing.from_jwks({"keys": [VALID[0]["jwk"]]})
    if case["reason"] == "bad_signature":
        stamp = parse_scanned_text(case["text"], VALID[0]["public_url"])
        assert ring.verify(stamp) is None
        return
    with pytest.raises(StampFormatError) as error:
        parse_scanned_text(case["text"], VALID[0]["public_url"])
    assert error.value.reason == case["reason"]


@pytest.mark.parametrize(
    "case",
    VECTORS["equivalent_spellings"],
    ids=[case["name"] for case in VECTORS["equivalent_spellings"]],
)
def test_case_and_surrounding_space_do_not_matter(case: dict) -> None:
    stamp = parse_scanned_text(case["text"], VALID[0]["public_url"])
    assert stamp.code == VALID[0]["code"]
