"""Verifying a scanned text with nothing but a key set: what ``traceqr verify`` answers.

Offline there is no registry: no scan counts, no revocations, no recalls, and no issue
time. What can be decided is who signed (a key the root certified) and what the root says
of that key now: a test key's stamps are test stamps; a key compromised, or whose
producer's verification was withdrawn, from a time T cannot vouch offline for any stamp,
since a stamp carries no time (the answer is "uncertain: check online"), unless the caller
knows the stamp's issue time from the registry (``traceqr verify`` without ``--keys``).
The answer is a plain dict: the CLI prints it as JSON, and the reason codes are those of
docs/stamp-format.md and docs/keys.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from traceqr.domain.dates import VIETNAM_TZ
from traceqr.domain.digital_link import parse_digital_link
from traceqr.domain.keys import KeyRing
from traceqr.domain.stamp_format import (
    FORMAT_V2,
    StampFormatError,
    parse_scanned_text,
    serial_text,
    short_code,
)

# serial -> when the registry says the stamp was issued (None: no such stamp)
IssueTimeLookup = Callable[[bytes], datetime | None]


def verify_offline(
    text: str,
    ring: KeyRing,
    rejected: Mapping[str, str] | None = None,
    issue_time: IssueTimeLookup | None = None,
) -> dict[str, Any]:
    """The offline answer for ``text``: ``valid`` and, when not, ``reason`` and
    ``message``; ``uncertain`` when only the online check can tell."""
    rejected = rejected or {}
    result: dict[str, Any] = {"valid": False, "text": text.strip()[:300]}
    try:
        stamp = parse_scanned_text(text, None)
    except StampFormatError as exc:
        result["reason"] = exc.reason
        result["message"] = str(exc)
        return result
    result.update(
        serial=serial_text(stamp.serial),
        short_code=short_code(stamp.serial),
        kid=stamp.kid.hex(),
        format_version=stamp.version,
    )
    if stamp.version == FORMAT_V2:
        result.update(gtin=stamp.gtin, lot=stamp.lot)
        result["url_prefix"] = parse_digital_link(text.strip()).base_url.upper()
    elif "/" in text:
        result["url_prefix"] = text.strip().upper().rsplit("/S/", 1)[0]
    key = ring.verify(stamp)
    if key is None and stamp.kid.hex() in rejected:
        result["reason"] = "uncertified_key"
        result["message"] = (
            f"key {stamp.kid.hex()} is not vouched for by the root: {rejected[stamp.kid.hex()]}"
        )
        return result
    if key is None:
        known = stamp.kid in ring
        result["reason"] = "bad_signature" if known else "unknown_key"
        result["message"] = (
            "the signature does not match: altered or forged"
            if known
            else f"no key {stamp.kid.hex()} in the key set"
        )
        return result
    result.update(valid=True, business_id=key.business_id, key_status=key.status)
    if key.is_test:
        result.update(
            valid=False,
            signature_valid=True,
            test=True,
            reason="test_stamp",
            message="TEST STAMP — not for products (TEM THỬ — không dùng cho sản phẩm): "
            "its business has not been verified",
        )
        return result
    result["test"] = False
    result["business_name"] = key.business_name
    result["producer"] = dict(key.producer) if key.producer else None
    issued_at = issue_time(stamp.serial) if issue_time is not None else None
    known = issue_time is not None
    _time_bound(
        result,
        "key_compromised",
        key.compromised_at,
        f"key {result['kid']} was reported compromised from {key.compromised_at}",
        issued_at,
        known,
    )
    if result["valid"]:
        _time_bound(
            result,
            "verification_withdrawn",
            key.withdrawn_at,
            f"the producer's verification was withdrawn from {key.withdrawn_at}",
            issued_at,
            known,
        )
    if result["valid"] and key.withdrawn_at is not None:
        result["producer_withdrawn_at"] = key.withdrawn_at
    return result


def _time_bound(
    result: dict[str, Any],
    reason: str,
    since: str | None,
    what: str,
    issued_at: datetime | None,
    known: bool,
) -> None:
    """Apply "nothing signed from ``since`` on is vouched for" to an offline result.
    ``known``: the issue time comes from the registry (``issued_at`` None then means no
    record)."""
    if since is None:
        return
    result[f"{reason}_at" if reason != "key_compromised" else "key_compromised_at"] = since
    if known and issued_at is not None and issued_at < datetime.fromisoformat(since):
        result["issued_at"] = issued_at.isoformat()
        return  # signed before: still good
    result.update(valid=False, signature_valid=True, reason=reason)
    if known:
        result["message"] = f"{what}, and " + (
            f"this stamp was issued at {issued_at.isoformat()}, after that"
            if issued_at is not None
            else "no stamp with this serial was ever issued"
        )
        if issued_at is not None:
            result["issued_at"] = issued_at.isoformat()
    else:
        result["uncertain"] = True
        result["message"] = (
            f"{what}; stamps signed before then are genuine, but a stamp carries no issue "
            "time: check this one online"
        )


def producer_line(producer: Mapping[str, Any] | None) -> str:
    """The verified-producer line, as the stamp page says it in Vietnamese."""
    if not producer:
        return "Nhà sản xuất chưa được xác minh (producer not verified)"
    parts = [f"Nhà sản xuất đã xác minh: {producer['legal_name']}"]
    if producer.get("tax_code"):
        parts.append(f"MST {producer['tax_code']}")
    line = ", ".join(parts)
    verified_at = producer.get("verified_at")
    if isinstance(verified_at, str):
        try:
            day = datetime.fromisoformat(verified_at).astimezone(VIETNAM_TZ).strftime("%d/%m/%Y")
        except ValueError:
            day = verified_at
        line += f", xác minh ngày {day}"
    if producer.get("verified_by"):
        line += f" ({producer['verified_by']})"
    return line
