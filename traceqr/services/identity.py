"""Verified producers: who checked that a business is who it says it is (docs/identity.md).

A signature proves which key signed; only a checked identity ties that key to a real
producer. So a business that signs up on its own starts *unverified* and issues test
stamps only. It asks for verification with its legal identity and its business
registration certificate; a reviewer (an authority officer whose provinces cover it, or
the operator from the CLI) approves or rejects the request. Approval freezes the identity,
gives the business a live key whose root certificate names the checked identity, and makes
its tax code and GTINs its own: a unique index lets a tax code belong to one verified
business only, and a GTIN belongs to the first verified business to use it, under its GS1
company prefixes once they are recorded. A claim on another business's identity is refused
and left as an alert for reviewers. A verification withdrawn later (fraud found) marks the
business's live keys: their stamps issued from then on verify as ``invalid``.

Services flush; callers commit. Where a refusal must leave an alert behind, wrap the unit
of work in :func:`flagging_conflicts`.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from traceqr.domain.gs1 import normalize_gtin
from traceqr.domain.keys import KEY_ACTIVE, KEY_RETIRED, PURPOSE_LIVE, PURPOSE_TEST
from traceqr.domain.provinces import province
from traceqr.errors import N_, Conflict, NotFound, ValidationError
from traceqr.keystore import KeyStore
from traceqr.models import (
    Business,
    Cluster,
    Gs1Prefix,
    GtinOwner,
    IdentityAlert,
    Official,
    Product,
    SigningKey,
    VerificationRequest,
)
from traceqr.services import audit
from traceqr.services.validation import clean_since, clean_text, required_text

UNVERIFIED = "unverified"
VERIFIED = "verified"
WITHDRAWN = "withdrawn"

PENDING = "pending"
APPROVED = "approved"
REJECTED = "rejected"
CANCELLED = "cancelled"

# What approval freezes: the identity a shopper and a certificate are told about.
FROZEN_FIELDS = (
    "name",
    "legal_name",
    "tax_code",
    "address_street",
    "address_commune",
    "province_code",
    "legal_representative",
)
OPERATOR_BODY = "Nhà vận hành TraceQR"
NATIONAL_BODY = "Bộ Công Thương"
MAX_PREFIXES = 20

ALERT_TAX_CODE_TAKEN = "tax_code_taken"
ALERT_GTIN_TAKEN = "gtin_taken"
ALERT_GTIN_OUTSIDE_PREFIXES = "gtin_outside_prefixes"
ALERT_PREFIX_TAKEN = "prefix_taken"


# --- who reviews --------------------------------------------------------------------------


@dataclass(frozen=True)
class Reviewer:
    """Who decides: an authority officer (within their provinces) or the operator."""

    actor: str  # official:<id> or operator:<login>
    body: str  # the reviewing body a certificate names
    provinces: tuple[str, ...] = ()  # empty: everywhere

    @classmethod
    def operator(cls, login: str | None = None, body: str | None = None) -> Reviewer:
        name = clean_text(body, "by", max_length=200) if body else None
        return cls(f"operator:{login or 'cli'}", name or OPERATOR_BODY)

    @classmethod
    def official(cls, official: Official) -> Reviewer:
        codes = tuple(code for code in (official.provinces or "").split(",") if code)
        place = province(codes[0]) if codes else None
        body = f"Sở Công Thương {place.name_vi}" if place else NATIONAL_BODY
        return cls(f"official:{official.id}", body, codes)

    def covers(self, session: Session, business: Business, request: Any = None) -> bool:
        """A Department reviews the businesses registered in its provinces and those of
        its parks and clusters."""
        if not self.provinces:
            return True
        codes = {business.province_code, getattr(request, "province_code", None)}
        if business.cluster_id is not None:
            codes.add(
                session.scalar(
                    select(Cluster.province_code).where(Cluster.id == business.cluster_id)
                )
            )
        return any(code in self.provinces for code in codes if code)


# --- conflicts become alerts ---------------------------------------------------------------


class IdentityConflict(Conflict):
    """A claim on what belongs to another (verified) business: refused, and flagged."""

    code = "identity_conflict"

    def __init__(
        self,
        template: str,
        *,
        kind: str,
        business_id: int,
        other_business_id: int | None,
        detail: str,
        field: str | None = None,
        **params: Any,
    ) -> None:
        super().__init__(template, field=field, **params)
        self.kind = kind
        self.business_id = business_id
        self.other_business_id = other_business_id
        self.detail = detail


def record_alert(session: Session, conflict: IdentityConflict, now: datetime) -> IdentityAlert:
    alert = IdentityAlert(
        kind=conflict.kind,
        business_id=conflict.business_id,
        other_business_id=conflict.other_business_id,
        detail=conflict.detail[:300],
        created_at=now,
    )
    session.add(alert)
    session.flush()
    audit.record(
        session,
        "identity.alert",
        f"business:{conflict.business_id}",
        {
            "kind": conflict.kind,
            "other_business_id": conflict.other_business_id,
            "detail": conflict.detail,
        },
        now=now,
    )
    return alert


def keep_alert(session: Session, error: Exception, now: datetime) -> None:
    """After a refused unit of work: if it was a claim on another business's identity,
    roll the work back and commit the alert for the reviewers on its own."""
    if not isinstance(error, IdentityConflict):
        return
    session.rollback()
    record_alert(session, error, now)
    session.commit()


@contextmanager
def flagging_conflicts(session: Session, now: datetime) -> Iterator[None]:
    """Run a unit of work; if it claims another business's identity, roll it back whole,
    keep an alert for the reviewers (committed), and raise the refusal."""
    try:
        yield
    except IdentityConflict as conflict:
        keep_alert(session, conflict, now)
        raise


def open_alerts(session: Session, reviewer: Reviewer, limit: int = 100) -> list[IdentityAlert]:
    alerts = session.scalars(
        select(IdentityAlert)
        .where(IdentityAlert.resolved_at.is_(None))
        .order_by(IdentityAlert.id.desc())
        .limit(limit * 4)
    ).all()
    return [
        alert
        for alert in alerts
        if _covers_id(session, reviewer, alert.business_id)
        or (alert.other_business_id and _covers_id(session, reviewer, alert.other_business_id))
    ][:limit]


def resolve_alert(session: Session, alert_id: int, reviewer: Reviewer, now: datetime) -> None:
    alert = session.get(IdentityAlert, alert_id)
    if alert is None or not _covers_id(session, reviewer, alert.business_id):
        raise NotFound(N_("alert %(id)s not found"), id=alert_id)
    if alert.resolved_at is None:
        alert.resolved_at = now
        alert.resolved_by = reviewer.actor[:64]
        session.flush()
        audit.record(session, "identity.alert.resolve", f"alert:{alert.id}", {}, now=now)


def _covers_id(session: Session, reviewer: Reviewer, business_id: int) -> bool:
    business = session.get(Business, business_id)
    return business is not None and reviewer.covers(session, business)


# --- what a business may do ----------------------------------------------------------------


def is_verified(business: Business) -> bool:
    return business.verification_status == VERIFIED


def key_purpose_for(business: Business) -> str:
    """A verified business signs live stamps; any other signs test stamps."""
    return PURPOSE_LIVE if is_verified(business) else PURPOSE_TEST


def check_profile_change(business: Business, changes: dict[str, Any]) -> None:
    """Once verified, the identity changes only through a new, reviewed request."""
    if business.verification_status != VERIFIED:
        return
    frozen = [name for name in FROZEN_FIELDS if name in changes]
    changed = [name for name in frozen if (changes[name] or None) != getattr(business, name)]
    if changed:
        raise ValidationError(
            N_(
                "the verified identity (name, legal name, tax code, registered address, legal "
                "representative) changes only through a new verification request"
            ),
            field=changed[0],
        )


# --- requests ------------------------------------------------------------------------------


def clean_gs1_prefixes(value: Any) -> list[str]:
    """GS1 company prefixes, as on a GS1 membership certificate: 6 to 12 digits each
    (GS1 Vietnam's start with 893), separated by commas, spaces or lines."""
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else re.split(r"[\s,;]+", str(value))
    prefixes: list[str] = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        if not text.isdigit() or not 6 <= len(text) <= 12 or not text.isascii():
            raise ValidationError(
                N_("%(prefix)s is not a GS1 company prefix (6 to 12 digits)"),
                field="gs1_prefixes",
                prefix=text[:20],
            )
        if text not in prefixes:
            prefixes.append(text)
    if len(prefixes) > MAX_PREFIXES:
        raise ValidationError(
            N_("at most %(limit)s GS1 company prefixes"), field="gs1_prefixes", limit=MAX_PREFIXES
        )
    for prefix in prefixes:
        if any(other != prefix and other.startswith(prefix) for other in prefixes):
            raise ValidationError(
                N_("the GS1 company prefixes %(prefix)s and a longer one overlap"),
                field="gs1_prefixes",
                prefix=prefix,
            )
    return prefixes


@dataclass(frozen=True)
class RequestDocuments:
    """The stored (private) uploads of a request: names made by the upload service."""

    registration: str
    gs1_membership: str | None = None


def clean_identity(data: dict[str, Any]) -> dict[str, Any]:
    """The identity fields of a request, checked."""
    from traceqr.services.businesses import clean_tax_code

    unknown = set(data) - {*FROZEN_FIELDS, "gs1_prefixes"}
    if unknown:
        name = sorted(unknown)[0]
        raise ValidationError(N_("unknown field %(name)s"), field=name, name=name)
    tax_code = clean_tax_code(data.get("tax_code"))
    if tax_code is None:
        raise ValidationError(N_("give the tax code (mã số thuế)"), field="tax_code")
    code = str(data.get("province_code") or "").strip()
    if province(code) is None:
        raise ValidationError(N_("choose a province from the list"), field="province_code")
    return {
        "name": required_text(data.get("name"), "name", max_length=200),
        "legal_name": required_text(data.get("legal_name"), "legal_name", max_length=300),
        "tax_code": tax_code,
        "address_street": required_text(
            data.get("address_street"), "address_street", max_length=300
        ),
        "address_commune": clean_text(
            data.get("address_commune"), "address_commune", max_length=120
        ),
        "province_code": code,
        "legal_representative": required_text(
            data.get("legal_representative"), "legal_representative", max_length=120
        ),
        "gs1_prefixes": clean_gs1_prefixes(data.get("gs1_prefixes")),
    }


def submit_request(
    session: Session,
    business_id: int,
    data: dict[str, Any],
    documents: RequestDocuments,
    *,
    user_id: int | None,
    now: datetime,
) -> VerificationRequest:
    """A business asks for its identity to be verified (or, once verified, changed). A
    tax code another business is verified under is refused and flagged."""
    business = _business(session, business_id)
    identity = clean_identity(data)
    if identity["gs1_prefixes"] and documents.gs1_membership is None:
        raise ValidationError(
            N_("upload the GS1 Vietnam membership certificate that lists your prefixes"),
            field="gs1_document",
        )
    holder = verified_holder(session, identity["tax_code"])
    if holder is not None and holder != business.id:
        raise IdentityConflict(
            N_(
                "the tax code %(tax_code)s belongs to a business already verified on "
                "TraceQR; if it is yours, contact the Department of Industry and Trade"
            ),
            field="tax_code",
            kind=ALERT_TAX_CODE_TAKEN,
            business_id=business.id,
            other_business_id=holder,
            detail=identity["tax_code"],
            tax_code=identity["tax_code"],
        )
    for prefix in identity["gs1_prefixes"]:
        _refuse_anothers_prefix(session, business.id, prefix)
    for earlier in session.scalars(
        select(VerificationRequest).where(
            VerificationRequest.business_id == business.id,
            VerificationRequest.status == PENDING,
        )
    ):
        earlier.status = CANCELLED
        earlier.decided_at = now
        earlier.decision_reason = "replaced by a newer request"
    request = VerificationRequest(
        business_id=business.id,
        status=PENDING,
        name=identity["name"],
        legal_name=identity["legal_name"],
        tax_code=identity["tax_code"],
        address_street=identity["address_street"],
        address_commune=identity["address_commune"],
        province_code=identity["province_code"],
        legal_representative=identity["legal_representative"],
        gs1_prefixes=",".join(identity["gs1_prefixes"]) or None,
        registration_document=documents.registration,
        gs1_document=documents.gs1_membership,
        submitted_by=user_id,
        submitted_at=now,
    )
    session.add(request)
    session.flush()
    audit.record(
        session,
        "business.verification.request",
        f"business:{business.id}",
        {"request_id": request.id, "tax_code": request.tax_code, "name": request.name},
        now=now,
    )
    return request


def latest_request(session: Session, business_id: int) -> VerificationRequest | None:
    return session.scalar(
        select(VerificationRequest)
        .where(VerificationRequest.business_id == business_id)
        .order_by(VerificationRequest.id.desc())
        .limit(1)
    )


def get_request(
    session: Session, request_id: int, reviewer: Reviewer | None = None
) -> VerificationRequest:
    """A request by id; for a reviewer, only within their provinces (404 otherwise)."""
    request = session.get(VerificationRequest, request_id)
    if request is None or (
        reviewer is not None
        and not reviewer.covers(session, _business(session, request.business_id), request)
    ):
        raise NotFound(N_("verification request %(id)s not found"), id=request_id)
    return request


# --- what reviewers see ---------------------------------------------------------------------


@dataclass
class Lookalike:
    business_id: int
    name: str
    legal_name: str | None
    tax_code: str | None
    status: str
    why: str  # same_tax_code or similar_name


@dataclass
class QueueItem:
    request: VerificationRequest
    business: Business
    lookalikes: list[Lookalike] = field(default_factory=list)
    cluster: Cluster | None = None
    alerts: list[IdentityAlert] = field(default_factory=list)
    tax_code_holder: int | None = None  # a verified business with this tax code


_COMPANY_WORDS = re.compile(
    r"\b(cong ty|cty|tnhh|co phan|cp|hop tac xa|htx|doanh nghiep|tu nhan|dntn|mtv|"
    r"mot thanh vien|san xuat|thuong mai|dich vu|va|jsc|co|ltd|company)\b"
)


def name_key(name: str | None) -> str:
    """A name folded for comparison: no diacritics, no case, no company-form words."""
    if not name:
        return ""
    text = unicodedata.normalize("NFD", name.replace("Đ", "D").replace("đ", "d"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = re.sub(r"[^a-z0-9 ]+", " ", text)
    return " ".join(_COMPANY_WORDS.sub(" ", text).split())


def lookalikes(session: Session, request: VerificationRequest, limit: int = 10) -> list[Lookalike]:
    """Other businesses with the request's tax code or a name like it."""
    found: dict[int, Lookalike] = {}
    for other in session.scalars(
        select(Business).where(
            Business.tax_code == request.tax_code, Business.id != request.business_id
        )
    ):
        found[other.id] = _lookalike(other, "same_tax_code")
    wanted = {name_key(request.name), name_key(request.legal_name)} - {""}
    if wanted:
        rows = session.execute(
            select(Business.id, Business.name, Business.legal_name)
            .where(Business.id != request.business_id)
            .order_by(Business.id)
            .limit(20_000)
        ).all()
        for row in rows:
            if row.id in found:
                continue
            keys = {name_key(row.name), name_key(row.legal_name)} - {""}
            if any(
                a == b or difflib.SequenceMatcher(None, a, b).ratio() >= 0.85
                for a in wanted
                for b in keys
            ):
                found[row.id] = _lookalike(_business(session, row.id), "similar_name")
    return sorted(found.values(), key=lambda item: (item.why != "same_tax_code", item.business_id))[
        :limit
    ]


def _lookalike(business: Business, why: str) -> Lookalike:
    return Lookalike(
        business.id,
        business.name,
        business.legal_name,
        business.tax_code,
        business.verification_status,
        why,
    )


def within_scope(statement: Select[Any], reviewer: Reviewer) -> Select[Any]:
    """Narrow a query over verification requests to those whose business the reviewer
    covers, by the same rule as :meth:`Reviewer.covers`: the business's province, the
    requested one, or that of its park or cluster. Joins :class:`Business`."""
    statement = statement.join(Business, Business.id == VerificationRequest.business_id)
    if not reviewer.provinces:
        return statement
    codes = list(reviewer.provinces)
    return statement.outerjoin(Cluster, Cluster.id == Business.cluster_id).where(
        or_(
            Business.province_code.in_(codes),
            VerificationRequest.province_code.in_(codes),
            Cluster.province_code.in_(codes),
        )
    )


def request_rows(
    session: Session, reviewer: Reviewer, statuses: Sequence[str], *, limit: int = 200
) -> list[tuple[VerificationRequest, Business]]:
    """Requests in the reviewer's provinces with their businesses: pending ones oldest
    first, decided ones latest decision first."""
    order = (
        (VerificationRequest.submitted_at.asc(), VerificationRequest.id)
        if tuple(statuses) == (PENDING,)
        else (VerificationRequest.decided_at.desc(), VerificationRequest.id.desc())
    )
    statement = within_scope(
        select(VerificationRequest, Business).where(VerificationRequest.status.in_(statuses)),
        reviewer,
    )
    return [
        (request, business)
        for request, business in session.execute(statement.order_by(*order).limit(limit)).all()
    ]


def tax_code_taken(
    session: Session, rows: Sequence[tuple[VerificationRequest, Business]]
) -> set[int]:
    """The ids of the requests whose tax code another business is verified under."""
    codes = {request.tax_code for request, _business in rows}
    if not codes:
        return set()
    holders = session.execute(
        select(Business.tax_code, Business.id).where(
            Business.tax_code.in_(codes), Business.verification_status == VERIFIED
        )
    ).all()
    return {
        request.id
        for request, business in rows
        for tax_code, holder in holders
        if tax_code == request.tax_code and holder != business.id
    }


def describe_request(session: Session, request: VerificationRequest) -> QueueItem:
    business = _business(session, request.business_id)
    holder = verified_holder(session, request.tax_code)
    return QueueItem(
        request=request,
        business=business,
        lookalikes=lookalikes(session, request),
        cluster=session.get(Cluster, business.cluster_id) if business.cluster_id else None,
        alerts=alerts_about(session, business.id),
        tax_code_holder=holder if holder != business.id else None,
    )


def alerts_about(session: Session, business_id: int, limit: int = 20) -> list[IdentityAlert]:
    """Alerts of claims this business made, or others made on its identity, newest first."""
    return list(
        session.scalars(
            select(IdentityAlert)
            .where(
                (IdentityAlert.business_id == business_id)
                | (IdentityAlert.other_business_id == business_id)
            )
            .order_by(IdentityAlert.id.desc())
            .limit(limit)
        )
    )


def requests_of(session: Session, business_id: int, limit: int = 50) -> list[VerificationRequest]:
    """A business's verification requests, newest first."""
    return list(
        session.scalars(
            select(VerificationRequest)
            .where(VerificationRequest.business_id == business_id)
            .order_by(VerificationRequest.id.desc())
            .limit(limit)
        )
    )


def pending_count(session: Session, reviewer: Reviewer) -> int:
    """Pending requests in the reviewer's provinces: one counting query."""
    statement = within_scope(
        select(func.count(VerificationRequest.id)).where(VerificationRequest.status == PENDING),
        reviewer,
    )
    return int(session.scalar(statement) or 0)


# --- decisions ------------------------------------------------------------------------------


def approve(
    session: Session,
    keystore: KeyStore,
    request_id: int,
    reviewer: Reviewer,
    now: datetime,
) -> Business:
    """Approve a pending request: the identity it states becomes the business's, frozen;
    the business signs live stamps from now on with a key whose certificate names it."""
    request = get_request(session, request_id, reviewer)
    if request.status != PENDING:
        raise Conflict(N_("this request was already decided"))
    business = _business(session, request.business_id)
    for name in FROZEN_FIELDS:
        setattr(business, name, getattr(request, name))
    _verify(session, keystore, business, reviewer, now, request.gs1_prefixes)
    request.status = APPROVED
    request.decided_at = now
    request.decided_by = reviewer.actor[:200]
    session.flush()
    audit.record(
        session,
        "business.verify",
        f"business:{business.id}",
        _decision_details(business, reviewer, request),
        now=now,
    )
    return business


def reject(
    session: Session, request_id: int, reviewer: Reviewer, reason: Any, now: datetime
) -> VerificationRequest:
    """Reject a pending request with a reason the business sees."""
    request = get_request(session, request_id, reviewer)
    if request.status != PENDING:
        raise Conflict(N_("this request was already decided"))
    clean_reason = clean_text(reason, "reason", max_length=1000, multiline=True)
    if not clean_reason:
        raise ValidationError(N_("say why the request is rejected"), field="reason")
    request.status = REJECTED
    request.decided_at = now
    request.decided_by = reviewer.actor[:200]
    request.decision_reason = clean_reason
    session.flush()
    audit.record(
        session,
        "business.verification.reject",
        f"business:{request.business_id}",
        {"request_id": request.id, "by": reviewer.body, "reason": clean_reason},
        now=now,
    )
    return request


def vouch_for(
    session: Session,
    keystore: KeyStore,
    business_id: int,
    reviewer: Reviewer,
    now: datetime,
    *,
    gs1_prefixes: Sequence[str] = (),
) -> Business:
    """The operator verifies a business as its profile stands (``traceqr business create``
    and ``traceqr business verify`` without a pending request; the demo loader)."""
    business = _business(session, business_id)
    if is_verified(business):
        raise Conflict(N_("business %(id)s is already verified"), id=business.id)
    prefixes = clean_gs1_prefixes(list(gs1_prefixes))
    _verify(session, keystore, business, reviewer, now, ",".join(prefixes) or None)
    session.flush()
    audit.record(
        session,
        "business.verify",
        f"business:{business.id}",
        _decision_details(business, reviewer, None),
        now=now,
    )
    return business


def _decision_details(
    business: Business, reviewer: Reviewer, request: VerificationRequest | None
) -> dict[str, Any]:
    return {
        "request_id": request.id if request else None,
        "by": reviewer.body,
        "name": business.name,
        "legal_name": business.legal_name,
        "tax_code": business.tax_code,
        "gs1_prefixes": [p.prefix for p in business_prefixes_rows(business)],
    }


def business_prefixes_rows(business: Business) -> list[Gs1Prefix]:
    from sqlalchemy.orm import object_session

    session = object_session(business)
    if session is None:
        return []
    return list(
        session.scalars(
            select(Gs1Prefix).where(Gs1Prefix.business_id == business.id).order_by(Gs1Prefix.prefix)
        )
    )


def _verify(
    session: Session,
    keystore: KeyStore,
    business: Business,
    reviewer: Reviewer,
    now: datetime,
    prefixes: str | None,
) -> None:
    from traceqr.services.businesses import create_signing_key
    from traceqr.services.key_lifecycle import recertify_business

    holder = verified_holder(session, business.tax_code) if business.tax_code else None
    if holder is not None and holder != business.id:
        raise IdentityConflict(
            N_("the tax code %(tax_code)s already belongs to verified business %(other)s"),
            field="tax_code",
            kind=ALERT_TAX_CODE_TAKEN,
            business_id=business.id,
            other_business_id=holder,
            detail=business.tax_code or "",
            tax_code=business.tax_code,
            other=holder,
        )
    tax_code = business.tax_code
    business.verification_status = VERIFIED
    business.verified_at = now
    business.verified_by = reviewer.body
    business.withdrawn_at = None
    business.withdrawal_reason = None
    try:
        session.flush()  # the unique index: one verified business per tax code
    except IntegrityError as exc:
        # Another reviewer's approval of this tax code committed first (the session must
        # be rolled back: its objects are not read again here).
        raise Conflict(
            N_("the tax code %(tax_code)s was just verified for another business"),
            field="tax_code",
            tax_code=tax_code,
        ) from exc
    for prefix in clean_gs1_prefixes(prefixes):
        record_prefix(session, business.id, prefix, now)
    for product in session.scalars(
        select(Product).where(Product.business_id == business.id, Product.gtin.is_not(None))
    ):
        claim_gtin(session, business, product.gtin or "", now)
    # Keys: test keys stop signing; a live key signs (an old one, made before identities
    # were checked, is kept: its stamps are this business's), certified with the identity.
    keys = session.scalars(
        select(SigningKey).where(
            SigningKey.business_id == business.id, SigningKey.status == KEY_ACTIVE
        )
    ).all()
    for key in keys:
        if key.purpose == PURPOSE_TEST:
            key.status = KEY_RETIRED
            key.retired_at = now
    if not any(key.purpose == PURPOSE_LIVE for key in keys):
        create_signing_key(session, keystore, business.id, now, purpose=PURPOSE_LIVE)
    recertify_business(session, keystore, business.id, now)


def withdraw(
    session: Session,
    keystore: KeyStore,
    business_id: int,
    reviewer: Reviewer,
    *,
    reason: Any,
    at: datetime,
    now: datetime,
) -> Business:
    """Withdraw a business's verification from ``at`` on (fraud found later): the stamps
    its live keys signed from then on verify as ``invalid`` (verification_withdrawn),
    earlier ones carry a warning; it signs test stamps only again; its tax code, prefixes
    and GTINs are free for the real owner."""
    from traceqr.services.businesses import create_signing_key
    from traceqr.services.key_lifecycle import certify_key, root_signer

    business = _business(session, business_id)
    if not reviewer.covers(session, business):
        raise NotFound(N_("business %(id)s not found"), id=business_id)
    if not is_verified(business):
        raise Conflict(N_("business %(id)s is not verified"), id=business.id)
    clean_since(at, now, N_("a withdrawal takes effect from a time that has passed"))
    clean_reason = clean_text(reason, "reason", max_length=1000, multiline=True)
    if not clean_reason:
        raise ValidationError(N_("say why the verification is withdrawn"), field="reason")
    business.verification_status = WITHDRAWN
    business.withdrawn_at = at
    business.withdrawal_reason = clean_reason
    signer = root_signer(session, keystore, now)
    withdrawn_kids = []
    for key in session.scalars(
        select(SigningKey).where(
            SigningKey.business_id == business.id,
            SigningKey.purpose == PURPOSE_LIVE,
            SigningKey.withdrawn_at.is_(None),
        )
    ):
        key.withdrawn_at = at
        key.withdrawal_reason = clean_reason
        if key.status == KEY_ACTIVE:
            key.status = KEY_RETIRED
            key.retired_at = now
        certify_key(session, keystore, key, now, signer)
        withdrawn_kids.append(key.kid.hex())
    session.execute(delete(GtinOwner).where(GtinOwner.business_id == business.id))
    session.execute(delete(Gs1Prefix).where(Gs1Prefix.business_id == business.id))
    session.flush()
    if not session.scalar(
        select(SigningKey.id).where(
            SigningKey.business_id == business.id,
            SigningKey.status == KEY_ACTIVE,
            SigningKey.purpose == PURPOSE_TEST,
        )
    ):
        create_signing_key(session, keystore, business.id, now, purpose=PURPOSE_TEST)
    audit.record(
        session,
        "business.withdraw",
        f"business:{business.id}",
        {
            "by": reviewer.body,
            "withdrawn_at": at.isoformat(),
            "reason": clean_reason,
            "kids": withdrawn_kids,
        },
        now=now,
    )
    return business


# --- tax codes, prefixes and GTINs -----------------------------------------------------------


def verified_holder(session: Session, tax_code: str | None) -> int | None:
    """The verified business a tax code belongs to, if any."""
    if not tax_code:
        return None
    return session.scalar(
        select(Business.id).where(
            Business.tax_code == tax_code, Business.verification_status == VERIFIED
        )
    )


def _prefix_owner(session: Session, prefix: str) -> int | None:
    """The business a prefix, or a prefix overlapping it, is recorded for."""
    rows = session.execute(
        select(Gs1Prefix.prefix, Gs1Prefix.business_id).where(
            func.substr(Gs1Prefix.prefix, 1, 6) == prefix[:6]
        )
    ).all()
    for other, owner in rows:
        if other.startswith(prefix) or prefix.startswith(other):
            return int(owner)
    return None


def _refuse_anothers_prefix(session: Session, business_id: int, prefix: str) -> int | None:
    """The business the prefix (or one overlapping it) is recorded for, unless that is
    another business: then the claim is refused."""
    owner = _prefix_owner(session, prefix)
    if owner is not None and owner != business_id:
        raise IdentityConflict(
            N_("the GS1 company prefix %(prefix)s is recorded for another business"),
            field="gs1_prefixes",
            kind=ALERT_PREFIX_TAKEN,
            business_id=business_id,
            other_business_id=owner,
            detail=prefix,
            prefix=prefix,
        )
    return owner


def record_prefix(session: Session, business_id: int, prefix: str, now: datetime) -> None:
    if _refuse_anothers_prefix(session, business_id, prefix) == business_id:
        return
    session.add(Gs1Prefix(prefix=prefix, business_id=business_id, recorded_at=now))
    session.flush()


def business_prefixes(session: Session, business_id: int) -> list[str]:
    return list(
        session.scalars(
            select(Gs1Prefix.prefix)
            .where(Gs1Prefix.business_id == business_id)
            .order_by(Gs1Prefix.prefix)
        )
    )


def gtin_company_digits(gtin14: str) -> str:
    """The digits a GS1 company prefix is matched against: a GTIN-14 without its
    indicator digit (a GTIN-13 as written; a GTIN-12 with its leading 0)."""
    return gtin14[1:]


def _prefix_holder_of_gtin(session: Session, gtin14: str) -> int | None:
    digits = gtin_company_digits(gtin14)
    rows = session.execute(
        select(Gs1Prefix.prefix, Gs1Prefix.business_id).where(
            func.substr(Gs1Prefix.prefix, 1, 6) == digits[:6]
        )
    ).all()
    for prefix, owner in rows:
        if digits.startswith(prefix):
            return int(owner)
    return None


def check_gtin(session: Session, business_id: int, gtin: str | None, now: datetime) -> None:
    """May this business give a product this GTIN? A GTIN belongs to the first verified
    business to use it, and to the business its GS1 company prefix is recorded for; once a
    business's prefixes are recorded, its GTINs fall under them. A verified business's
    GTIN is claimed for it here (concurrent claims: the primary key lets one win)."""
    if gtin is None:
        return
    gtin14 = normalize_gtin(gtin)
    business = _business(session, business_id)
    owner = session.scalar(select(GtinOwner.business_id).where(GtinOwner.gtin == gtin14))
    prefix_holder = _prefix_holder_of_gtin(session, gtin14)
    other = next(
        (holder for holder in (owner, prefix_holder) if holder not in (None, business_id)), None
    )
    if other is not None:
        raise _gtin_taken(business_id, other, gtin14, shown=gtin)
    own = business_prefixes(session, business_id)
    if own and prefix_holder != business_id and not gtin14.startswith("000000"):
        raise IdentityConflict(
            N_(
                "GTIN %(gtin)s is not under your GS1 company prefixes (%(prefixes)s): use a "
                "GTIN your GS1 membership gives you"
            ),
            field="gtin",
            kind=ALERT_GTIN_OUTSIDE_PREFIXES,
            business_id=business_id,
            other_business_id=None,
            detail=gtin14,
            gtin=gtin,
            prefixes=", ".join(own),
        )
    if is_verified(business) and owner is None:
        _record_owner(session, business_id, gtin14, now)


def claim_gtin(session: Session, business: Business, gtin: str, now: datetime) -> None:
    """Make a GTIN a (newly verified) business already uses its own, unless it is
    another's."""
    gtin14 = normalize_gtin(gtin)
    owner = session.scalar(select(GtinOwner.business_id).where(GtinOwner.gtin == gtin14))
    if owner == business.id:
        return
    holder = owner if owner is not None else _prefix_holder_of_gtin(session, gtin14)
    if holder is not None and holder != business.id:
        raise _gtin_taken(business.id, holder, gtin14, shown=gtin14)
    _record_owner(session, business.id, gtin14, now)


def _gtin_taken(business_id: int, holder: int, gtin14: str, *, shown: str) -> IdentityConflict:
    return IdentityConflict(
        N_("GTIN %(gtin)s belongs to another verified business"),
        field="gtin",
        kind=ALERT_GTIN_TAKEN,
        business_id=business_id,
        other_business_id=holder,
        detail=gtin14,
        gtin=shown,
    )


def _record_owner(session: Session, business_id: int, gtin14: str, now: datetime) -> None:
    session.add(GtinOwner(gtin=gtin14, business_id=business_id, claimed_at=now))
    try:
        session.flush()  # the primary key: of two concurrent claims, one wins
    except IntegrityError as exc:
        raise Conflict(
            N_("GTIN %(gtin)s was just claimed by another business"), field="gtin", gtin=gtin14
        ) from exc


def release_gtin(session: Session, business_id: int, gtin: str | None) -> None:
    """A product no longer uses ``gtin``: free it unless another product of the business
    still does."""
    if gtin is None:
        return
    gtin14 = normalize_gtin(gtin)
    still = session.scalar(
        select(Product.id).where(Product.business_id == business_id, Product.gtin == gtin14)
    )
    if still is None:
        session.execute(
            delete(GtinOwner).where(GtinOwner.gtin == gtin14, GtinOwner.business_id == business_id)
        )


# --- helpers ---------------------------------------------------------------------------------


def _business(session: Session, business_id: int) -> Business:
    business = session.get(Business, business_id)
    if business is None:
        raise NotFound(N_("business %(id)s not found"), id=business_id)
    return business
