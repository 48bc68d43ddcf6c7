"""Root certificates: an offline verifier accepts a business key only as the root states it."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from traceqr.domain.key_certs import (
    CertificateError,
    certified_ring,
    certify,
    check_certificate,
    embedded_root,
    parse_roots,
    root_jwk,
    root_matches_pin,
    thumbprint,
)
from traceqr.domain.keys import KEY_COMPROMISED, KeyFormatError, PublicKey, StampSigner

ROOT = StampSigner(bytes.fromhex("0a0b0c0d"), bytes(range(32)))
OTHER_ROOT = StampSigner(bytes.fromhex("0a0b0c0e"), bytes(range(1, 33)))
BUSINESS = StampSigner(bytes.fromhex("1a2b3c4d"), bytes(range(2, 34)))
ROOT_KEY = PublicKey(ROOT.kid, ROOT.public_key)


def business_key(**facts: Any) -> PublicKey:
    return PublicKey(
        BUSINESS.kid,
        BUSINESS.public_key,
        business_id=7,
        business_name="Gốm Chu Đậu",
        created_at="2026-01-01T00:00:00+00:00",
        **facts,
    )


def certified_jwk(key: PublicKey, root: StampSigner = ROOT) -> dict[str, Any]:
    jwk = key.to_jwk()
    jwk["traceqr_cert"] = certify(key, root, certified_at="2026-11-28T00:00:00+00:00")
    return jwk


def test_the_thumbprint_is_rfc_8037s() -> None:
    # RFC 8037, appendix A.3: the thumbprint of the example Ed25519 key.
    x = base64.urlsafe_b64decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
    assert thumbprint(x) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_a_certified_key_is_taken_as_its_certificate_states() -> None:
    jwk = certified_jwk(
        business_key(status=KEY_COMPROMISED, compromised_at="2026-11-20T01:00:00+00:00")
    )
    # Unsigned members say otherwise; the certificate wins.
    jwk.update(traceqr_status="active", traceqr_business_id=99, traceqr_business_name="Giả mạo")
    jwk.pop("traceqr_compromised_at")
    checked = check_certificate(jwk, [ROOT_KEY])
    assert checked.key.status == KEY_COMPROMISED
    assert checked.key.compromised_at == "2026-11-20T01:00:00+00:00"
    assert (checked.key.business_id, checked.key.business_name) == (7, "Gốm Chu Đậu")
    assert checked.root_kid == ROOT.kid


@pytest.mark.parametrize(
    "spoil",
    [
        lambda jwk: jwk.pop("traceqr_cert"),
        lambda jwk: jwk.update(
            x=base64.urlsafe_b64encode(OTHER_ROOT.public_key).decode().rstrip("=")
        ),
        lambda jwk: jwk.update(kid="1a2b3c4e"),
        lambda jwk: jwk.update(traceqr_cert=jwk["traceqr_cert"][:-3] + "AAA"),
        lambda jwk: jwk.update(traceqr_cert="not.a.jws"),
        lambda jwk: jwk.update(traceqr_cert=_with_claims(jwk["traceqr_cert"], status="active")),
    ],
    ids=["missing", "other-key", "other-kid", "bad-signature", "garbage", "edited-claims"],
)
def test_a_key_without_a_valid_certificate_is_refused(spoil: Any) -> None:
    jwk = certified_jwk(business_key(status="retired"))
    spoil(jwk)
    with pytest.raises(KeyFormatError):
        check_certificate(jwk, [ROOT_KEY])


def _with_claims(token: str, **changes: Any) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{header}.{forged}.{signature}"


def test_a_certificate_from_another_root_is_refused() -> None:
    jwk = certified_jwk(business_key(), root=OTHER_ROOT)
    with pytest.raises(CertificateError, match="trusted root"):
        check_certificate(jwk, [ROOT_KEY])
    with pytest.raises(CertificateError):
        check_certificate(jwk, [])


def test_a_ring_keeps_certified_keys_and_names_the_rest() -> None:
    good = certified_jwk(business_key())
    other = PublicKey(OTHER_ROOT.kid, OTHER_ROOT.public_key, business_id=8)
    bad = other.to_jwk()  # no certificate
    service = {**good, "kid": "00000001", "traceqr_role": "service"}
    result = certified_ring({"keys": [good, bad, service, {"kty": "RSA"}]}, [ROOT_KEY])
    assert [k.kid for k in result.ring] == [BUSINESS.kid]
    assert [kid for kid, _why in result.rejected] == [OTHER_ROOT.kid.hex()]


def test_root_documents_and_pins() -> None:
    jwk = root_jwk(ROOT.kid, ROOT.public_key, "2026-01-01T00:00:00+00:00")
    assert "d" not in jwk and jwk["traceqr_role"] == "root"
    assert parse_roots({"keys": [jwk]})[0].key == ROOT.public_key
    assert parse_roots(jwk)[0].kid == ROOT.kid
    assert embedded_root({"keys": [], "traceqr_root": {"keys": [jwk]}})[0].key == ROOT.public_key
    assert embedded_root({"keys": []}) == []
    assert root_matches_pin(ROOT_KEY, thumbprint(ROOT.public_key))
    assert root_matches_pin(ROOT_KEY, " 0A0B0C0D ")
    assert not root_matches_pin(ROOT_KEY, thumbprint(OTHER_ROOT.public_key))
    with pytest.raises(KeyFormatError):
        parse_roots({"keys": [{**jwk, "traceqr_role": "business"}]})
    with pytest.raises(KeyFormatError):
        parse_roots([jwk])
