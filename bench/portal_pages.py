"""Portal pages with a million stamps and a million scans: every GET page a business uses,
timed through the Flask test client while signed in, against ``GET /healthz`` measured in
the same run. The requirement is that the slowest page answers in under 200 ms.

The data is built the way the service builds it: a business signs up through the portal,
adds products and batches through its forms, issues one batch's stamps as a background job
from the batch page, and the rest through ``issue_stamps`` (the code the API and the jobs
run). Scans are bulk-written over the last 60 days together with the ``scan_daily`` counts
the verification path keeps, and the stamps' scan counters. On PostgreSQL the tables are
then vacuumed and analysed, as autovacuum would do after such a load; SQLite gets no
``ANALYZE`` because the service never runs one.

For every page over the budget the run says where the time went: each SQL statement of
the request run again on its own, the slowest one's plan, and a profile when SQL is not
the cause.

    python -m bench.portal_pages [--stamps 1000000] [--scans 1000000]
                                 [--db sqlite|postgresql|both] [--repeat 5]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import re
import statistics
import tempfile
import time
from array import array
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, func, insert, make_url, select, text
from sqlalchemy.engine import Connection, Engine

from bench.common import PG_URL, database
from traceqr import create_app
from traceqr.db import upgrade_schema
from traceqr.domain.dates import VIETNAM_TZ
from traceqr.domain.provinces import all_provinces
from traceqr.models import Batch, Report, ScanDaily, SigningKey, Stamp, User
from traceqr.services.issuance import issue_stamps
from traceqr.state import AppState

BUDGET_MS = 200.0
ISSUE_CHUNK = 100_000
SCAN_CHUNK = 50_000
SCAN_DAYS = 60
EMAIL = "owner@gomminhan.vn"
PASSWORD = "correct horse battery"
# Share of the stamps in each batch after the one issued from the portal as a job: one
# big production lot (so that ?after=900000 is a real page) and a few small ones.
BATCH_SHARES = (0.92, 0.04, 0.02, 0.01)
JOB_SHARE = 0.01
STATUSES = (  # status, reasons, share of scans
    ("genuine", "", 0.93),
    ("suspicious", "scan_count_high", 0.05),
    ("invalid", "bad_signature", 0.015),
    ("unregistered", "no_record", 0.005),
)
REPORT_SHARE = 0.1  # of the scans that warned: shoppers who then report where they bought it
SHOPS = ("Tạp hoá Minh Châu", "Cửa hàng Gốm Việt", "Chợ Đồng Xuân, sạp 12", "Shop online")
SCAN_COLUMNS = (
    "stamp_id",
    "business_id",
    "scanned_at",
    "status",
    "reasons",
    "channel",
    "kid",
    "serial",
    "province_code",
    "ip_hash",
    "device",
)


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- a person with a browser ---------------------------------------------------------------

_CSRF = re.compile(r'<input[^>]*name="csrf_token"[^>]*>')
_VALUE = re.compile(r'value="([^"]*)"')


def post_form(client: FlaskClient, form_page: str, action: str, data: dict[str, str]) -> str:
    """Submit a portal form like a browser: read its CSRF token, post, follow redirects.
    Returns the path the browser ends on."""
    page = client.get(form_page).get_data(as_text=True)
    tag = _CSRF.search(page)
    assert tag is not None, f"no CSRF token on {form_page}"
    token = _VALUE.search(tag.group(0))
    assert token is not None
    response = client.post(
        action, data={"csrf_token": token.group(1), **data}, follow_redirects=True
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200, (action, response.status_code)
    assert "field-error" not in html, (
        action,
        re.findall(r'class="field-error"[^>]*>([^<]*)', html),
    )
    return response.request.path


def gtin(body: str) -> str:
    """``body`` (13 digits) with its GS1 check digit."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return body + str(-total % 10)


def last_id(path: str) -> int:
    match = re.search(r"/(\d+)$", path)
    assert match is not None, path
    return int(match.group(1))


# --- building the data ---------------------------------------------------------------------


@dataclass
class World:
    business_id: int
    products: list[int]
    batches: list[int]  # the big batch first, the job's batch last
    sizes: list[int]  # stamps of each batch
    job_id: int

    @property
    def big_batch_stamps(self) -> int:
        return self.sizes[0]


def portal_setup(app: Flask, client: FlaskClient, stamps: int) -> World:
    """Sign up, fill the profile, add products and batches, issue one batch as a job."""
    final = post_form(
        client,
        "/portal/signup",
        "/portal/signup",
        {
            "business_name": "Gốm sứ Minh An",
            "name": "Chủ cơ sở",
            "email": EMAIL,
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
    )
    assert final == "/portal/profile", final
    post_form(
        client,
        "/portal/profile",
        "/portal/profile",
        {
            "name": "Gốm sứ Minh An",
            "legal_name": "Công ty TNHH Gốm sứ Minh An",
            "tax_code": "0101234565",
            "address_street": "12 Đường Gốm",
            "address_commune": "Xã Bát Tràng",
            "province_code": "ha-noi",
            "phone": "024 3874 0000",
        },
    )
    products = []
    for name, code in (
        ("Bình gốm men rạn", gtin("0893000000001")),
        ("Chén trà men lam", gtin("0893000000002")),
        ("Đĩa gốm vẽ tay", gtin("0893000000003")),
    ):
        path = post_form(
            client,
            "/portal/products/new",
            "/portal/products/new",
            {"name": name, "gtin": code, "origin": "Việt Nam", "brand": "Minh An"},
        )
        products.append(last_id(path))
    batches = []
    for index in range(len(BATCH_SHARES) + 1):
        product_id = products[index % len(products)]
        form = f"/portal/products/{product_id}/batches/new"
        path = post_form(
            client,
            form,
            form,
            {
                "lot": f"MA-2607-{index + 1:02d}",
                "production_date": f"{index + 1:02d}/06/2026",
                "expiry_date": "12/2031",
                "facility": "Xưởng Bát Tràng",
            },
        )
        batches.append(last_id(path))
    job_count = max(1, int(stamps * JOB_SHARE))
    job_batch = batches[-1]
    path = post_form(
        client,
        f"/portal/batches/{job_batch}",
        f"/portal/batches/{job_batch}/issue",
        {"count": str(job_count), "active": "y"},
    )
    job_id = last_id(path)
    state = AppState.of(app)
    started = time.perf_counter()
    state.jobs.wait(job_id, timeout=600)
    say(
        f"job {job_id}: {job_count:,} stamps issued from the portal in "
        f"{time.perf_counter() - started:.1f} s"
    )
    with state.database.session() as session:
        business_id = session.scalar(select(User.business_id).where(User.email == EMAIL))
        assert business_id is not None
        issued = session.scalar(select(Batch.stamps_total).where(Batch.id == job_batch))
        assert issued == job_count, (issued, job_count)
    rest = stamps - job_count
    small = [int(rest * share) for share in BATCH_SHARES[1:]]
    sizes = [rest - sum(small), *small, job_count]
    return World(business_id, products, batches, sizes, job_id)


def issue_rest(state: AppState, world: World) -> None:
    """The other batches' stamps through issue_stamps, in calls of at most 100,000."""
    rest = sum(world.sizes[:-1])
    done = 0
    started = time.perf_counter()
    for batch_id, size in zip(world.batches[:-1], world.sizes[:-1], strict=True):
        left = size
        while left > 0:
            count = min(ISSUE_CHUNK, left)
            with state.database.session() as session:
                batch = session.get(Batch, batch_id)
                assert batch is not None
                issue_stamps(
                    session,
                    state.keystore,
                    batch,
                    count,
                    now=datetime.now(UTC),
                    max_count=ISSUE_CHUNK,
                )
            left -= count
            done += count
            took = time.perf_counter() - started
            say(f"  stamps: {done:,}/{rest:,} issued ({done / took:,.0f}/s)")


def stamp_ids(connection: Connection) -> tuple[int, int, array[int] | None]:
    low, high, count = connection.execute(
        select(func.min(Stamp.id), func.max(Stamp.id), func.count())
    ).one()
    if high - low + 1 == count:
        return low, high, None
    ids = array("q", connection.execute(select(Stamp.id).order_by(Stamp.id)).scalars())
    return low, high, ids


def scan_rows(
    count: int, business_id: int, kid: bytes, ids: tuple[int, int, array[int] | None], now: datetime
) -> Iterator[list[tuple[Any, ...]]]:
    """Chunks of scan rows in time order over the last SCAN_DAYS days."""
    rng = random.Random(2607)
    low, high, id_list = ids
    pick = (
        (lambda: rng.choice(id_list)) if id_list is not None else (lambda: rng.randint(low, high))
    )
    provinces = [p.code for p in all_provinces()]
    # Shoppers concentrate in the big cities: a Zipf-like weight by rank, and some give
    # no place at all.
    places: list[str | None] = [None, *provinces]
    place_weights = [0.15 * sum(1 / (r + 1) for r in range(len(provinces)))] + [
        1 / (r + 1) for r in range(len(provinces))
    ]
    statuses = [s for s, _r, _w in STATUSES]
    reasons = {s: r for s, r, _w in STATUSES}
    status_weights = [w for _s, _r, w in STATUSES]
    devices = ["android", "ios", "other", "windows", "mac", "bot"]
    device_weights = [0.62, 0.30, 0.03, 0.02, 0.02, 0.01]
    addresses = [rng.randbytes(16) for _ in range(50_000)]
    copied = [pick() for _ in range(500)]  # codes counterfeiters copied: scanned again and again
    start = now - timedelta(days=SCAN_DAYS)
    step = SCAN_DAYS * 86400 / max(count, 1)
    made = 0
    while made < count:
        size = min(SCAN_CHUNK, count - made)
        chosen_status = rng.choices(statuses, status_weights, k=size)
        chosen_place = rng.choices(places, place_weights, k=size)
        chosen_device = rng.choices(devices, device_weights, k=size)
        rows = []
        for i in range(size):
            status = chosen_status[i]
            if status == "genuine":
                stamp_id: int | None = pick()
            elif status == "suspicious":
                stamp_id = rng.choice(copied)
            else:
                stamp_id = None
            rows.append(
                (
                    stamp_id,
                    business_id,
                    start + timedelta(seconds=(made + i + rng.random()) * step),
                    status,
                    reasons[status],
                    "api" if rng.random() < 0.03 else "page",
                    kid,
                    rng.randbytes(10),
                    chosen_place[i],
                    rng.choice(addresses),
                    chosen_device[i],
                )
            )
        made += size
        yield rows


def _sqlite_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def write_scans(engine: Engine, world: World, count: int) -> None:
    """Scans, their daily counts, and the scanned stamps' counters."""
    now = datetime.now(UTC)
    with engine.connect() as connection:
        kid = connection.scalar(
            select(SigningKey.kid).where(
                SigningKey.business_id == world.business_id, SigningKey.status == "active"
            )
        )
        ids = stamp_ids(connection)
    assert kid is not None
    daily: Counter[tuple[Any, str, str]] = Counter()
    reports: list[dict[str, Any]] = []
    pick_report = random.Random(7)
    columns = ", ".join(SCAN_COLUMNS)
    postgres = engine.dialect.name == "postgresql"
    started = time.perf_counter()
    done = 0
    for rows in scan_rows(count, world.business_id, kid, ids, now):
        for row in rows:
            daily[(row[2].astimezone(VIETNAM_TZ).date(), row[3], row[8] or "")] += 1
            if row[3] != "genuine" and pick_report.random() < REPORT_SHARE:
                reports.append(
                    {
                        "stamp_id": row[0],
                        "business_id": world.business_id,
                        "status_at_report": row[3],
                        "shop_name": pick_report.choice(SHOPS),
                        "province_code": row[8],
                        "note": "Tem quét ra cảnh báo",
                        "ip_hash": row[9],
                        "created_at": row[2] + timedelta(minutes=3),
                    }
                )
        with engine.begin() as connection:
            if postgres:
                raw = connection.connection.driver_connection
                statement = f"COPY scans ({columns}) FROM STDIN"
                with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" for _ in SCAN_COLUMNS)
                connection.exec_driver_sql(
                    f"INSERT INTO scans ({columns}) VALUES ({marks})",
                    [(*r[:2], _sqlite_time(r[2]), *r[3:]) for r in rows],
                )
        done += len(rows)
        took = time.perf_counter() - started
        say(f"  scans: {done:,}/{count:,} written ({done / took:,.0f}/s)")
    with engine.begin() as connection:
        connection.execute(
            insert(ScanDaily.__table__),
            [
                {
                    "business_id": world.business_id,
                    "day": day,
                    "status": status,
                    "province_code": place,
                    "count": n,
                }
                for (day, status, place), n in sorted(daily.items())
            ],
        )
        if reports:
            connection.execute(insert(Report.__table__), reports)
    say(f"  scan_daily: {len(daily):,} rows; shopper reports: {len(reports):,}")
    with engine.begin() as connection:
        started = time.perf_counter()
        changed = connection.execute(
            text(
                "UPDATE stamps SET scan_count = a.n, first_scan_at = a.f, last_scan_at = a.l "
                "FROM (SELECT stamp_id, count(*) AS n, min(scanned_at) AS f, "
                "max(scanned_at) AS l FROM scans WHERE stamp_id IS NOT NULL "
                "GROUP BY stamp_id) AS a WHERE stamps.id = a.stamp_id"
            )
        ).rowcount
    say(
        f"  stamps: scan_count and first/last scan set on {changed:,} scanned stamps "
        f"in {time.perf_counter() - started:.1f} s"
    )


def settle(engine: Engine) -> None:
    """PostgreSQL: what autovacuum does after a bulk load (visibility map, statistics)."""
    if engine.dialect.name != "postgresql":
        return
    started = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        for table in ("stamps", "scans", "scan_daily", "batches", "products", "jobs"):
            connection.execute(text(f"VACUUM ANALYZE {table}"))
    say(f"  VACUUM ANALYZE in {time.perf_counter() - started:.1f} s")


# --- timing --------------------------------------------------------------------------------


@dataclass
class Statements:
    """Every statement the engine runs while ``on``: (statement, parameters, seconds)."""

    on: bool = False
    seen: list[tuple[str, Any, float]] = field(default_factory=list)

    def attach(self, engine: Engine) -> None:
        @event.listens_for(engine, "before_cursor_execute")
        def before(
            _conn: Any, _cursor: Any, _statement: Any, _params: Any, context: Any, _many: Any
        ) -> None:
            context._bench_started = time.perf_counter()

        @event.listens_for(engine, "after_cursor_execute")
        def after(
            _conn: Any, _cursor: Any, statement: str, params: Any, context: Any, _many: Any
        ) -> None:
            if self.on:
                self.seen.append((statement, params, time.perf_counter() - context._bench_started))

    @contextmanager
    def capture(self) -> Iterator[list[tuple[str, Any, float]]]:
        self.seen = []
        self.on = True
        try:
            yield self.seen
        finally:
            self.on = False


@dataclass
class Timing:
    name: str
    path: str
    runs: list[float] = field(default_factory=list)
    queries: int = 0
    sql: list[float] = field(default_factory=list)
    page: bool = True  # False: something a page loads (an image), not a page

    @property
    def median_ms(self) -> float:
        return statistics.median(self.runs) * 1000

    @property
    def max_ms(self) -> float:
        return max(self.runs) * 1000


def pages(world: World) -> list[tuple[str, str, bool]]:
    big, small = world.batches[0], world.batches[-1]
    deep = 900_000 if world.big_batch_stamps > 900_050 else int(world.big_batch_stamps * 0.9)
    listed = [
        ("dashboard", "/portal/"),
        ("products", "/portal/products"),
        ("products ?q=gốm (search)", "/portal/products?q=g%E1%BB%91m"),
        ("product", f"/portal/products/{world.products[0]}"),
        ("product: edit form", f"/portal/products/{world.products[0]}/edit"),
        ("product: new batch form", f"/portal/products/{world.products[0]}/batches/new"),
        ("batches", "/portal/batches"),
        (f"batch (big, {world.big_batch_stamps:,} stamps)", f"/portal/batches/{big}"),
        ("batch (issued by the job)", f"/portal/batches/{small}"),
        ("batch: edit form", f"/portal/batches/{big}/edit"),
        ("stamps, first page", f"/portal/batches/{big}/stamps"),
        (f"stamps ?after={deep}", f"/portal/batches/{big}/stamps?after={deep}"),
        ("sheet designer", f"/portal/batches/{big}/sheet"),
        (
            "sheet designer, roll layout",
            f"/portal/batches/{big}/sheet?page=roll&roll_width_mm=110&labels_across=2"
            "&stamp_mm=25&gap_mm=2&ecc=Q&side=text&side_text=Minh+An",
        ),
        ("job", f"/portal/jobs/{world.job_id}"),
        ("job .json (polled)", f"/portal/jobs/{world.job_id}.json"),
        ("profile", "/portal/profile"),
        ("team", "/portal/team"),
        ("keys", "/portal/keys"),
        ("copy-detection settings", "/portal/settings/detection"),
        ("shopper reports", "/portal/reports"),
        ("change password form", "/portal/account/password"),
    ]
    loaded_by_pages = [
        ("sheet preview.png (designer's image)", f"/portal/batches/{big}/sheet/preview.png"),
    ]
    return [(n, p, True) for n, p in listed] + [(n, p, False) for n, p in loaded_by_pages]


def get(client: FlaskClient, path: str) -> float:
    started = time.perf_counter()
    response = client.get(path)
    response.get_data()
    took = time.perf_counter() - started
    assert response.status_code == 200, (path, response.status_code, response.location)
    return took


def time_pages(
    client: FlaskClient, paths: list[tuple[str, str, bool]], statements: Statements, repeat: int
) -> tuple[list[Timing], Timing]:
    timings = [Timing(name, path, page=page) for name, path, page in paths]
    health = Timing("GET /healthz (baseline)", "/healthz")
    everything = [health, *timings]
    for timing in everything:  # warm-up: templates compiled, caches and pools filled
        response = client.get(timing.path)
        assert response.status_code == 200, (timing.path, response.status_code)
        # A form error would mean a page that skipped its work (a designer with no layout).
        html = response.data.decode() if response.mimetype == "text/html" else ""
        errors = re.findall(r'class="field-error"[^>]*>([^<]*)', html)
        assert not errors, (timing.path, errors)
    for _ in range(repeat):  # rounds over every page, so that pages disturb each other
        for timing in everything:
            with statements.capture() as seen:
                timing.runs.append(get(client, timing.path))
            timing.queries = len(seen)
            timing.sql.append(sum(s for _st, _p, s in seen))
    return timings, health


def print_table(
    kind: str, timings: list[Timing], health: Timing, size: str, budget: float
) -> Timing:
    print(f"\n## Portal pages on {kind} ({size})")
    width = max(len(t.name) for t in [*timings, health])
    print(
        f"  {'page':<{width}}  {'median ms':>9}  {'max ms':>8}  {'queries':>7}  "
        f"{'sql ms':>7}  {'x healthz':>9}"
    )
    loaded = [t for t in timings if not t.page]
    for t in [health, *[t for t in timings if t.page], *loaded]:
        if loaded and t is loaded[0]:
            print("  -- loaded by a page, not a page itself:")
        print(
            f"  {t.name:<{width}}  {t.median_ms:9.1f}  {t.max_ms:8.1f}  {t.queries:7d}  "
            f"{statistics.median(t.sql) * 1000:7.1f}  {t.median_ms / health.median_ms:9.1f}"
        )
    slowest = slowest_page(timings)
    verdict = "under" if slowest.median_ms < budget else "OVER"
    print(
        f"  slowest page: {slowest.name} ({slowest.path}) {slowest.median_ms:.1f} ms median, "
        f"{verdict} the {budget:.0f} ms budget; healthz {health.median_ms:.2f} ms"
    )
    print("  (sql ms: time inside cursor.execute, without fetching; x healthz: median ratio)")
    return slowest


def slowest_page(timings: list[Timing]) -> Timing:
    return max((t for t in timings if t.page), key=lambda t: t.median_ms)


# --- why a page is slow --------------------------------------------------------------------


def explain(engine: Engine, statement: str, params: Any) -> str:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "postgresql":
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
            return "\n".join(f"      {row[0]}" for row in cursor.fetchall())
        cursor.execute("EXPLAIN QUERY PLAN " + statement, params)
        return "\n".join(f"      {row[3]}" for row in cursor.fetchall())
    finally:
        raw.close()


def rerun(engine: Engine, statement: str, params: Any) -> float:
    """The statement on its own, rows fetched: what it really costs."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        started = time.perf_counter()
        cursor.execute(statement, params)
        if cursor.description is not None:
            cursor.fetchall()
        return time.perf_counter() - started
    finally:
        raw.rollback()
        raw.close()


def diagnose(
    client: FlaskClient, engine: Engine, statements: Statements, timing: Timing, budget: float
) -> None:
    print(f"\n### Why is '{timing.name}' ({timing.path}) {timing.median_ms:.0f} ms?")
    with statements.capture() as seen:
        get(client, timing.path)
    costs = []
    for statement, params, _took in seen:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            costs.append((rerun(engine, statement, params), statement, params))
    costs.sort(key=lambda c: c[0], reverse=True)
    total = sum(c for c, _s, _p in costs)
    print(f"  {len(seen)} statements; the SELECTs alone, fetched: {total * 1000:.1f} ms")
    for cost, statement, params in costs[:3]:
        print(f"  {cost * 1000:8.1f} ms  {' '.join(statement.split())}  params={params!r}")
    if costs and costs[0][0] * 1000 > budget / 4:
        print("  plan of the slowest:")
        print(explain(engine, costs[0][1], costs[0][2]))
    if total < timing.median_ms / 1000 / 2:
        profile = cProfile.Profile()
        profile.enable()
        get(client, timing.path)
        profile.disable()
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out)
        stats.sort_stats("cumulative").print_stats(r"traceqr|jinja2/environment|templating", 12)
        stats.sort_stats("tottime").print_stats(12)
        print("  SQL is not the main cost; profile of one request (cumulative, then own time):")
        lines = [line for line in out.getvalue().splitlines() if line.strip()]
        print("\n".join("    " + line[:160] for line in lines))


# --- one database --------------------------------------------------------------------------


def run(
    kind: str, stamps: int, scans: int, repeat: int, budget: float
) -> tuple[list[Timing], Timing]:
    say(f"{kind}: building {stamps:,} stamps and {scans:,} scans")
    with database(kind) as url, tempfile.TemporaryDirectory() as instance:
        app = create_app(
            {"instance_path": instance, "database_url": url, "rate_limits_enabled": False}
        )
        state = AppState.of(app)
        try:
            upgrade_schema(state.database)
            client = app.test_client()
            started = time.perf_counter()
            world = portal_setup(app, client, stamps)
            issue_rest(state, world)
            say(f"{kind}: stamps done in {time.perf_counter() - started:.0f} s")
            started = time.perf_counter()
            write_scans(state.database.engine, world, scans)
            settle(state.database.engine)
            say(f"{kind}: scans done in {time.perf_counter() - started:.0f} s; timing pages")
            statements = Statements()
            statements.attach(state.database.engine)
            timings, health = time_pages(client, pages(world), statements, repeat)
            size = f"{stamps:,} stamps, {scans:,} scans, median of {repeat}"
            print_table(kind, timings, health, size, budget)
            for timing in timings:
                if timing.median_ms >= budget:
                    diagnose(client, state.database.engine, statements, timing, budget)
            return timings, health
        finally:
            state.jobs.shutdown()
            state.database.dispose()


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
    parser.add_argument("--stamps", type=int, default=1_000_000)
    parser.add_argument("--scans", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default=None)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--budget-ms", type=float, default=BUDGET_MS, help="diagnose pages at least this slow"
    )
    args = parser.parse_args()
    if args.stamps < 100:
        parser.error("--stamps must be at least 100")
    if args.db is None:
        kinds = ["sqlite", "postgresql"] if postgres_answers() else ["sqlite"]
        if kinds == ["sqlite"]:
            say(f"PostgreSQL at {make_url(PG_URL).render_as_string()} does not answer: SQLite only")
    else:
        kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    results = {
        kind: run(kind, args.stamps, args.scans, args.repeat, args.budget_ms) for kind in kinds
    }
    print(f"\n## Summary: slowest portal page (budget {args.budget_ms:.0f} ms)")
    for kind, (timings, health) in results.items():
        slowest = slowest_page(timings)
        print(
            f"  {kind:<10}  {slowest.name}: {slowest.median_ms:.1f} ms median "
            f"({'under' if slowest.median_ms < args.budget_ms else 'OVER'} budget; "
            f"{slowest.median_ms / health.median_ms:.0f}x healthz at {health.median_ms:.2f} ms)"
        )


if __name__ == "__main__":
    main()
