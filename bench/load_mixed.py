"""A mixed load test that ends with an audit: every check and every stamp accounted for.

gunicorn (2 sync workers, rate limits off) serves a fresh database; locust drives, for
``--duration`` (3 minutes by default):

- **shoppers** checking stamps: the stamp page and the verify API, on genuine stamps,
  one much-copied stamp (checked from all over the country, so it turns suspicious), and
  tampered codes (invalid); newly issued stamps join what they check;
- **businesses** issuing stamps through the API (and now and then a background job),
  reading their batches and CSV, and browsing their portal pages, signed in;
- **inspectors** opening stamp dossiers, their home page and cases.

Then it reconciles with the database: every check that got an answer is exactly one row
in ``scans`` and one step of its stamp's ``scan_count`` (a check cut off when the run
stopped may or may not have been counted: reported as "in doubt"), every tampered check
is one row without a stamp, every stamp an answer announced is in the database exactly
once (``seq`` 1..total with no gap, serials unique, the batch's counters agree), and no
answer was a 5xx. It prints a table and exits 1 when anything is unaccounted for.

    .venv/bin/python -m bench.load_mixed                      # PostgreSQL, 3 minutes
    .venv/bin/python -m bench.load_mixed --database sqlite --duration 30s
    .venv/bin/python -m bench.load_mixed --database both --users 30

Needs locust and gunicorn (``pip install -e '.[bench]'``); PostgreSQL at
TRACEQR_BENCH_PG_URL (default: the local test server). Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

# locust patches the standard library for gevent: it must come first.
from locust import HttpUser, between, events, task  # isort: skip
from locust.env import Environment  # isort: skip

import argparse
import json
import random
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import gevent
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.pool import NullPool

from bench.common import database
from bench.http_verification import Server
from traceqr.config import load_settings
from traceqr.db import upgrade_schema
from traceqr.models import Batch, Scan, Stamp
from traceqr.services import catalog
from traceqr.services.businesses import create_business
from traceqr.services.identity import Reviewer
from traceqr.services.issuance import issue_stamps
from traceqr.services.officials import create_official
from traceqr.services.stamps import iter_batch_stamps
from traceqr.state import AppState

PASSWORD = "load-test-password-2026"
PROVINCES = ["ha-noi", "ho-chi-minh", "da-nang", "hai-phong", "can-tho", "quang-ninh", "hue"]
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
STATUS = re.compile(r'data-status="([a-z]+)"')


# --- what the clients saw ----------------------------------------------------------------


@dataclass
class Ledger:
    """Everything the load generator was told, to hold against the database."""

    pool: list[str] = field(default_factory=list)  # stamp URLs shoppers pick from
    hot: str = ""  # the copied stamp's URL
    checks: Counter[str] = field(default_factory=Counter)  # URL path -> answered checks
    doubtful_checks: Counter[str] = field(default_factory=Counter)  # cut off, no answer
    invalid_checks: int = 0
    doubtful_invalid: int = 0
    verdicts: Counter[str] = field(default_factory=Counter)
    issued: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # batch -> ranges
    doubtful_issues: Counter[int] = field(default_factory=Counter)
    jobs: list[tuple[int, str]] = field(default_factory=list)  # (job id, api key)
    statuses: Counter[int] = field(default_factory=Counter)
    requests_by_kind: Counter[str] = field(default_factory=Counter)
    businesses: list[dict[str, Any]] = field(default_factory=list)
    inspectors: list[str] = field(default_factory=list)
    sign_in_failures: int = 0


LEDGER = Ledger()


@events.request.add_listener
def _count(name: str, response: Any, exception: Any, **_: Any) -> None:
    LEDGER.requests_by_kind[name] += 1
    if response is not None and getattr(response, "status_code", 0):
        LEDGER.statuses[response.status_code] += 1
    elif exception is not None:
        LEDGER.statuses[0] += 1


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def tampered(url: str) -> str:
    """The same URL with one character of the code changed: a forgery, never ours."""
    head, code = url.rsplit("/", 1)
    i = random.randrange(8, len(code) - 8)
    replacement = "A" if code[i] != "A" else "B"
    return f"{head}/{code[:i]}{replacement}{code[i + 1 :]}"


class Tracked:
    """A request whose outcome the ledger must know even if the run stops mid-way."""

    def __init__(self, on_doubt: Any) -> None:
        self.on_doubt = on_doubt
        self.answered = False

    def __enter__(self) -> Tracked:
        return self

    def __exit__(self, kind: Any, *_: Any) -> None:
        if not self.answered:
            self.on_doubt()


# --- the users ---------------------------------------------------------------------------


class Shopper(HttpUser):
    weight = 6
    wait_time = between(0.05, 0.4)

    def _check(self, url: str, api: bool) -> None:
        path = path_of(url)

        def doubt() -> None:
            LEDGER.doubtful_checks[path] += 1

        with Tracked(doubt) as tracked:
            if api:
                query = f"/api/v1/verify?q={quote(url, safe='')}"
                if random.random() < 0.5:
                    query += f"&province={random.choice(PROVINCES)}"
                response = self.client.get(query, name="shopper: verify API")
            else:
                response = self.client.get(path, name="shopper: stamp page")
            tracked.answered = response.status_code != 0  # 0: the connection failed
        if response.status_code == 200:
            LEDGER.checks[path] += 1
            if api:
                LEDGER.verdicts[response.json()["status"]] += 1
            else:
                found = STATUS.search(response.text)
                LEDGER.verdicts[found.group(1) if found else "?"] += 1

    @task(5)
    def page(self) -> None:
        self._check(random.choice(LEDGER.pool), api=False)

    @task(4)
    def api(self) -> None:
        self._check(random.choice(LEDGER.pool), api=True)

    @task(2)
    def copied(self) -> None:
        self._check(LEDGER.hot, api=random.random() < 0.7)

    @task(1)
    def forged(self) -> None:
        url = tampered(random.choice(LEDGER.pool))
        api = random.random() < 0.5

        def doubt() -> None:
            LEDGER.doubtful_invalid += 1

        with Tracked(doubt) as tracked:
            if api:
                response = self.client.get(
                    f"/api/v1/verify?q={quote(url, safe='')}", name="shopper: forged (API)"
                )
            else:
                response = self.client.get(path_of(url), name="shopper: forged (page)")
            tracked.answered = response.status_code != 0
        if response.status_code == 200:
            LEDGER.invalid_checks += 1
            LEDGER.verdicts["invalid (forged)"] += 1


def sign_in(user: HttpUser, login_path: str, email: str, name: str) -> None:
    form = user.client.get(login_path, name=f"{name}: sign-in form")
    token = CSRF.search(form.text)
    answer = user.client.post(
        login_path,
        data={"csrf_token": token.group(1) if token else "", "email": email, "password": PASSWORD},
        name=f"{name}: sign in",
    )
    if answer.status_code != 200 or answer.url.endswith(login_path):
        LEDGER.sign_in_failures += 1


class BusinessUser(HttpUser):
    weight = 3
    wait_time = between(0.2, 1.0)

    def on_start(self) -> None:
        self.me = random.choice(LEDGER.businesses)
        self.headers = {"Authorization": f"Bearer {self.me['api_key']}"}
        sign_in(self, "/portal/login", self.me["email"], "portal")

    @task(3)
    def issue(self) -> None:
        batch_id = random.choice(self.me["batches"])
        count = random.randint(1, 300)

        def doubt() -> None:
            LEDGER.doubtful_issues[batch_id] += count

        with Tracked(doubt) as tracked:
            response = self.client.post(
                f"/api/v1/batches/{batch_id}/stamps",
                json={"count": count},
                headers=self.headers,
                name="business: issue (API)",
            )
            tracked.answered = response.status_code != 0
        if response.status_code == 201:
            answer = response.json()
            assert answer["count"] == count
            LEDGER.issued.setdefault(batch_id, []).append((answer["first_seq"], answer["last_seq"]))

    @task(1)
    def job(self) -> None:
        batch_id = random.choice(self.me["batches"])
        response = self.client.post(
            f"/api/v1/batches/{batch_id}/stamp-jobs",
            json={"count": random.randint(500, 3000)},
            headers=self.headers,
            name="business: issue job (API)",
        )
        if response.status_code == 202:
            LEDGER.jobs.append((response.json()["id"], self.me["api_key"]))

    @task(2)
    def batch(self) -> None:
        batch_id = random.choice(self.me["batches"])
        self.client.get(
            f"/api/v1/batches/{batch_id}", headers=self.headers, name="business: batch (API)"
        )

    @task(1)
    def csv(self) -> None:
        batch_id = random.choice(self.me["batches"])
        response = self.client.get(
            f"/api/v1/batches/{batch_id}/stamps.csv",
            headers=self.headers,
            name="business: stamps.csv (API)",
        )
        if response.status_code == 200:
            rows = response.text.splitlines()[1:]
            for row in random.sample(rows, min(3, len(rows))):
                url = next((cell for cell in row.split(",") if "/S/" in cell), None)
                if url:
                    LEDGER.pool.append(url)  # the new stamps get checked too

    @task(4)
    def portal(self) -> None:
        batch_id = random.choice(self.me["batches"])
        path = random.choice(
            ["/portal/", "/portal/products", "/portal/batches", f"/portal/batches/{batch_id}"]
        )
        page = self.client.get(path, name="business: portal page")
        if page.status_code == 200 and "/login" in page.url:
            LEDGER.sign_in_failures += 1  # sent back to sign in: the session did not hold


class Inspector(HttpUser):
    weight = 1
    wait_time = between(0.3, 1.5)

    def on_start(self) -> None:
        sign_in(self, "/inspect/login", random.choice(LEDGER.inspectors), "inspector")

    @task(4)
    def dossier(self) -> None:
        url = LEDGER.hot if random.random() < 0.3 else random.choice(LEDGER.pool)
        self.client.get(f"/inspect/stamp?code={quote(url, safe='')}", name="inspector: dossier")

    @task(1)
    def home(self) -> None:
        self.client.get(random.choice(["/inspect/", "/inspect/cases"]), name="inspector: pages")


# --- setting up, running, reconciling -------------------------------------------------------


def prepare(url: str, instance: str, public_url: str, businesses: int) -> None:
    settings = load_settings(
        {
            "instance_path": instance,
            "database_url": url,
            "public_url": public_url,
            "rate_limits_enabled": False,
        }
    )
    state = AppState.create(settings)
    upgrade_schema(state.database)
    now = datetime.now(UTC)
    LEDGER.__init__()  # type: ignore[misc] - a fresh ledger for each database
    with state.database.session() as session:
        for n in range(businesses):
            created = create_business(
                session,
                state.keystore,
                name=f"Load Co {n}",
                email=f"load{n}@example.vn",
                password=PASSWORD,
                now=now,
                vouched_by=Reviewer.operator("bench"),
            )
            product = catalog.create_product(
                session, created.business.id, {"name": f"Sản phẩm {n}"}, now
            )
            batches = []
            for b in range(2):
                batch = catalog.create_batch(
                    session, created.business.id, product.id, {"lot": f"L{n}-{b}"}, now
                )
                issue_stamps(session, state.keystore, batch, 200, now=now)
                LEDGER.issued[batch.id] = [(1, 200)]
                batches.append(batch.id)
            LEDGER.businesses.append(
                {"email": f"load{n}@example.vn", "api_key": created.api_key, "batches": batches}
            )
        for n in range(2):
            email = f"inspector{n}@example.vn"
            create_official(
                session,
                email=email,
                name=f"Thanh tra {n}",
                role="inspector",
                password=PASSWORD,
                provinces=[],
                now=now,
            )
            LEDGER.inspectors.append(email)
    with state.database.session() as session:
        for batch in session.scalars(select(Batch)):
            LEDGER.pool.extend(s.url for s in iter_batch_stamps(session, batch, public_url))
    LEDGER.hot = LEDGER.pool[0]
    state.database.dispose()


def wait_for_jobs(server: Server, timeout: float = 300) -> list[str]:
    import urllib.request

    problems = []
    deadline = time.monotonic() + timeout
    for job_id, key in LEDGER.jobs:
        while True:
            request = urllib.request.Request(
                f"{server.base}/api/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {key}"}
            )
            with urllib.request.urlopen(request, timeout=30) as answer:
                job = json.loads(answer.read())
            if job["status"] == "done":
                result = job["result"]
                ranges = LEDGER.issued.setdefault(job["batch_id"], [])
                ranges.append((result["first_seq"], result["last_seq"]))
                break
            if job["status"] == "failed":
                problems.append(f"job {job_id} failed: {job['error']}")
                break
            if time.monotonic() > deadline:
                problems.append(f"job {job_id} still {job['status']} after {timeout} s")
                break
            time.sleep(0.5)
    return problems


def reconcile(url: str, public_url: str) -> tuple[list[tuple[str, str, str, bool]], list[str]]:
    """Rows of (what, clients saw, database has, agrees) and the list of discrepancies."""
    engine = create_engine(url, poolclass=NullPool)
    rows: list[tuple[str, str, str, bool]] = []
    problems: list[str] = []
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        # Stamps: each batch's answered ranges tile 1..total; rows, counters, serials agree.
        stamp_ok = True
        total_claimed = 0
        total_rows = 0
        for batch in session.scalars(select(Batch).order_by(Batch.id)):
            ranges = sorted(LEDGER.issued.get(batch.id, []))
            claimed = sum(last - first + 1 for first, last in ranges)
            doubt = LEDGER.doubtful_issues.get(batch.id, 0)
            count, distinct, top = session.execute(
                select(
                    func.count(), func.count(func.distinct(Stamp.serial)), func.max(Stamp.seq)
                ).where(Stamp.batch_id == batch.id)
            ).one()
            seqs_tile = all(
                ranges[i + 1][0] == ranges[i][1] + 1 for i in range(len(ranges) - 1)
            ) and (not ranges or ranges[0][0] == 1)
            fine = (
                count == distinct == batch.stamps_total == (top or 0)
                and claimed <= count <= claimed + doubt
                and (doubt > 0 or (seqs_tile and count == claimed))
            )
            if not fine:
                stamp_ok = False
                problems.append(
                    f"batch {batch.id}: answers announced {claimed} stamps (+{doubt} in doubt), "
                    f"database has {count} rows, {distinct} serials, total {batch.stamps_total}, "
                    f"top seq {top}"
                )
            total_claimed += claimed
            total_rows += count
        doubtful = sum(LEDGER.doubtful_issues.values())
        rows.append(
            (
                "stamps issued",
                f"{total_claimed:,} (+{doubtful:,} in doubt)",
                f"{total_rows:,}",
                stamp_ok,
            )
        )

        # Checks: per stamp, answered checks == scan rows == scan_count (+ those in doubt).
        serial_of: dict[str, bytes] = {}
        for batch in session.scalars(select(Batch)):
            for stamp in iter_batch_stamps(session, batch, public_url):
                serial_of[path_of(stamp.url)] = stamp.serial
        scans_by_serial = dict(
            session.execute(
                select(Stamp.serial, func.count(Scan.id))
                .join(Scan, Scan.stamp_id == Stamp.id)
                .group_by(Stamp.serial)
            ).all()
        )
        counts_by_serial = dict(
            session.execute(
                select(Stamp.serial, Stamp.scan_count).where(Stamp.scan_count > 0)
            ).all()
        )
        checked = set(LEDGER.checks) | set(LEDGER.doubtful_checks)
        mismatched = 0
        for path in checked:
            serial = serial_of.get(path)
            answered = LEDGER.checks[path]
            doubt = LEDGER.doubtful_checks[path]
            rows_here = scans_by_serial.get(serial, 0) if serial else -1
            counted = counts_by_serial.get(serial, 0) if serial else -1
            if not (answered <= rows_here <= answered + doubt and rows_here == counted):
                mismatched += 1
                problems.append(
                    f"stamp {path[:40]}…: {answered} answered (+{doubt} in doubt), "
                    f"{rows_here} scan rows, scan_count {counted}"
                )
        unasked = [
            s
            for s, n in scans_by_serial.items()
            if n and s not in {serial_of.get(p) for p in checked}
        ]
        if unasked:
            problems.append(f"{len(unasked)} stamps have scans nobody sent")
        answered_total = sum(LEDGER.checks.values())
        scan_rows = sum(scans_by_serial.values())
        rows.append(
            (
                "checks of our stamps",
                f"{answered_total:,} (+{sum(LEDGER.doubtful_checks.values())} in doubt)",
                f"{scan_rows:,} scan rows",
                mismatched == 0 and not unasked,
            )
        )
        rows.append(
            (
                "  stamps checked, all agreeing",
                f"{len(checked):,}",
                f"{len(checked) - mismatched:,}",
                mismatched == 0,
            )
        )
        orphan_scans = session.scalar(
            select(func.count()).select_from(Scan).where(Scan.stamp_id.is_(None))
        )
        forged_ok = (
            LEDGER.invalid_checks <= orphan_scans <= LEDGER.invalid_checks + LEDGER.doubtful_invalid
        )
        if not forged_ok:
            problems.append(
                f"forged checks: {LEDGER.invalid_checks} answered (+{LEDGER.doubtful_invalid} "
                f"in doubt), {orphan_scans} scan rows without a stamp"
            )
        rows.append(
            (
                "checks of forged codes",
                f"{LEDGER.invalid_checks:,} (+{LEDGER.doubtful_invalid} in doubt)",
                f"{orphan_scans:,} scan rows",
                forged_ok,
            )
        )
        hot_serial = serial_of.get(path_of(LEDGER.hot))
        hot_status = session.execute(
            text("SELECT status FROM scans WHERE serial = :s ORDER BY id DESC LIMIT 1"),
            {"s": hot_serial},
        ).scalar()
        rows.append(("(info) copied stamp's verdict", "-", str(hot_status), True))
    engine.dispose()
    refused = LEDGER.sign_in_failures
    rows.append(("signed-in pages refused", "0", str(refused), refused == 0))
    if LEDGER.sign_in_failures:
        problems.append(f"{LEDGER.sign_in_failures} portal or inspector pages were not signed in")
    errors = sum(n for status, n in LEDGER.statuses.items() if status >= 500 or status == 0)
    rows.append(("answers 5xx or no answer", "0", f"{errors:,}", errors == 0))
    if errors:
        problems.append(f"answers by status: {dict(LEDGER.statuses)}")
    return rows, problems


def run_one(kind: str, args: argparse.Namespace) -> bool:
    print(
        f"\n== {kind}: {args.users} users for {args.duration_s:.0f} s, gunicorn -w {args.workers}"
    )
    with database(kind) as url, tempfile.TemporaryDirectory() as instance:
        logs = Path(instance) / "logs"
        logs.mkdir()
        server = Server(url, Path(instance), args.workers, logs)
        prepare(url, instance, server.public_url, args.businesses)
        with server:
            env = Environment(
                user_classes=[Shopper, BusinessUser, Inspector], events=events, host=server.base
            )
            runner = env.create_local_runner()
            runner.start(args.users, spawn_rate=max(1, args.users // 5))
            started = time.monotonic()
            gevent.spawn_later(args.duration_s, runner.quit)
            runner.greenlet.join()
            elapsed = time.monotonic() - started
            job_problems = wait_for_jobs(server)
            time.sleep(1.0)  # a request cut off at the end may still be committing
            rows, problems = reconcile(url, server.public_url)
            problems = job_problems + problems + server.problems()
        stats = env.stats.total
        print(
            f"{stats.num_requests:,} requests in {elapsed:.0f} s "
            f"({stats.num_requests / elapsed:.1f}/s), "
            f"median {stats.median_response_time:.0f} ms, "
            f"95th {stats.get_response_time_percentile(0.95):.0f} ms, "
            f"{len(LEDGER.jobs)} background jobs"
        )
        print("requests by kind:")
        for name, count in sorted(LEDGER.requests_by_kind.items()):
            entry = env.stats.entries.get((name, "GET")) or env.stats.entries.get((name, "POST"))
            median = f"{entry.median_response_time:.0f} ms" if entry else ""
            print(f"  {name:<34} {count:>8,}  median {median}")
        print(f"verdicts seen: {dict(LEDGER.verdicts)}")
        print(f"\n{'what':<32} {'clients saw':<28} {'database has':<22} ok")
        for what, saw, has, ok in rows:
            print(f"{what:<32} {saw:<28} {has:<22} {'yes' if ok else 'NO'}")
        for problem in problems:
            print(f"  ! {problem}")
        return not problems and all(ok for *_, ok in rows)


def parse_duration(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(s|m|min)?", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30s or 3m")
    value = float(match.group(1))
    return value * 60 if match.group(2) in ("m", "min") else value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database", choices=["postgresql", "sqlite", "both"], default="postgresql"
    )
    parser.add_argument("--duration", dest="duration_s", type=parse_duration, default=180.0)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--businesses", type=int, default=3)
    args = parser.parse_args(argv)
    kinds = ["postgresql", "sqlite"] if args.database == "both" else [args.database]
    results = {kind: run_one(kind, args) for kind in kinds}
    print(
        "\n" + ", ".join(f"{k}: {'accounted for' if ok else 'FAILED'}" for k, ok in results.items())
    )
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
