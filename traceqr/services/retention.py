"""Keeping scan records no longer than needed (Decree 13/2023 on personal data).

A check keeps forever what dashboards and evidence need — time, stamp, verdict, reasons,
province — but after the retention period it loses everything that could single out a
person: the keyed hash of the client's address, the device family and the rounded
position. Shoppers' reports lose their contact details the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from traceqr.models import Report, Scan


@dataclass(frozen=True)
class PurgeResult:
    scans: int
    reports: int
    before: datetime


def purge_personal_data(session: Session, now: datetime, retention_days: int) -> PurgeResult:
    before = now - timedelta(days=retention_days)
    scans = session.execute(
        update(Scan)
        .where(
            Scan.scanned_at < before,
            or_(Scan.ip_hash.is_not(None), Scan.device.is_not(None), Scan.lat.is_not(None)),
        )
        .values(ip_hash=None, device=None, lat=None, lon=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    reports = session.execute(
        update(Report)
        .where(
            Report.created_at < before,
            or_(Report.ip_hash.is_not(None), Report.contact.is_not(None)),
        )
        .values(ip_hash=None, contact=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    return PurgeResult(scans, reports, before)
