"""Signed JSON documents (inspectors' case files): canonical bytes, Ed25519, a context.

The signature covers ``b"TRACEQR-DOCUMENT-V1\\x00" + kind + b"\\x00" + canonical JSON`` of the
document without its ``signature`` member, where canonical JSON is UTF-8 with sorted keys
and no insignificant white space. Anyone with the service's public key (published in
/.well-known/jwks.json) can check that nothing was changed.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from traceqr.domain.keys import KeyRing, StampSigner, kid_text, parse_kid_text, verify_signature

CONTEXT = b"TRACEQR-DOCUMENT-V1\x00"


class DocumentError(ValueError):
    """A document that is not signed, or whose signature does not hold."""


def canonical_json(document: dict[str, Any]) -> bytes:
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _message(kind: str, document: dict[str, Any]) -> bytes:
    return CONTEXT + kind.encode("ascii") + b"\x00" + canonical_json(document)


def sign_document(kind: str, document: dict[str, Any], signer: StampSigner) -> dict[str, Any]:
    """The document with a ``signature`` member added."""
    body = {k: v for k, v in document.items() if k != "signature"}
    signature = signer.sign(_message(kind, body))
    return {
        **body,
        "signature": {
            "alg": "EdDSA",
            "kid": kid_text(signer.kid),
            "kind": kind,
            "value": base64.urlsafe_b64encode(signature).decode("ascii").rstrip("="),
        },
    }


def verify_document(document: Any, ring: KeyRing) -> str:
    """The kid of the key that signed ``document``; DocumentError if it does not hold."""
    if not isinstance(document, dict) or not isinstance(document.get("signature"), dict):
        raise DocumentError("the document carries no signature")
    sig = document["signature"]
    try:
        kid = parse_kid_text(str(sig["kid"]))
        kind = str(sig["kind"])
        value = str(sig["value"])
        signature = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (KeyError, ValueError) as exc:
        raise DocumentError("the signature is malformed") from exc
    body = {k: v for k, v in document.items() if k != "signature"}
    message = _message(kind, body)
    for key in ring.candidates(kid):
        if verify_signature(key.key, message, signature):
            return kid_text(kid)
    if kid not in ring:
        raise DocumentError(f"no key {kid_text(kid)} in the key set")
    raise DocumentError("the signature does not match: the document was changed")
