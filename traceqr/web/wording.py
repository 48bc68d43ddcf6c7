"""What verdicts and reason codes say to people, in their language.

The keys are the stable status and reason codes; the texts are gettext messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel.speaklater import LazyString

from traceqr.web.i18n import lazy_gettext as _l


@dataclass(frozen=True)
class VerdictWording:
    tone: str  # good, warn, bad: the page's colour and icon
    headline: LazyString
    explanation: LazyString
    advice: LazyString


VERDICTS: dict[str, VerdictWording] = {
    "genuine": VerdictWording(
        "good",
        _l("Genuine product"),
        _l("This stamp was issued by the producer below and is registered with TraceQR."),
        _l("Check that the product matches the description below."),
    ),
    "suspicious": VerdictWording(
        "warn",
        _l("Warning: this stamp may be a copy"),
        _l("The stamp is real, but the way it has been checked looks like copying."),
        _l(
            "If you are buying, ask the seller for proof of origin, and report the product "
            "below if something seems wrong."
        ),
    ),
    "revoked": VerdictWording(
        "bad",
        _l("This stamp has been revoked"),
        _l("The producer has cancelled this stamp. It no longer proves the product is genuine."),
        _l("Do not rely on this stamp. Ask the seller or contact the producer."),
    ),
    "recalled": VerdictWording(
        "bad",
        _l("This batch has been recalled"),
        _l("The producer has recalled every product of this batch."),
        _l("Do not use the product. Return it to the seller or contact the producer."),
    ),
    "inactive": VerdictWording(
        "warn",
        _l("This stamp is not activated yet"),
        _l(
            "The stamp was issued but the producer has not released it for sale. A product "
            "on a shelf should not carry an inactive stamp."
        ),
        _l("Ask the seller, or contact the producer below."),
    ),
    "invalid": VerdictWording(
        "bad",
        _l("Not a genuine stamp"),
        _l("This code was not issued through TraceQR. The product may be counterfeit."),
        _l(
            "Check that you scanned the stamp's QR code. If you typed the code, check it "
            "again. Otherwise, do not buy the product and report it to the market "
            "surveillance office."
        ),
    ),
    "unregistered": VerdictWording(
        "bad",
        _l("Warning: stamp not registered"),
        _l(
            "The code carries a valid signature, but no such stamp was ever registered. "
            "This can mean stolen or forged stamps."
        ),
        _l("Do not buy the product. The producer and the service operator have been alerted."),
    ),
}

# A test stamp (an unverified business's): whatever else its check says, never a product's.
TEST_STAMP = VerdictWording(
    "bad",
    _l("TEST STAMP — not for products"),
    _l(
        "This stamp was printed by a business TraceQR has not verified yet, to try its "
        "stamps out. It proves nothing about a product."
    ),
    _l(
        "A product for sale must not carry a test stamp. Do not buy it, and report it below "
        "or to the market surveillance office."
    ),
)

REASONS: dict[str, LazyString] = {
    "malformed_code": _l("The scanned text is not a TraceQR stamp code."),
    "foreign_url": _l("The QR code points to another website, not to this service."),
    "unknown_key": _l("The code names a signing key that this service never used."),
    "bad_signature": _l("The code's signature does not match: the code was altered or forged."),
    "key_compromised": _l(
        "The producer's signing key was reported stolen, and this stamp was signed after "
        "that time: it cannot be trusted."
    ),
    "no_record": _l("No stamp with this serial number was ever issued."),
    "key_mismatch": _l("The serial number belongs to a stamp signed with a different key."),
    "stamp_revoked": _l("The producer revoked this stamp."),
    "batch_recalled": _l("The producer recalled this batch."),
    "stamp_inactive": _l("The stamp has not been activated by the producer."),
    "scan_count_high": _l("This stamp has been checked far more often than a genuine one is."),
    "impossible_travel": _l(
        "This stamp was checked in places too far apart for the time between the checks: "
        "there are copies of it."
    ),
    "many_clients": _l("This stamp has been checked from far more phones than one product is."),
    "scanned_after_claim": _l(
        "Its first buyer claimed this product with the PIN, yet others keep checking the stamp."
    ),
    "flagged_by_inspector": _l("Market inspectors have flagged this stamp or its batch."),
    "expired": _l("The product is past its expiry date."),
    "test_stamp": _l(
        "A test stamp: its business has not been verified by TraceQR, so it may not put "
        "stamps on goods."
    ),
    "verification_withdrawn": _l(
        "The producer's verification was withdrawn, and this stamp was issued after that "
        "time: it cannot be trusted."
    ),
    "producer_withdrawn": _l(
        "This stamp was issued before its producer's verification was withdrawn; the "
        "producer is no longer vouched for."
    ),
    "bad_check": _l("The code you typed has a typing mistake."),
    "unknown_short_code": _l("No stamp has the code you typed."),
}


def verdict_wording(status: str, test: bool = False) -> VerdictWording:
    """What a verdict says; a test stamp says so whatever its status (unless it is not
    ours at all)."""
    if test and status not in ("invalid", "unregistered"):
        return TEST_STAMP
    return VERDICTS[status]


def reason_text(reason: str) -> str:
    text = REASONS.get(reason)
    return str(text) if text is not None else reason


JOB_STATUSES: dict[str, LazyString] = {
    "queued": _l("Waiting to start"),
    "running": _l("Issuing…"),
    "done": _l("Done"),
    "failed": _l("Failed"),
}

READINESS: dict[str, LazyString] = {
    "product_name": _l("Product name"),
    "product_images": _l("Product photos"),
    "business_name": _l("Name of the producer"),
    "business_address": _l("Producer's address with its province (business profile)"),
    "origin": _l("Origin (xuất xứ)"),
    "standards": _l("Standards applied"),
    "production_date": _l("Production date (NSX)"),
    "stage_recorded": _l("Production stage: the facility where it was made"),
    "expiry_date": _l("Expiry date (HSD), if the product has one"),
    "stamps_issued": _l("Traceability codes: issue the stamps"),
}


# What each GS1 CBV business step means to a shopper reading a batch's journey.
BIZ_STEPS: dict[str, LazyString] = {
    "commissioning": _l("Harvested or produced"),
    "receiving": _l("Received"),
    "accepting": _l("Accepted"),
    "inspecting": _l("Inspected"),
    "storing": _l("Stored"),
    "transforming": _l("Processed"),
    "packing": _l("Packed"),
    "shipping": _l("Shipped"),
    "departing": _l("Departed"),
    "arriving": _l("Arrived"),
    "retail_selling": _l("On sale at the shop"),
    "destroying": _l("Destroyed"),
    "decommissioning": _l("Taken out of use"),
    "holding": _l("Held back"),
    "recalling": _l("Recalled"),
}

UNITS: dict[str, LazyString] = {
    "KGM": _l("kg"),
    "GRM": _l("g"),
    "TNE": _l("tonnes"),
    "LTR": _l("litres"),
    "MLT": _l("ml"),
    "EA": _l("pieces"),
    "H87": _l("pieces"),
    "CT": _l("cartons"),
    "BX": _l("boxes"),
    "PK": _l("packs"),
    "MTR": _l("m"),
}


SHIPMENT_STATUSES: dict[str, LazyString] = {
    "sent": _l("Waiting for the partner"),
    "accepted": _l("Accepted"),
    "refused": _l("Refused"),
}


def step_text(step: str) -> str:
    text = BIZ_STEPS.get(step)
    return str(text) if text is not None else step.replace("_", " ")


def unit_text(unit: str | None) -> str:
    if not unit:
        return ""
    text = UNITS.get(unit)
    return str(text) if text is not None else unit


def event_time_text(event_time: datetime, offset: str) -> str:
    """``07:30 02/11/2026`` in the zone it happened in; the offset is named unless it is
    Vietnam's."""
    from traceqr.domain.trace import VIETNAM_OFFSET, zone

    try:
        local = event_time.astimezone(zone(offset))
    except ValueError:
        local, offset = event_time, VIETNAM_OFFSET
    text = local.strftime("%H:%M %d/%m/%Y")
    return text if offset == VIETNAM_OFFSET else f"{text} (UTC{offset})"


def facility_kind_text(kind: str | None) -> str:
    from traceqr.web.portal.forms import FACILITY_KINDS

    return next((str(label) for code, label in FACILITY_KINDS if code == kind), kind or "")


def template_helpers() -> dict[str, object]:
    from traceqr.domain.provinces import province
    from traceqr.domain.stamp_format import short_code

    return {
        "verdict_wording": verdict_wording,
        "step_text": step_text,
        "shipment_status_text": lambda status: str(SHIPMENT_STATUSES.get(status, status)),
        "facility_kind_text": facility_kind_text,
        "event_time_text": event_time_text,
        "unit_text": unit_text,
        "reason_text": reason_text,
        "job_status_text": lambda status: str(JOB_STATUSES.get(status, status)),
        "readiness_text": lambda code: str(READINESS.get(code, code)),
        "short_code_of": short_code,
        "province_name": lambda code: province(code).name_vi if province(code) else code,
    }
