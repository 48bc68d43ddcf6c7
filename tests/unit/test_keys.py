"""Keys as verifiers see them: JWKs, key rings, kid collisions."""

from __future__ import annotations

import os

import pytest

from traceqr.domain.keys import (
    KeyFormatError,
    KeyRing,
    PublicKey,
    StampSigner,
    generate_seed,
    parse_kid_text,
)


def test_a_jwk_round_trips_and_never_carries_a_private_part() -> None:
    signer = StampSigner(bytes.fromhex("a1b2c3d4"), generate_seed())
    key = PublicKey(signer.kid, signer.public_key, business_id=7, business_name="Gốm Bát Tràng")
    jwk = key.to_jwk()
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519" and jwk["kid"] == "a1b2c3d4"
    assert "d" not in jwk
    assert PublicKey.from_jwk(jwk) == key


def test_a_jwk_with_a_private_key_is_refused() -> None:
    jwk = PublicKey(bytes(4), bytes(32)).to_jwk() | {"d": "secret"}
    with pytest.raises(KeyFormatError, match="private"):
        PublicKey.from_jwk(jwk)


@pytest.mark.parametrize(
    "document",
    [[], {"keys": "no"}, {"nokeys": []}, {"keys": [{"kty": "OKP", "crv": "Ed25519"}]}],
)
def test_malformed_key_sets_are_refused(document: object) -> None:
    with pytest.raises(KeyFormatError):
        KeyRing.from_jwks(document)


def test_other_key_types_in_a_jwks_are_skipped() -> None:
    signer = StampSigner(bytes(4), generate_seed())
    document = {
        "keys": [
            {"kty": "RSA", "n": "x", "e": "AQAB"},
            PublicKey(signer.kid, signer.public_key).to_jwk(),
        ]
    }
    assert len(KeyRing.from_jwks(document)) == 1


def test_keys_sharing_a_kid_are_all_tried() -> None:
    first = StampSigner(bytes.fromhex("00000001"), generate_seed())
    second = StampSigner(bytes.fromhex("00000001"), generate_seed())
    ring = KeyRing(
        [PublicKey(first.kid, first.public_key), PublicKey(second.kid, second.public_key)]
    )
    assert ring.verify(second.issue(os.urandom(10))).key == second.public_key  # type: ignore[union-attr]
    assert ring.verify(first.issue(os.urandom(10))).key == first.public_key  # type: ignore[union-attr]


@pytest.mark.parametrize("text", ["", "zz", "a1b2c3", "a1b2c3d4e5"])
def test_bad_kids_are_refused(text: str) -> None:
    with pytest.raises(KeyFormatError):
        parse_kid_text(text)
