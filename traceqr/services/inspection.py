"""The inspector's side: stamp dossiers, flags, cases and signed case files.

Scope. An inspector covers a list of provinces (none: the whole country), like an
authority officer (:class:`traceqr.services.authority.Scope`), and every list and look-up
here filters it in SQL, before any LIMIT:
- A report is in scope when the place of purchase is in one of the provinces, or, with no
  place given, when the business of its stamp is (market inspectors act where goods are
  sold).
- A case is in scope when it was opened by an inspector who shares one of the provinces,
  or one of its stamps or batches belongs to an in-scope business, or one of its reports
  is in scope. An inspector who can see a case sees all of it (its notes, its reports):
  a case is the shared file of everyone it concerns.
Anything out of scope answers as if it did not exist. Stamps themselves are not scoped:
an inspector looks up whatever stamp they find on a shelf, from any province.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, or_, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from traceqr.domain.dates import iso_vietnam
from traceqr.domain.documents import sign_document
from traceqr.domain.keys import kid_text
from traceqr.domain.stamp_format import FORMAT_V1, StampCode, serial_text, short_code
from traceqr.errors import N_, Conflict, NotFound, ValidationError
from traceqr.keystore import KeyStore
from traceqr.models import (
    Batch,
    Business,
    Case,
    CaseItem,
    CaseNote,
    Flag,
    Official,
    Product,
    Report,
    Scan,
    SigningKey,
    Stamp,
)
from traceqr.services import audit
from traceqr.services.authority import Scope
from traceqr.services.service_keys import document_signer
from traceqr.services.validation import clean_text, required_text
from traceqr.services.verification import Verification, VerificationService

HISTORY_LIMIT = 500
LIST_LIMIT = 200
CASE_FILE_KIND = "case-file"


@dataclass
class Dossier:
    verification: Verification
    stamp: Stamp | None = None
    batch: Batch | None = None
    product: Product | None = None
    business: Business | None = None
    key: SigningKey | None = None
    scans: list[Scan] = field(default_factory=list)
    scans_total: int = 0
    by_province: list[tuple[str, int]] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)


def stamp_dossier(
    session: Session, verifier: VerificationService, text: str, now: datetime, scope: Scope
) -> Dossier:
    """Everything known about a scanned text, without counting a check: the stamp's own
    facts wherever it comes from, and the reports and cases in the inspector's scope."""
    result = verifier.inspect(text, now=now)
    dossier = Dossier(result)
    if result.stamp_id is None:
        if result.stamp is not None:
            dossier.key = session.scalar(
                select(SigningKey).where(SigningKey.kid == result.stamp.kid)
            )
            dossier.reports = list(
                session.scalars(
                    select(Report)
                    .where(
                        Report.scanned_text.ilike(f"%{_report_key(result.stamp)}%"),
                        scope.report_condition(),
                    )
                    .order_by(Report.id.desc())
                    .limit(50)
                )
            )
        return dossier
    stamp = session.get(Stamp, result.stamp_id)
    assert stamp is not None
    dossier.stamp = stamp
    dossier.batch = session.get(Batch, stamp.batch_id)
    dossier.product = session.get(Product, dossier.batch.product_id) if dossier.batch else None
    dossier.business = session.get(Business, dossier.batch.business_id) if dossier.batch else None
    dossier.key = session.get(SigningKey, stamp.signing_key_id)
    dossier.scans = list(
        session.scalars(
            select(Scan)
            .where(Scan.stamp_id == stamp.id)
            .order_by(Scan.scanned_at.desc())
            .limit(HISTORY_LIMIT)
        )
    )
    dossier.scans_total = session.scalar(select(func.count()).where(Scan.stamp_id == stamp.id)) or 0
    places = Counter(scan.province_code or "" for scan in dossier.scans)
    dossier.by_province = places.most_common()
    dossier.reports = list(
        session.scalars(
            select(Report)
            .where(Report.stamp_id == stamp.id, scope.report_condition())
            .order_by(Report.id.desc())
            .limit(LIST_LIMIT)
        )
    )
    dossier.flags = list(
        session.scalars(
            select(Flag)
            .where((Flag.stamp_id == stamp.id) | (Flag.batch_id == stamp.batch_id))
            .order_by(Flag.id.desc())
        )
    )
    dossier.cases = list(
        session.scalars(
            select(Case)
            .join(CaseItem, CaseItem.case_id == Case.id)
            .where(
                (CaseItem.stamp_id == stamp.id) | (CaseItem.batch_id == stamp.batch_id),
                case_condition(scope),
            )
            .distinct()
        )
    )
    return dossier


# --- flags ---------------------------------------------------------------------------------


def flag_stamp(
    session: Session, official: Official, stamp_id: int, reason: Any, now: datetime
) -> Flag:
    """Blacklist one stamp: every later check says it is suspicious and why."""
    stamp = session.get(Stamp, stamp_id)
    if stamp is None:
        raise NotFound(N_("stamp not found"))
    text = required_text(reason, "reason", max_length=500, multiline=True)
    flag = Flag(stamp_id=stamp.id, official_id=official.id, reason=text, created_at=now)
    stamp.flagged_at, stamp.flag_reason = now, text
    session.add(flag)
    session.flush()
    audit.record(
        session,
        "stamp.flag",
        f"stamp:{serial_text(stamp.serial)}",
        {"flag_id": flag.id, "reason": text},
        now=now,
        actor=("official", str(official.id)),
    )
    return flag


def flag_batch(
    session: Session, official: Official, batch_id: int, reason: Any, now: datetime
) -> Flag:
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise NotFound(N_("batch %(id)s not found"), id=batch_id)
    text = required_text(reason, "reason", max_length=500, multiline=True)
    flag = Flag(batch_id=batch.id, official_id=official.id, reason=text, created_at=now)
    batch.flagged_at, batch.flag_reason = now, text
    session.add(flag)
    session.flush()
    audit.record(
        session,
        "batch.flag",
        f"batch:{batch.id}",
        {"flag_id": flag.id, "reason": text},
        now=now,
        actor=("official", str(official.id)),
    )
    return flag


def lift_flag(session: Session, official: Official, flag_id: int, now: datetime) -> Flag:
    flag = session.get(Flag, flag_id)
    if flag is None or flag.lifted_at is not None:
        raise NotFound(N_("no such flag"))
    flag.lifted_at, flag.lifted_by = now, official.id
    target: Stamp | Batch | None = (
        session.get(Stamp, flag.stamp_id) if flag.stamp_id else session.get(Batch, flag.batch_id)
    )
    still = session.scalar(
        select(Flag)
        .where(
            Flag.lifted_at.is_(None),
            Flag.id != flag.id,
            (Flag.stamp_id == flag.stamp_id) if flag.stamp_id else (Flag.batch_id == flag.batch_id),
        )
        .order_by(Flag.id.desc())
    )
    if target is not None:
        target.flagged_at = still.created_at if still else None
        target.flag_reason = still.reason if still else None
    session.flush()
    audit.record(
        session,
        "flag.lift",
        f"stamp:{serial_text(target.serial)}"
        if isinstance(target, Stamp)
        else f"batch:{flag.batch_id}",
        {"flag_id": flag.id},
        now=now,
        actor=("official", str(official.id)),
    )
    return flag


# --- cases ---------------------------------------------------------------------------------


def open_case(session: Session, official: Official, title: Any, now: datetime) -> Case:
    case = Case(
        title=required_text(title, "title", max_length=200),
        status="open",
        opened_by=official.id,
        opened_at=now,
    )
    session.add(case)
    session.flush()
    return case


def case_condition(scope: Scope) -> ColumnElement[bool]:
    """Cases in scope, as SQL on ``cases`` (see the module's docstring)."""
    if scope.national:
        return true()
    businesses = select(Business.id).where(scope.business_condition())
    shares_a_province = or_(
        *(
            (literal(",") + Official.provinces + literal(",")).contains(
                f",{code},", autoescape=True
            )
            for code in scope.provinces
        )
    )
    return or_(
        Case.opened_by.in_(select(Official.id).where(shares_a_province)),
        select(CaseItem.id)
        .join(Batch, Batch.id == CaseItem.batch_id)
        .where(CaseItem.case_id == Case.id, Batch.business_id.in_(businesses))
        .exists(),
        select(CaseItem.id)
        .join(Stamp, Stamp.id == CaseItem.stamp_id)
        .join(Batch, Batch.id == Stamp.batch_id)
        .where(CaseItem.case_id == Case.id, Batch.business_id.in_(businesses))
        .exists(),
        select(Report.id).where(Report.case_id == Case.id, scope.report_condition()).exists(),
    )


def list_cases(
    session: Session, scope: Scope, *, open_only: bool = False, limit: int = LIST_LIMIT
) -> list[Case]:
    """The newest cases in scope (only the open ones when asked)."""
    query = select(Case).where(case_condition(scope))
    if open_only:
        query = query.where(Case.status == "open")
    return list(session.scalars(query.order_by(Case.id.desc()).limit(limit)))


def get_case(session: Session, case_id: int, scope: Scope) -> Case:
    """One case; out of scope it is as if it did not exist."""
    case = session.scalar(select(Case).where(Case.id == case_id, case_condition(scope)))
    if case is None:
        raise NotFound(N_("no such case"))
    return case


def case_items(session: Session, case: Case) -> list[CaseItem]:
    return list(
        session.scalars(select(CaseItem).where(CaseItem.case_id == case.id).order_by(CaseItem.id))
    )


def case_notes(session: Session, case: Case) -> list[CaseNote]:
    return list(
        session.scalars(select(CaseNote).where(CaseNote.case_id == case.id).order_by(CaseNote.id))
    )


def get_note(session: Session, case: Case, note_id: int) -> CaseNote:
    note = session.get(CaseNote, note_id)
    if note is None or note.case_id != case.id:
        raise NotFound(N_("no such note"))
    return note


# --- reports -------------------------------------------------------------------------------


def recent_reports(session: Session, scope: Scope, limit: int = LIST_LIMIT) -> list[Report]:
    """The newest shoppers' reports in scope."""
    return list(
        session.scalars(
            select(Report).where(scope.report_condition()).order_by(Report.id.desc()).limit(limit)
        )
    )


def get_report(
    session: Session, report_id: int, scope: Scope, *, via_cases: bool = False
) -> Report:
    """One report in scope (or, with ``via_cases``, in a case in scope); else not found."""
    condition = scope.report_condition()
    if via_cases:
        condition = or_(condition, Report.case_id.in_(select(Case.id).where(case_condition(scope))))
    report = session.scalar(select(Report).where(Report.id == report_id, condition))
    if report is None:
        raise NotFound(N_("no such report"))
    return report


def add_to_case(
    session: Session,
    case: Case,
    now: datetime,
    *,
    stamp_id: int | None = None,
    batch_id: int | None = None,
) -> CaseItem:
    if case.status != "open":
        raise Conflict(N_("the case is closed"))
    same_stamp = CaseItem.stamp_id.is_(None) if stamp_id is None else CaseItem.stamp_id == stamp_id
    same_batch = CaseItem.batch_id.is_(None) if batch_id is None else CaseItem.batch_id == batch_id
    existing = session.scalar(
        select(CaseItem).where(CaseItem.case_id == case.id, same_stamp, same_batch)
    )
    if existing is not None:
        return existing
    item = CaseItem(case_id=case.id, stamp_id=stamp_id, batch_id=batch_id, added_at=now)
    session.add(item)
    session.flush()
    return item


def add_note(
    session: Session, case: Case, official: Official, text: Any, photo: str | None, now: datetime
) -> CaseNote:
    if case.status != "open":
        raise Conflict(N_("the case is closed"))
    clean = clean_text(text, "text", max_length=5000, multiline=True)
    if clean is None and photo is None:
        raise ValidationError(N_("write a note or add a photo"), field="text")
    note = CaseNote(
        case_id=case.id, official_id=official.id, text=clean, photo=photo, created_at=now
    )
    session.add(note)
    session.flush()
    return note


def close_case(session: Session, case: Case, outcome: Any, now: datetime) -> Case:
    if case.status != "open":
        raise Conflict(N_("the case is closed"))
    case.status, case.closed_at = "closed", now
    case.outcome = clean_text(outcome, "outcome", max_length=5000, multiline=True)
    session.flush()
    return case


def case_contents(session: Session, case: Case) -> dict[str, Any]:
    """The case as plain data: what the JSON and PDF case files hold."""
    items = list(
        session.scalars(select(CaseItem).where(CaseItem.case_id == case.id).order_by(CaseItem.id))
    )
    notes = list(
        session.scalars(select(CaseNote).where(CaseNote.case_id == case.id).order_by(CaseNote.id))
    )
    officials = {o.id: o for o in session.scalars(select(Official))}
    stamps_out: list[dict[str, Any]] = []
    batches_out: list[dict[str, Any]] = []
    for item in items:
        if item.stamp_id is not None:
            stamp = session.get(Stamp, item.stamp_id)
            if stamp is None:
                continue
            batch = session.get(Batch, stamp.batch_id)
            key = session.get(SigningKey, stamp.signing_key_id)
            scans = session.scalars(
                select(Scan)
                .where(Scan.stamp_id == stamp.id)
                .order_by(Scan.scanned_at)
                .limit(HISTORY_LIMIT)
            ).all()
            stamps_out.append(
                {
                    "serial": serial_text(stamp.serial),
                    "short_code": short_code(stamp.serial),
                    "kid": kid_text(key.kid) if key else None,
                    "batch_id": stamp.batch_id,
                    "lot": batch.lot if batch else None,
                    "seq": stamp.seq,
                    "active": stamp.active,
                    "revoked_at": iso_vietnam(stamp.revoked_at),
                    "claimed_at": iso_vietnam(stamp.claimed_at),
                    "flag_reason": stamp.flag_reason,
                    "scan_count": stamp.scan_count,
                    "scans": [
                        {
                            "at": iso_vietnam(scan.scanned_at),
                            "status": scan.status,
                            "reasons": [r for r in scan.reasons.split(",") if r],
                            "province": scan.province_code,
                            "device": scan.device,
                            "channel": scan.channel,
                        }
                        for scan in scans
                    ],
                }
            )
        if item.batch_id is not None:
            batch = session.get(Batch, item.batch_id)
            if batch is None:
                continue
            product = session.get(Product, batch.product_id)
            business = session.get(Business, batch.business_id)
            batches_out.append(
                {
                    "batch_id": batch.id,
                    "lot": batch.lot,
                    "product": product.name if product else None,
                    "gtin": product.gtin if product else None,
                    "business": business.name if business else None,
                    "business_tax_code": business.tax_code if business else None,
                    "stamps_total": batch.stamps_total,
                    "recalled_at": iso_vietnam(batch.recalled_at),
                    "flag_reason": batch.flag_reason,
                }
            )
    reports = session.scalars(
        select(Report).where(Report.case_id == case.id).order_by(Report.id)
    ).all()
    return {
        "format": "traceqr-case-file/1",
        "case": {
            "id": case.id,
            "title": case.title,
            "status": case.status,
            "opened_by": officials[case.opened_by].name if case.opened_by in officials else None,
            "opened_at": iso_vietnam(case.opened_at),
            "closed_at": iso_vietnam(case.closed_at),
            "outcome": case.outcome,
        },
        "stamps": stamps_out,
        "batches": batches_out,
        "reports": [
            {
                "id": report.id,
                "at": iso_vietnam(report.created_at),
                "status_at_report": report.status_at_report,
                "shop_name": report.shop_name,
                "shop_address": report.shop_address,
                "province": report.province_code,
                "note": report.note,
                "photo": report.photo,
            }
            for report in reports
        ],
        "notes": [
            {
                "at": iso_vietnam(note.created_at),
                "by": officials[note.official_id].name if note.official_id in officials else None,
                "text": note.text,
                "photo": note.photo,
            }
            for note in notes
        ],
    }


def signed_case_file(
    session: Session, keystore: KeyStore, case: Case, now: datetime
) -> dict[str, Any]:
    """The case file, signed by the service's document key (kept in the JWKS)."""
    document = {**case_contents(session, case), "exported_at": iso_vietnam(now)}
    return sign_document(CASE_FILE_KIND, document, document_signer(session, keystore, now))


def attach_report(
    session: Session, case: Case, report_id: int, scope: Scope, now: datetime
) -> Report:
    """Put a report in scope into an open case (a case the caller can see: get it with
    :func:`get_case`). A report already in another case stays there."""
    if case.status != "open":
        raise Conflict(N_("the case is closed"))
    report = get_report(session, report_id, scope)
    if report.case_id not in (None, case.id):
        raise Conflict(N_("the report is already in case #%(id)s"), id=report.case_id)
    report.case_id = case.id
    if report.stamp_id is not None:
        add_to_case(session, case, now, stamp_id=report.stamp_id)
    session.flush()
    return report


def _report_key(stamp: StampCode) -> str:
    """A piece of the scanned text that reports about this stamp contain: the start of a
    version 1 code, or a version 2 stamp's serial."""
    return stamp.code[:40] if stamp.version == FORMAT_V1 else serial_text(stamp.serial)
