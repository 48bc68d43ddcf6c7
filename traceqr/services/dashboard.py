"""What a business's dashboard shows: stamps, scans per day and province, warnings.

Every figure comes from small tables (batch counters, the daily scan counts) or an index
walk of a few rows, so the page stays fast with millions of stamps and scans. Forged
codes naming the business's key are not its checks: they are counted apart (forged_daily)
and shown apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from traceqr.models import Batch, ForgedDaily, Product, Scan, ScanDaily, Stamp

WARNING_STATUSES = ("suspicious", "revoked", "recalled", "inactive", "unregistered", "invalid")


@dataclass(frozen=True)
class DayCount:
    day: date
    count: int
    warnings: int


@dataclass(frozen=True)
class Dashboard:
    products: int
    batches: int
    stamps_total: int
    stamps_active: int
    stamps_revoked: int
    scans_period: int
    warnings_period: int
    days: list[DayCount]
    provinces: list[tuple[str, int]]  # (province code or "", scans), most first
    latest_warnings: list[tuple[Scan, str | None, str | None]]  # scan, product, lot
    # Forged codes naming this business's key (bad signatures): not its checks, never in
    # the figures above; (province code or "", count), most first.
    forged_provinces: list[tuple[str, int]] = field(default_factory=list)

    @property
    def forged_period(self) -> int:
        return sum(n for _, n in self.forged_provinces)


def dashboard(session: Session, business_id: int, today: date, days: int = 30) -> Dashboard:
    since = today - timedelta(days=days - 1)
    totals = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(Batch.stamps_total), 0),
            func.coalesce(func.sum(Batch.stamps_active), 0),
            func.coalesce(func.sum(Batch.stamps_revoked), 0),
        ).where(Batch.business_id == business_id)
    ).one()
    products = session.scalar(
        select(func.count()).select_from(Product).where(Product.business_id == business_id)
    )
    by_day = session.execute(
        select(ScanDaily.day, ScanDaily.status, func.sum(ScanDaily.count))
        .where(ScanDaily.business_id == business_id, ScanDaily.day >= since)
        .group_by(ScanDaily.day, ScanDaily.status)
    ).all()
    counts: dict[date, list[int]] = {since + timedelta(days=i): [0, 0] for i in range(days)}
    for day, status, count in by_day:
        if day in counts:
            counts[day][0] += count
            if status in WARNING_STATUSES:
                counts[day][1] += count
    provinces = session.execute(
        select(ScanDaily.province_code, func.sum(ScanDaily.count).label("n"))
        .where(ScanDaily.business_id == business_id, ScanDaily.day >= since)
        .group_by(ScanDaily.province_code)
        .order_by(func.sum(ScanDaily.count).desc())
    ).all()
    warnings = session.execute(
        select(Scan, Product.name, Batch.lot)
        .outerjoin(Stamp, Stamp.id == Scan.stamp_id)
        .outerjoin(Batch, Batch.id == Stamp.batch_id)
        .outerjoin(Product, Product.id == Batch.product_id)
        .where(Scan.business_id == business_id, Scan.status != "genuine")
        .order_by(Scan.id.desc())
        .limit(10)
    ).all()
    forged = session.execute(
        select(ForgedDaily.province_code, func.sum(ForgedDaily.count))
        .where(ForgedDaily.business_id == business_id, ForgedDaily.day >= since)
        .group_by(ForgedDaily.province_code)
        .order_by(func.sum(ForgedDaily.count).desc(), ForgedDaily.province_code)
    ).all()
    day_counts = [DayCount(day, total, warn) for day, (total, warn) in sorted(counts.items())]
    return Dashboard(
        products=products or 0,
        batches=totals[0],
        stamps_total=totals[1],
        stamps_active=totals[2],
        stamps_revoked=totals[3],
        scans_period=sum(d.count for d in day_counts),
        warnings_period=sum(d.warnings for d in day_counts),
        days=day_counts,
        provinces=[(code, int(n)) for code, n in provinces],
        latest_warnings=[(scan, name, lot) for scan, name, lot in warnings],
        forged_provinces=[(code, int(n)) for code, n in forged],
    )
