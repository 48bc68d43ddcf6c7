"""What the authority (the provincial Department of Industry and Trade) sees: adoption of
stamps across its provinces, communes and clusters, and where counterfeits turn up.

Only aggregates and businesses' public facts, never keys, API keys, staff, contacts or
products that have no stamps. Every figure is a SQL group-by over small tables: the daily
scan counts (``scan_daily``), batch counters, reports, and, for forged codes no business is
behind, a partial index on ``scans``. A forged code naming a business's key id (a bad
signature) is no check of that business: it is counted apart (``forged_daily``) and shown
apart, never in its commune's or cluster's hot spot. Python only folds the few hundred
grouped rows into tables, so the pages stay fast with millions of scans.

Scope. An authority official covers a list of provinces (none: the whole country).
- A business is in scope when its province is.
- A check is in scope when it was made in one of those provinces (the place the shopper
  picked), or, with no place given, when its business is in scope.
- A report is in scope when the place of purchase is in one of those provinces, or, with no
  province given, when the business of its stamp is in scope.
The adoption dashboards count the checks of in-scope businesses' stamps; the hot spots
count checks and reports in scope.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select, text, true
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from traceqr.domain.clusters import fold
from traceqr.domain.dates import VIETNAM_TZ
from traceqr.domain.provinces import all_provinces, province
from traceqr.domain.stamp_format import short_code
from traceqr.errors import N_, NotFound, ValidationError
from traceqr.models import (
    Batch,
    Business,
    Case,
    CaseItem,
    Cluster,
    ForgedDaily,
    Official,
    Product,
    Report,
    Scan,
    ScanDaily,
    Stamp,
)

BAD_STATUSES = ("suspicious", "invalid", "unregistered")
# Written as the partial index's own predicate: SQLite uses a partial index only when the
# query repeats its WHERE term literally (bound parameters do not count).
WARNING_SCANS = text("scans.status IN ('suspicious', 'invalid', 'unregistered')")
OTHER_WARNINGS = ("revoked", "recalled", "inactive")
MAX_PERIOD_DAYS = 731
DEFAULT_PERIOD_DAYS = 30
EVIDENCE_LIMIT = 200


# --- scope and period --------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    provinces: tuple[str, ...]  # empty: the whole country

    @classmethod
    def of(cls, official: Official) -> Scope:
        return cls(tuple(code for code in (official.provinces or "").split(",") if code))

    @property
    def national(self) -> bool:
        return not self.provinces

    def covers(self, code: str | None) -> bool:
        return self.national or (code or "") in self.provinces

    def codes(self) -> list[str]:
        return list(self.provinces) or [p.code for p in all_provinces()]

    def business_condition(self) -> ColumnElement[bool]:
        """Businesses in scope, as SQL (on ``businesses``)."""
        return true() if self.national else Business.province_code.in_(self.provinces)

    def report_condition(self) -> ColumnElement[bool]:
        """Reports in scope, as SQL on ``reports`` alone (no join, so it goes before any
        LIMIT): bought in one of the provinces or, with no place given, about a stamp of an
        in-scope business."""
        if self.national:
            return true()
        return or_(
            Report.province_code.in_(self.provinces),
            and_(
                or_(Report.province_code.is_(None), Report.province_code == ""),
                Report.business_id.in_(select(Business.id).where(self.business_condition())),
            ),
        )

    def narrowed(self, code: str | None) -> Scope:
        """Only ``code`` (which must be covered), or this scope when None."""
        if code is None:
            return self
        if not self.covers(code) or province(code) is None:
            raise NotFound(N_("province %(code)s not found"), code=code)
        return Scope((code,))


@dataclass(frozen=True)
class Period:
    """Whole days in Vietnam's time, both ends included."""

    start: date
    end: date

    @classmethod
    def last_days(cls, today: date, days: int = DEFAULT_PERIOD_DAYS) -> Period:
        return cls(today - timedelta(days=days - 1), today)

    @classmethod
    def parse(cls, start: str | None, end: str | None, today: date) -> Period:
        """From ``YYYY-MM-DD`` texts (a form's date inputs); the last 30 days by default."""

        def read(text: str | None, name: str) -> date | None:
            if not text:
                return None
            try:
                return date.fromisoformat(text.strip()[:10])
            except ValueError as exc:
                raise ValidationError(N_("a date as YYYY-MM-DD"), field=name) from exc

        end_day = read(end, "end") or today
        start_day = read(start, "start") or end_day - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
        if start_day > end_day:
            raise ValidationError(N_("the period starts after it ends"), field="start")
        if (end_day - start_day).days + 1 > MAX_PERIOD_DAYS:
            raise ValidationError(
                N_("a period of at most %(days)s days"), field="start", days=MAX_PERIOD_DAYS
            )
        return cls(start_day, end_day)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time(0), VIETNAM_TZ)

    @property
    def end_at(self) -> datetime:
        """The first instant after the period."""
        return datetime.combine(self.end + timedelta(days=1), time(0), VIETNAM_TZ)

    def query(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()}


# --- rows ----------------------------------------------------------------------------------


@dataclass
class AreaRow:
    """Adoption and checks for a province, a commune, a cluster or one business."""

    key: str
    label: str
    cluster_id: int | None = None
    businesses: int = 0
    adopters: int = 0  # businesses with at least one stamp
    products: int = 0  # products with stamps
    batches: int = 0  # batches with stamps
    stamps: int = 0
    stamps_period: int = 0
    scans: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    reports: int = 0
    cases: set[int] = field(default_factory=set)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def bad(self) -> int:
        return sum(self.by_status.get(s, 0) for s in BAD_STATUSES)

    @property
    def adoption(self) -> float:
        return self.adopters / self.businesses if self.businesses else 0.0

    @property
    def bad_share(self) -> float:
        return self.bad / self.scans if self.scans else 0.0

    def share(self, status: str) -> float:
        return self.by_status.get(status, 0) / self.scans if self.scans else 0.0

    def add(self, other: AreaRow) -> None:
        self.businesses += other.businesses
        self.adopters += other.adopters
        self.products += other.products
        self.batches += other.batches
        self.stamps += other.stamps
        self.stamps_period += other.stamps_period
        self.scans += other.scans
        for status, n in other.by_status.items():
            self.by_status[status] = self.by_status.get(status, 0) + n
        self.reports += other.reports
        self.cases |= other.cases


@dataclass(frozen=True)
class TimePoint:
    label: str
    start: date
    genuine: int
    other: int  # revoked, recalled, inactive
    bad: int  # suspicious, invalid, unregistered
    issued: int  # stamps of batches created then


@dataclass
class AreaDashboard:
    period: Period
    province_code: str
    cluster: Cluster | None
    total: AreaRow
    timeline: list[TimePoint]
    communes: list[AreaRow]
    clusters: list[AreaRow]  # ranked by adoption
    businesses: list[AreaRow]
    cases_open: int


# --- adoption dashboards ------------------------------------------------------------------


def _business_filter(province_code: str, cluster_id: int | None) -> ColumnElement[bool]:
    condition = Business.province_code == province_code
    if cluster_id is not None:
        condition = and_(condition, Business.cluster_id == cluster_id)
    return condition


def _int(value: Any) -> int:
    return int(value or 0)


def _business_rows(
    session: Session, period: Period, condition: ColumnElement[bool], *, activity: bool = True
) -> dict[int, AreaRow]:
    """One row per business of the area, with its stamps, and (``activity``) its checks,
    reports and cases."""
    rows: dict[int, AreaRow] = {}
    for b in session.execute(
        select(
            Business.id,
            Business.name,
            Business.address_commune,
            Business.cluster_id,
            Business.cluster_name,
        ).where(condition)
    ):
        rows[b.id] = AreaRow(
            key=str(b.id),
            label=b.name,
            cluster_id=b.cluster_id,
            businesses=1,
            extra={"commune": b.address_commune or "", "cluster_name": b.cluster_name or ""},
        )
    if not rows:
        return rows
    stamped = Batch.stamps_total > 0
    for r in session.execute(
        select(
            Batch.business_id,
            func.count(func.distinct(case((stamped, Batch.product_id)))),
            func.sum(case((stamped, 1), else_=0)),
            func.sum(Batch.stamps_total),
            func.sum(
                case(
                    (
                        and_(Batch.created_at >= period.start_at, Batch.created_at < period.end_at),
                        Batch.stamps_total,
                    ),
                    else_=0,
                )
            ),
        )
        .join(Business, Business.id == Batch.business_id)
        .where(condition)
        .group_by(Batch.business_id)
    ):
        row = rows[r[0]]
        row.products, row.batches, row.stamps, row.stamps_period = (_int(v) for v in r[1:])
        row.adopters = 1 if row.stamps > 0 else 0
    if not activity:
        return rows
    for business_id, status, n in session.execute(
        select(ScanDaily.business_id, ScanDaily.status, func.sum(ScanDaily.count))
        .join(Business, Business.id == ScanDaily.business_id)
        .where(condition, ScanDaily.day >= period.start, ScanDaily.day <= period.end)
        .group_by(ScanDaily.business_id, ScanDaily.status)
    ):
        row = rows[business_id]
        row.by_status[status] = row.by_status.get(status, 0) + _int(n)
        row.scans += _int(n)
    for business_id, n in session.execute(
        select(Report.business_id, func.count())
        .join(Business, Business.id == Report.business_id)
        .where(condition, Report.created_at >= period.start_at, Report.created_at < period.end_at)
        .group_by(Report.business_id)
    ):
        rows[business_id].reports = _int(n)
    for case_id, business_id in _case_links(session, condition, period):
        rows[business_id].cases.add(case_id)
    return rows


def _case_links(
    session: Session, condition: ColumnElement[bool], period: Period
) -> set[tuple[int, int]]:
    """(case, business) pairs for cases opened in the period about the area's businesses:
    through a batch, a stamp or a report."""
    opened = and_(Case.opened_at >= period.start_at, Case.opened_at < period.end_at)
    links: set[tuple[int, int]] = set()
    queries = [
        select(CaseItem.case_id, Batch.business_id)
        .join(Batch, Batch.id == CaseItem.batch_id)
        .join(Business, Business.id == Batch.business_id)
        .join(Case, Case.id == CaseItem.case_id)
        .where(condition, opened),
        select(CaseItem.case_id, Batch.business_id)
        .join(Stamp, Stamp.id == CaseItem.stamp_id)
        .join(Batch, Batch.id == Stamp.batch_id)
        .join(Business, Business.id == Batch.business_id)
        .join(Case, Case.id == CaseItem.case_id)
        .where(condition, opened),
        select(Report.case_id, Report.business_id)
        .join(Business, Business.id == Report.business_id)
        .join(Case, Case.id == Report.case_id)
        .where(condition, opened),
    ]
    for query in queries:
        links.update((int(c), int(b)) for c, b in session.execute(query.distinct()))
    return links


def _bucket(period: Period) -> tuple[int, str]:
    """Days per chart column and how to label it."""
    if period.days <= 62:
        return 1, "%d/%m"
    if period.days <= 366:
        return 7, "%d/%m"
    return 30, "%m/%Y"


def _timeline(session: Session, period: Period, condition: ColumnElement[bool]) -> list[TimePoint]:
    width, fmt = _bucket(period)
    columns = (period.days + width - 1) // width
    counts = [[0, 0, 0, 0] for _ in range(columns)]
    for day, status, n in session.execute(
        select(ScanDaily.day, ScanDaily.status, func.sum(ScanDaily.count))
        .join(Business, Business.id == ScanDaily.business_id)
        .where(condition, ScanDaily.day >= period.start, ScanDaily.day <= period.end)
        .group_by(ScanDaily.day, ScanDaily.status)
    ):
        slot = counts[(_as_date(day) - period.start).days // width]
        slot[2 if status in BAD_STATUSES else 1 if status in OTHER_WARNINGS else 0] += _int(n)
    for created_at, n in session.execute(
        select(Batch.created_at, Batch.stamps_total)
        .join(Business, Business.id == Batch.business_id)
        .where(
            condition,
            Batch.created_at >= period.start_at,
            Batch.created_at < period.end_at,
            Batch.stamps_total > 0,
        )
    ):
        day = created_at.astimezone(VIETNAM_TZ).date()
        counts[(day - period.start).days // width][3] += _int(n)
    points = []
    for i, (genuine, other, bad, issued) in enumerate(counts):
        start = period.start + timedelta(days=i * width)
        points.append(TimePoint(start.strftime(fmt), start, genuine, other, bad, issued))
    return points


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _group(
    rows: Iterable[AreaRow], key_of: Any, label_of: Any, cluster_of: Any = None
) -> dict[str, AreaRow]:
    groups: dict[str, AreaRow] = {}
    for row in rows:
        key = key_of(row)
        group = groups.get(key)
        if group is None:
            group = groups[key] = AreaRow(
                key=key, label=label_of(row), cluster_id=cluster_of(row) if cluster_of else None
            )
        group.add(row)
    return groups


def area_dashboard(
    session: Session,
    scope: Scope,
    period: Period,
    province_code: str,
    cluster_id: int | None = None,
) -> AreaDashboard:
    """The dashboard of one province of the scope, or of one cluster in it."""
    scope.narrowed(province_code)
    cluster = None
    if cluster_id is not None:
        cluster = session.get(Cluster, cluster_id)
        if cluster is None or cluster.province_code != province_code:
            raise NotFound(N_("cluster %(id)s not found"), id=cluster_id)
    condition = _business_filter(province_code, cluster_id)
    businesses = _business_rows(session, period, condition)
    total = AreaRow(key=province_code, label=cluster.name if cluster else province_code)
    for row in businesses.values():
        total.add(row)
    communes = sorted(
        _group(
            businesses.values(),
            lambda r: fold(r.extra["commune"]),
            lambda r: r.extra["commune"],
        ).values(),
        key=lambda r: (-r.businesses, -r.stamps, r.label),
    )
    register = list(session.scalars(select(Cluster).where(Cluster.province_code == province_code)))
    by_cluster = _group(
        (r for r in businesses.values() if r.cluster_id is not None),
        lambda r: str(r.cluster_id),
        lambda r: r.extra["cluster_name"],
        lambda r: r.cluster_id,
    )
    clusters: list[AreaRow] = []
    for entry in register:
        if cluster is not None and entry.id != cluster.id:
            continue
        row = by_cluster.get(str(entry.id)) or AreaRow(key=str(entry.id), label=entry.name)
        row.label, row.cluster_id = entry.name, entry.id
        row.extra.update(
            kind=entry.kind, commune=entry.commune or "", area_ha=entry.area_ha, status=entry.status
        )
        clusters.append(row)
    clusters.sort(key=lambda r: (-r.adoption, -r.adopters, -r.stamps, r.label))
    open_cases = {c for row in businesses.values() for c in row.cases}
    cases_open = (
        session.scalar(select(func.count()).where(Case.id.in_(open_cases), Case.status == "open"))
        if open_cases
        else 0
    )
    return AreaDashboard(
        period=period,
        province_code=province_code,
        cluster=cluster,
        total=total,
        timeline=_timeline(session, period, condition),
        communes=communes,
        clusters=clusters,
        businesses=sorted(businesses.values(), key=lambda r: (-r.stamps, r.label)),
        cases_open=_int(cases_open),
    )


def scope_summary(session: Session, scope: Scope, period: Period) -> list[AreaRow]:
    """One row per province of the scope that has businesses or a register, biggest first:
    businesses, adopters, stamps, and the checks of their stamps in the period."""
    codes = scope.codes()
    condition = Business.province_code.in_(codes)
    rows = _business_rows(session, period, condition, activity=False)
    province_of: dict[int, str | None] = {
        b_id: code
        for b_id, code in session.execute(
            select(Business.id, Business.province_code).where(condition)
        )
    }
    grouped = _group(
        rows.values(),
        lambda r: province_of[int(r.key)] or "",
        lambda r: province_of[int(r.key)] or "",
    )
    # One province at a time: each walks its businesses' ranges of scan_daily's key
    # (business, day), where a list of provinces would make the database scan it all.
    for code in sorted({c for c in province_of.values() if c}):
        row = grouped.setdefault(code, AreaRow(key=code, label=code))
        for status, n in session.execute(
            select(ScanDaily.status, func.sum(ScanDaily.count))
            .join(Business, Business.id == ScanDaily.business_id)
            .where(
                Business.province_code == code,
                ScanDaily.day >= period.start,
                ScanDaily.day <= period.end,
            )
            .group_by(ScanDaily.status)
        ):
            row.by_status[status] = row.by_status.get(status, 0) + _int(n)
            row.scans += _int(n)
    for code in session.scalars(
        select(Cluster.province_code).where(Cluster.province_code.in_(codes)).distinct()
    ):
        grouped.setdefault(code, AreaRow(key=code, label=code))
    for code in scope.provinces:
        grouped.setdefault(code, AreaRow(key=code, label=code))
    return sorted(grouped.values(), key=lambda r: (-r.businesses, -r.stamps, r.key))


# --- hot spots -----------------------------------------------------------------------------


@dataclass
class SpotRow:
    key: str
    label: str
    link: dict[str, str]  # query of the evidence page behind the figures
    by_status: dict[str, int] = field(default_factory=dict)
    reports: int = 0
    cases: set[int] = field(default_factory=set)
    extra: dict[str, Any] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return self.by_status.get(status, 0)

    @property
    def bad(self) -> int:
        return sum(self.count(s) for s in BAD_STATUSES)

    @property
    def weight(self) -> int:
        return self.bad + self.reports


@dataclass
class HotSpots:
    period: Period
    scope: Scope
    provinces: list[SpotRow]  # where the checks were made and shoppers bought
    producers: list[SpotRow]  # the in-scope producers' communes whose goods are copied
    clusters: list[SpotRow]  # the same, by the producers' cluster
    places: list[SpotRow]  # where shoppers reported buying
    outside_producers: SpotRow  # checks in scope of goods from producers outside it
    # Forged codes (bad signatures) naming an in-scope producer's key, by producer: kept
    # apart, never in the producers' or clusters' figures (anyone can type any key id).
    forged: list[SpotRow] = field(default_factory=list)


def _check_scope_condition(scope: Scope) -> ColumnElement[bool]:
    """scan_daily joined to businesses: the check was made in scope (or, with no place,
    the business is in scope)."""
    codes = scope.codes()
    return or_(
        ScanDaily.province_code.in_(codes),
        and_(ScanDaily.province_code == "", Business.province_code.in_(codes)),
    )


def _report_scope_condition(scope: Scope) -> ColumnElement[bool]:
    codes = scope.codes()
    return or_(
        Report.province_code.in_(codes),
        and_(Report.province_code.is_(None), Business.province_code.in_(codes)),
    )


def hot_spots(session: Session, scope: Scope, period: Period) -> HotSpots:
    codes = set(scope.codes())
    provinces: dict[str, SpotRow] = {}

    def province_row(code: str) -> SpotRow:
        if code not in provinces:
            provinces[code] = SpotRow(key=code, label=code, link={"province": code or "-"})
        return provinces[code]

    producer_rows: dict[int, dict[str, int]] = defaultdict(dict)
    outside = SpotRow(key="outside", label="", link={})
    for place, business_id, business_province, status, n in session.execute(
        select(
            ScanDaily.province_code,
            ScanDaily.business_id,
            Business.province_code,
            ScanDaily.status,
            func.sum(ScanDaily.count),
        )
        .join(Business, Business.id == ScanDaily.business_id)
        .where(
            _check_scope_condition(scope),
            ScanDaily.status.in_(BAD_STATUSES),
            ScanDaily.day >= period.start,
            ScanDaily.day <= period.end,
        )
        .group_by(
            ScanDaily.province_code, ScanDaily.business_id, Business.province_code, ScanDaily.status
        )
    ):
        row = province_row(place or "")
        row.by_status[status] = row.by_status.get(status, 0) + _int(n)
        if business_province in codes:
            counts = producer_rows[business_id]
            counts[status] = counts.get(status, 0) + _int(n)
        else:
            outside.by_status[status] = outside.by_status.get(status, 0) + _int(n)
    # Forged codes no business is behind: only the place of the check tells where.
    for place, status, n in session.execute(
        select(Scan.province_code, Scan.status, func.count())
        .where(
            Scan.business_id.is_(None),
            Scan.scanned_at >= period.start_at,
            Scan.scanned_at < period.end_at,
            Scan.province_code.in_(codes),
        )
        .group_by(Scan.province_code, Scan.status)
    ):
        if status in BAD_STATUSES:
            row = province_row(place)
            row.by_status[status] = row.by_status.get(status, 0) + _int(n)

    places: dict[str, SpotRow] = {}
    producer_reports: dict[int, tuple[int, set[int]]] = {}
    for r in session.execute(
        select(
            Report.province_code,
            Report.business_id,
            Business.province_code.label("business_province"),
            Report.shop_name,
            Report.shop_address,
            Report.case_id,
        )
        .outerjoin(Business, Business.id == Report.business_id)
        .where(
            _report_scope_condition(scope),
            Report.created_at >= period.start_at,
            Report.created_at < period.end_at,
        )
    ):
        place = r.province_code or ""
        row = province_row(place)
        row.reports += 1
        if r.case_id:
            row.cases.add(r.case_id)
        shop = " ".join(
            p for p in ((r.shop_name or "").strip(), (r.shop_address or "").strip()) if p
        )
        key = f"{place}|{fold(shop)}"
        spot = places.get(key)
        if spot is None:
            spot = places[key] = SpotRow(
                key=key,
                label=shop,
                link={"province": place or "-", "place": fold(shop) or "-"},
                extra={"province": place},
            )
        spot.reports += 1
        if r.case_id:
            spot.cases.add(r.case_id)
        if r.business_id is not None and r.business_province in codes:
            n, cases = producer_reports.get(r.business_id, (0, set()))
            producer_reports[r.business_id] = (
                n + 1,
                cases | ({r.case_id} if r.case_id else set()),
            )

    producers, clusters = _producer_spots(session, producer_rows, producer_reports)
    forged = [
        SpotRow(
            key=str(r.id),
            label=r.name,
            link={},
            by_status={"forged": _int(r.n)},
            extra={
                "province": r.province_code,
                "commune": r.address_commune or "",
                "cluster": r.cluster_name or "",
            },
        )
        for r in session.execute(
            select(
                Business.id,
                Business.name,
                Business.province_code,
                Business.address_commune,
                Business.cluster_name,
                func.sum(ForgedDaily.count).label("n"),
            )
            .join(Business, Business.id == ForgedDaily.business_id)
            .where(
                Business.province_code.in_(codes),
                ForgedDaily.day >= period.start,
                ForgedDaily.day <= period.end,
            )
            .group_by(
                Business.id,
                Business.name,
                Business.province_code,
                Business.address_commune,
                Business.cluster_name,
            )
            .order_by(func.sum(ForgedDaily.count).desc(), Business.name)
            .limit(50)
        )
    ]
    return HotSpots(
        period=period,
        scope=scope,
        provinces=sorted(provinces.values(), key=lambda s: (-s.weight, s.key)),
        producers=producers,
        clusters=clusters,
        places=sorted(places.values(), key=lambda s: (-s.reports, s.label))[:50],
        outside_producers=outside,
        forged=forged,
    )


def _producer_spots(
    session: Session,
    counts: dict[int, dict[str, int]],
    reports: dict[int, tuple[int, set[int]]],
) -> tuple[list[SpotRow], list[SpotRow]]:
    ids = set(counts) | set(reports)
    if not ids:
        return [], []
    communes: dict[str, SpotRow] = {}
    clusters: dict[str, SpotRow] = {}
    for b in session.execute(
        select(
            Business.id,
            Business.province_code,
            Business.address_commune,
            Business.cluster_id,
            Business.cluster_name,
        ).where(Business.id.in_(ids))
    ):
        commune = b.address_commune or ""
        targets = [
            communes.setdefault(
                f"{b.province_code}|{fold(commune)}",
                SpotRow(
                    key=f"{b.province_code}|{fold(commune)}",
                    label=commune,
                    link={"producer_province": b.province_code, "commune": fold(commune) or "-"},
                    extra={"province": b.province_code},
                ),
            )
        ]
        if b.cluster_id is not None:
            targets.append(
                clusters.setdefault(
                    str(b.cluster_id),
                    SpotRow(
                        key=str(b.cluster_id),
                        label=b.cluster_name or "",
                        link={"cluster": str(b.cluster_id)},
                        extra={"province": b.province_code},
                    ),
                )
            )
        n_reports, cases = reports.get(b.id, (0, set()))
        for target in targets:
            for status, n in counts.get(b.id, {}).items():
                target.by_status[status] = target.by_status.get(status, 0) + n
            target.reports += n_reports
            target.cases |= cases

    def ranked(rows: dict[str, SpotRow]) -> list[SpotRow]:
        return sorted(rows.values(), key=lambda s: (-s.weight, s.label))

    return ranked(communes), ranked(clusters)


# --- the evidence behind a figure ----------------------------------------------------------


@dataclass(frozen=True)
class EvidenceFilter:
    province: str | None = None  # where the check was made / bought; "-" for "not given"
    producer_province: str | None = None
    commune: str | None = None  # folded commune of the producer; "-" for "not given"
    cluster_id: int | None = None
    place: str | None = None  # folded shop name and address
    status: str | None = None

    @classmethod
    def from_query(cls, args: Any) -> EvidenceFilter:
        def text(name: str) -> str | None:
            value = (args.get(name) or "").strip()
            return value[:300] or None

        cluster = text("cluster")
        status = text("status")
        return cls(
            province=text("province"),
            producer_province=text("producer_province"),
            commune=text("commune"),
            cluster_id=int(cluster)
            if cluster and cluster.isdigit() and len(cluster) < 10
            else None,
            place=text("place"),
            status=status if status in BAD_STATUSES else None,
        )

    def query(self) -> dict[str, str]:
        values = {
            "province": self.province,
            "producer_province": self.producer_province,
            "commune": self.commune,
            "cluster": str(self.cluster_id) if self.cluster_id is not None else None,
            "place": self.place,
            "status": self.status,
        }
        return {k: v for k, v in values.items() if v is not None}


@dataclass
class EvidenceStamp:
    stamp_id: int
    code: str  # the short code printed under the QR: the inspector dossier's key
    product: str
    lot: str
    business: str
    commune: str
    by_status: dict[str, int]
    cases: list[int]

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


@dataclass
class EvidenceReport:
    id: int
    created_at: datetime
    status: str
    shop_name: str
    shop_address: str
    province_code: str
    code: str | None  # what to open the inspector dossier with
    case_id: int | None


@dataclass
class Evidence:
    filter: EvidenceFilter
    period: Period
    stamps: list[EvidenceStamp]
    reports: list[EvidenceReport]
    unattributed: int  # forged codes no business is behind, checked at that place
    cases: list[Case]
    outside: int = 0  # checks and reports about producers outside the scope: not named


def evidence(session: Session, scope: Scope, period: Period, flt: EvidenceFilter) -> Evidence:
    """The stamps, reports and cases behind a hot spot's figures."""
    codes = scope.codes()
    place = flt.province
    if place not in (None, "-") and place not in codes:
        raise NotFound(N_("province %(code)s not found"), code=place)
    if flt.producer_province is not None and flt.producer_province not in codes:
        raise NotFound(N_("province %(code)s not found"), code=flt.producer_province)
    if flt.cluster_id is not None:
        cluster = session.get(Cluster, flt.cluster_id)
        if cluster is None or cluster.province_code not in codes:
            raise NotFound(N_("cluster %(id)s not found"), id=flt.cluster_id)
    statuses = (flt.status,) if flt.status else BAD_STATUSES

    producer: list[ColumnElement[bool]] = []
    if flt.producer_province or flt.commune or flt.cluster_id is not None:
        producer.append(Business.province_code.in_(codes))
    if flt.producer_province:
        producer.append(Business.province_code == flt.producer_province)
    if flt.cluster_id is not None:
        producer.append(Business.cluster_id == flt.cluster_id)
    commune_key = flt.commune

    def commune_ok(commune: str | None) -> bool:
        if commune_key is None:
            return True
        return fold(commune or "") == ("" if commune_key == "-" else commune_key)

    stamps: list[EvidenceStamp] = []
    outside = 0  # checks and reports in scope about producers outside it
    if flt.place is None:
        check_place: ColumnElement[bool]
        if place is None:
            check_place = or_(
                Scan.province_code.in_(codes),
                and_(Scan.province_code.is_(None), Business.province_code.in_(codes)),
            )
        elif place == "-":
            check_place = and_(Scan.province_code.is_(None), Business.province_code.in_(codes))
        else:
            check_place = Scan.province_code == place
        grouped = session.execute(
            select(Scan.stamp_id, Business.province_code, Scan.status, func.count())
            .join(Business, Business.id == Scan.business_id)
            .where(
                check_place,
                *producer,
                Scan.stamp_id.is_not(None),
                WARNING_SCANS,  # the partial index ix_scans_warnings_time
                Scan.status.in_(statuses),
                Scan.scanned_at >= period.start_at,
                Scan.scanned_at < period.end_at,
            )
            .group_by(Scan.stamp_id, Business.province_code, Scan.status)
        ).all()
        counts: dict[int, dict[str, int]] = defaultdict(dict)
        for stamp_id, producer_province, status, n in grouped:
            if producer_province not in codes:  # counted, never named
                outside += _int(n)
                continue
            counts[stamp_id][status] = _int(n)
        top = sorted(counts, key=lambda s: -sum(counts[s].values()))[: EVIDENCE_LIMIT * 2]
        if top:
            for r in session.execute(
                select(
                    Stamp.id,
                    Stamp.serial,
                    Batch.lot,
                    Product.name,
                    Business.name.label("business"),
                    Business.address_commune,
                )
                .join(Batch, Batch.id == Stamp.batch_id)
                .join(Product, Product.id == Batch.product_id)
                .join(Business, Business.id == Batch.business_id)
                .where(Stamp.id.in_(top))
            ):
                if not commune_ok(r.address_commune):
                    continue
                stamps.append(
                    EvidenceStamp(
                        r.id,
                        short_code(bytes(r.serial)),
                        r.name,
                        r.lot,
                        r.business,
                        r.address_commune or "",
                        counts[r.id],
                        [],
                    )
                )
        stamps.sort(key=lambda s: (-s.total, s.code))
        stamps = stamps[:EVIDENCE_LIMIT]
        if stamps:
            ids = [s.stamp_id for s in stamps]
            by_stamp: dict[int, list[int]] = defaultdict(list)
            for stamp_id, case_id in session.execute(
                select(CaseItem.stamp_id, CaseItem.case_id).where(CaseItem.stamp_id.in_(ids))
            ):
                by_stamp[stamp_id].append(case_id)
            for stamp_id, case_id in session.execute(
                select(Stamp.id, CaseItem.case_id)
                .join(CaseItem, CaseItem.batch_id == Stamp.batch_id)
                .where(Stamp.id.in_(ids))
            ):
                by_stamp[stamp_id].append(case_id)
            for s in stamps:
                s.cases = sorted(set(by_stamp.get(s.stamp_id, [])))

    reports: list[EvidenceReport] = []
    report_place: ColumnElement[bool]
    if place is None:
        report_place = _report_scope_condition(scope)
    elif place == "-":
        report_place = and_(Report.province_code.is_(None), Business.province_code.in_(codes))
    else:
        report_place = Report.province_code == place
    report_statuses = () if flt.status is None else (flt.status,)
    for r in session.execute(
        select(Report, Stamp.serial, Business.address_commune, Business.province_code)
        .outerjoin(Business, Business.id == Report.business_id)
        .outerjoin(Stamp, Stamp.id == Report.stamp_id)
        .where(
            report_place,
            *producer,
            *([Report.status_at_report.in_(report_statuses)] if report_statuses else []),
            Report.created_at >= period.start_at,
            Report.created_at < period.end_at,
        )
        .order_by(Report.id.desc())
        .limit(EVIDENCE_LIMIT * 5)
    ):
        report, serial, commune, producer_province = r
        if not commune_ok(commune) and (flt.commune is not None):
            continue
        if report.business_id is not None and producer_province not in codes:
            outside += 1
            continue
        shop = " ".join(
            p for p in ((report.shop_name or "").strip(), (report.shop_address or "").strip()) if p
        )
        if flt.place is not None and fold(shop) != ("" if flt.place == "-" else flt.place):
            continue
        reports.append(
            EvidenceReport(
                id=report.id,
                created_at=report.created_at,
                status=report.status_at_report,
                shop_name=report.shop_name or "",
                shop_address=report.shop_address or "",
                province_code=report.province_code or "",
                code=short_code(bytes(serial)) if serial is not None else report.scanned_text,
                case_id=report.case_id,
            )
        )
        if len(reports) >= EVIDENCE_LIMIT:
            break

    unattributed = 0
    if not producer and flt.place is None and place not in (None, "-") and "invalid" in statuses:
        unattributed = _int(
            session.scalar(
                select(func.count()).where(
                    Scan.business_id.is_(None),
                    Scan.province_code == place,
                    Scan.status == "invalid",
                    Scan.scanned_at >= period.start_at,
                    Scan.scanned_at < period.end_at,
                )
            )
        )
    case_ids = {c for s in stamps for c in s.cases} | {r.case_id for r in reports if r.case_id}
    cases = (
        list(session.scalars(select(Case).where(Case.id.in_(case_ids)).order_by(Case.id.desc())))
        if case_ids
        else []
    )
    return Evidence(flt, period, stamps, reports, unattributed, cases, outside)
