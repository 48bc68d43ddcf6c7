"""The authority's aggregates with a million checks: every figure of the province and
cluster dashboards, the counterfeit hot spots and the evidence behind one figure, timed
against a plain ``SELECT count(*) FROM scans`` measured in the same run (these machines are
shared and noisy: compare the ratios, not the milliseconds).

The data: a register of 60 parks and clusters in three provinces, 300 businesses spread
over 40 communes (two in three with stamps), 20,000 stamps, and N checks over the last
365 days — mostly genuine, the rest suspicious, invalid (half of them forged codes no
business is behind), unregistered, revoked, recalled or inactive — bulk-written with the
``scan_daily`` counts the verification path keeps, plus 2,000 shoppers' reports. On
PostgreSQL the tables are then vacuumed and analysed, as autovacuum would.

    python -m bench.authority_dashboard [--scans 1000000] [--db sqlite|postgresql|both]
                                        [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import create_engine, func, insert, make_url, select, text
from sqlalchemy.engine import Engine

from bench.common import PG_URL, database
from traceqr.config import load_settings
from traceqr.db import upgrade_schema
from traceqr.domain.dates import VIETNAM_TZ
from traceqr.models import (
    Batch,
    Business,
    Cluster,
    Product,
    Report,
    Scan,
    ScanDaily,
    SigningKey,
    Stamp,
)
from traceqr.services import authority as svc
from traceqr.state import AppState

PROVINCES = ("ha-noi", "bac-ninh", "hung-yen")
PLACES = ("ha-noi", "ha-noi", "ha-noi", "bac-ninh", "hung-yen", "ho-chi-minh", "lang-son", None)
STATUSES = (
    ("genuine", 0.875),
    ("suspicious", 0.04),
    ("invalid", 0.035),
    ("unregistered", 0.01),
    ("revoked", 0.015),
    ("recalled", 0.015),
    ("inactive", 0.01),
)
BUSINESSES = 300
CLUSTERS = 60
STAMPS = 20_000
REPORTS = 2_000
DAYS = 365
CHUNK = 50_000


def say(message: str) -> None:
    print(message, flush=True)


def _t(value: datetime, sqlite: bool) -> Any:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else value


def build(engine: Engine, scans: int, now: datetime) -> None:
    sqlite = engine.dialect.name == "sqlite"
    rng = random.Random(2018)
    started = time.perf_counter()
    with engine.begin() as c:
        c.execute(
            insert(Cluster.__table__),
            [
                {
                    "name": f"Cụm công nghiệp số {i}",
                    "kind": "park" if i % 7 == 0 else "cluster",
                    "province_code": PROVINCES[i % 3],
                    "commune": f"Xã {i % 40}",
                    "area_ha": 5.0 + i,
                    "status": "operating",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(CLUSTERS)
            ],
        )
        cluster_ids = list(c.scalars(select(Cluster.id).order_by(Cluster.id)))
        c.execute(
            insert(Business.__table__),
            [
                {
                    "name": f"Cơ sở {i}",
                    "email": f"b{i}@example.vn",
                    "province_code": PROVINCES[i % 3],
                    "address_commune": f"Xã {i % 40}",
                    "cluster_id": cluster_ids[(i * 7) % CLUSTERS] if i % 5 else None,
                    "created_at": now,
                }
                for i in range(BUSINESSES)
            ],
        )
        business_ids = list(c.scalars(select(Business.id).order_by(Business.id)))
        c.execute(
            insert(SigningKey.__table__),
            [
                {
                    "business_id": b,
                    "kid": b.to_bytes(4, "big"),
                    "public_key": bytes(32),
                    "status": "active",
                    "created_at": now,
                }
                for b in business_ids
            ],
        )
        keys = dict(c.execute(select(SigningKey.business_id, SigningKey.id)).all())
        adopters = [b for i, b in enumerate(business_ids) if i % 3]
        c.execute(
            insert(Product.__table__),
            [
                {"business_id": b, "name": f"Sản phẩm {b}", "created_at": now, "updated_at": now}
                for b in adopters
            ],
        )
        products = dict(c.execute(select(Product.business_id, Product.id)).all())
        per_batch = STAMPS // len(adopters)
        c.execute(
            insert(Batch.__table__),
            [
                {
                    "business_id": b,
                    "product_id": products[b],
                    "lot": f"L{b}",
                    "stamps_total": per_batch,
                    "stamps_active": per_batch,
                    "created_at": now - timedelta(days=rng.randrange(DAYS)),
                }
                for b in adopters
            ],
        )
        batches = list(c.execute(select(Batch.id, Batch.business_id)))
        stamp_rows = []
        for batch_id, business_id in batches:
            for seq in range(1, per_batch + 1):
                stamp_rows.append(
                    {
                        "batch_id": batch_id,
                        "signing_key_id": keys[business_id],
                        "seq": seq,
                        "serial": os.urandom(10),
                        "signature": bytes(64),
                        "active": True,
                        "scan_count": 0,
                    }
                )
        c.execute(insert(Stamp.__table__), stamp_rows)
        stamp_owner = list(c.execute(select(Stamp.id, Batch.business_id).join(Batch)))
    say(f"  register, {BUSINESSES} businesses, {len(stamp_owner):,} stamps")

    statuses = [s for s, _ in STATUSES]
    weights = [w for _, w in STATUSES]
    columns = ("stamp_id", "business_id", "scanned_at", "status", "reasons", "channel",
               "province_code")  # fmt: skip
    daily: Counter[tuple[int, date, str, str]] = Counter()
    start = now - timedelta(days=DAYS)
    step = DAYS * 86400 / max(scans, 1)
    made = 0
    while made < scans:
        size = min(CHUNK, scans - made)
        chosen = rng.choices(statuses, weights, k=size)
        places = rng.choices(PLACES, k=size)
        rows = []
        for i in range(size):
            status, place = chosen[i], places[i]
            at = start + timedelta(seconds=(made + i) * step)
            stamp_id, business_id = rng.choice(stamp_owner)
            if status == "invalid" and i % 2:
                stamp_id = business_id = None  # a forged code: no business behind it
            elif status in ("invalid", "unregistered"):
                stamp_id = None
            rows.append((stamp_id, business_id, _t(at, sqlite), status, "", "page", place))
            if business_id is not None:
                daily[(business_id, at.astimezone(VIETNAM_TZ).date(), status, place or "")] += 1
        with engine.begin() as c:
            if sqlite:
                marks = ", ".join("?" for _ in columns)
                c.exec_driver_sql(
                    f"INSERT INTO scans ({', '.join(columns)}) VALUES ({marks})", rows
                )
            else:
                raw = c.connection.driver_connection
                with (
                    raw.cursor() as cursor,
                    cursor.copy(  # type: ignore[union-attr]
                        f"COPY scans ({', '.join(columns)}) FROM STDIN"
                    ) as copy,
                ):
                    for row in rows:
                        copy.write_row(row)
        made += size
    with engine.begin() as c:
        c.execute(
            insert(ScanDaily.__table__),
            [
                {"business_id": b, "day": d, "status": s, "province_code": p, "count": n}
                for (b, d, s, p), n in daily.items()
            ],
        )
        c.execute(
            insert(Report.__table__),
            [
                {
                    "stamp_id": sid,
                    "business_id": bid,
                    "status_at_report": "suspicious",
                    "shop_name": f"Cửa hàng {rng.randrange(150)}",
                    "province_code": rng.choice(PLACES),
                    "created_at": now - timedelta(days=rng.randrange(DAYS)),
                }
                for sid, bid in rng.choices(stamp_owner, k=REPORTS)
            ],
        )
    say(
        f"  {scans:,} checks, {len(daily):,} scan_daily rows, {REPORTS:,} reports "
        f"in {time.perf_counter() - started:.1f} s"
    )
    if not sqlite:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            for table in ("scans", "scan_daily", "stamps", "batches", "businesses", "reports"):
                c.execute(text(f"VACUUM ANALYZE {table}"))


def median_ms(call: Callable[[], Any], repeat: int) -> float:
    call()  # warm: statement caches, pages in memory
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def run(kind: str, scans: int, repeat: int) -> list[tuple[str, float]]:
    now = datetime.now(UTC)
    today = now.astimezone(VIETNAM_TZ).date()
    with database(kind) as url, tempfile.TemporaryDirectory() as instance:
        settings = load_settings(
            {"instance_path": instance, "database_url": url, "rate_limits_enabled": False}
        )
        state = AppState.create(settings)
        try:
            upgrade_schema(state.database)
            say(f"\n# {kind}: building the data")
            build(state.database.engine, scans, now)
            scope = svc.Scope(("ha-noi",))
            month = svc.Period.last_days(today, 30)
            year = svc.Period.last_days(today, DAYS)
            with state.database.session() as session:
                cluster_id = session.scalar(  # the Hà Nội cluster with most businesses
                    select(Business.cluster_id)
                    .where(Business.province_code == "ha-noi", Business.cluster_id.is_not(None))
                    .group_by(Business.cluster_id)
                    .order_by(func.count().desc())
                    .limit(1)
                )
                total = session.scalar(select(func.count()).select_from(Scan))
            say(f"  {total:,} rows in scans")

            def timed(name: str, call: Callable[[Any], Any]) -> tuple[str, float]:
                def once() -> Any:
                    with state.database.session() as session:
                        return call(session)

                return name, median_ms(once, repeat)

            rows = [
                timed(
                    "baseline: SELECT count(*) FROM scans",
                    lambda s: s.scalar(select(func.count()).select_from(Scan)),
                ),
                timed(
                    "province dashboard, 30 days",
                    lambda s: svc.area_dashboard(s, scope, month, "ha-noi"),
                ),
                timed(
                    "province dashboard, 365 days",
                    lambda s: svc.area_dashboard(s, scope, year, "ha-noi"),
                ),
                timed(
                    "cluster dashboard, 365 days",
                    lambda s: svc.area_dashboard(s, scope, year, "ha-noi", cluster_id),
                ),
                timed(
                    "overview of the whole country, 30 days",
                    lambda s: svc.scope_summary(s, svc.Scope(()), month),
                ),
                timed(
                    "overview of the whole country, 365 days",
                    lambda s: svc.scope_summary(s, svc.Scope(()), year),
                ),
                timed("hot spots, 30 days", lambda s: svc.hot_spots(s, scope, month)),
                timed("hot spots, 365 days", lambda s: svc.hot_spots(s, scope, year)),
                timed(
                    "evidence behind Hà Nội's suspicious checks, 30 days",
                    lambda s: svc.evidence(
                        s,
                        scope,
                        month,
                        svc.EvidenceFilter(province="ha-noi", status="suspicious"),
                    ),
                ),
            ]
        finally:
            state.database.dispose()
    base = rows[0][1]
    print(f"\n## {kind}: the authority's aggregates over {scans:,} checks (median of {repeat})")
    width = max(len(name) for name, _ in rows)
    for name, ms in rows:
        print(f"  {name:<{width}}  {ms:9.1f} ms  {ms / base:6.2f}x baseline")
    return rows


def postgres_answers() -> bool:
    engine = create_engine(make_url(PG_URL), connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure means "not available"
        return False
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scans", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default=None)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if args.db is None:
        kinds = ["sqlite", "postgresql"] if postgres_answers() else ["sqlite"]
    else:
        kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for kind in kinds:
        run(kind, args.scans, args.repeat)


if __name__ == "__main__":
    main()
