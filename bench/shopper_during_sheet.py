"""A shopper's stamp page while a business's 100,000-stamp sheet is being written.

gunicorn (2 sync workers, as in production, rate limits off) serves a fresh database with
one batch of ``--stamps`` stamps. The bench times stamp pages (``GET /S/…``, a different
stamp each time) with nothing else running, then starts the batch's sheet as a background
job (``POST /api/v1/batches/{id}/sheet-jobs``) and times stamp pages again until the job
is done. It prints the median, p99 and max of each, and their ratio. The job runs in a
thread of the worker that accepted it (the default), or with ``--queue`` on an RQ worker
(``traceqr worker``, Redis at ``TRACEQR_BENCH_REDIS_URL``).

    .venv/bin/python -m bench.shopper_during_sheet                 # SQLite, in-process job
    .venv/bin/python -m bench.shopper_during_sheet --db postgresql --queue

Needs gunicorn (``pip install -e '.[bench]'``); PostgreSQL at ``TRACEQR_BENCH_PG_URL``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.common import database
from traceqr.config import load_settings
from traceqr.db import upgrade_schema
from traceqr.services import catalog
from traceqr.services.businesses import create_business
from traceqr.services.identity import Reviewer
from traceqr.services.issuance import issue_stamps
from traceqr.services.stamps import iter_batch_stamps
from traceqr.state import AppState

REDIS_URL = os.environ.get("TRACEQR_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
PAGE_GOAL_MS = 100.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare(url: str, instance: str, public_url: str, stamps: int) -> tuple[str, int, list[str]]:
    """One verified business with a batch of ``stamps`` stamps: (API key, batch id, the
    paths of 2,000 of its stamp pages)."""
    settings = load_settings(
        {"instance_path": instance, "database_url": url, "public_url": public_url}
    )
    state = AppState.create(settings)
    upgrade_schema(state.database)
    now = datetime.now(UTC)
    with state.database.session() as session:
        created = create_business(
            session,
            state.keystore,
            name="Bench Co",
            email="bench@example.vn",
            now=now,
            vouched_by=Reviewer.operator("bench"),
        )
        product = catalog.create_product(session, created.business.id, {"name": "Bench"}, now)
        batch = catalog.create_batch(session, created.business.id, product.id, {"lot": "B1"}, now)
        started = time.perf_counter()
        issue_stamps(session, state.keystore, batch, stamps, now=now, pins=state.pins)
        print(f"issued {stamps:,} stamps in {time.perf_counter() - started:.1f} s", flush=True)
        key, batch_id = created.api_key, batch.id
    with state.database.session() as session:
        paths = []
        for item in iter_batch_stamps(session, session.get(type(batch), batch_id), public_url):
            paths.append(urlsplit(item.url).path)
            if len(paths) == 2000:
                break
    state.database.dispose()
    assert key is not None
    return key, batch_id, paths


def call(base: str, method: str, path: str, key: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(base + path, data=b"" if method == "POST" else None)
    request.method = method
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=600) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


def page_ms(base: str, path: str) -> float:
    started = time.perf_counter()
    status, _ = call(base, "GET", path)
    elapsed = (time.perf_counter() - started) * 1000
    if status != 200:
        raise RuntimeError(f"{path} answered {status}")
    return elapsed


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return {
        "n": len(ordered),
        "median": statistics.median(ordered),
        "p99": p99,
        "max": ordered[-1],
    }


def run(kind: str, args: argparse.Namespace) -> bool:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with database(kind) as url, tempfile.TemporaryDirectory() as instance:
        key, batch_id, paths = prepare(url, instance, base, args.stamps)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRACEQR_")}
        env.update(
            TRACEQR_DATABASE_URL=url,
            TRACEQR_INSTANCE=instance,
            TRACEQR_PUBLIC_URL=base,
            TRACEQR_RATE_LIMITS="off",
        )
        if args.queue:
            env["TRACEQR_QUEUE_URL"] = REDIS_URL
            env["TRACEQR_QUEUE_NAME"] = f"bench-{port}"
        log = Path(instance) / "server.log"
        processes = []
        with open(log, "ab") as out:
            command = [sys.executable, "-m", "gunicorn", "-w", str(args.workers)]
            command += ["--timeout", "600", "-b", f"127.0.0.1:{port}", "traceqr:create_app()"]
            processes.append(
                subprocess.Popen(command, env=env, stdout=out, stderr=out, start_new_session=True)
            )
            if args.queue:
                worker = [sys.executable, "-m", "traceqr", "worker"]
                processes.append(
                    subprocess.Popen(
                        worker, env=env, stdout=out, stderr=out, start_new_session=True
                    )
                )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if call(base, "GET", "/healthz")[0] == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(log.read_text(errors="replace")[-3000:])
                time.sleep(0.2)
            for path in paths[:20]:  # warm both workers
                page_ms(base, path)
            quiet = [page_ms(base, paths[i % len(paths)]) for i in range(args.quiet_pages)]

            started = time.perf_counter()
            status, job = call(base, "POST", f"/api/v1/batches/{batch_id}/sheet-jobs", key)
            if status != 202:
                raise RuntimeError(f"sheet job refused: {status} {job}")
            busy: list[float] = []
            state, n, polled = job["status"], 0, time.monotonic()
            while state not in ("done", "failed"):
                busy.append(page_ms(base, paths[(n + 500) % len(paths)]))
                n += 1
                if time.monotonic() - polled > 1:
                    polled = time.monotonic()
                    state = call(base, "GET", f"/api/v1/jobs/{job['id']}", key)[1]["status"]
                if time.perf_counter() - started > args.timeout_s:
                    raise RuntimeError("the sheet job did not end in time")
            job_s = time.perf_counter() - started
            answer = call(base, "GET", f"/api/v1/jobs/{job['id']}", key)[1]
        finally:
            for process in processes:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=60)
    q, b = summary(quiet), summary(busy)
    queue = "RQ worker" if args.queue else "in-process thread"
    print(f"\n== {kind}, gunicorn -w {args.workers}, sheet job on: {queue}")
    print(f"sheet job: {answer['status']} {answer.get('result')} in {job_s:.1f} s")
    print(f"{'':22} {'n':>6} {'median':>9} {'p99':>9} {'max':>9}   (ms)")
    for label, s in (("stamp page, quiet", q), ("stamp page, sheet job", b)):
        print(f"{label:22} {s['n']:6d} {s['median']:9.1f} {s['p99']:9.1f} {s['max']:9.1f}")
    print(
        f"ratio busy/quiet:       median {b['median'] / q['median']:.2f}x, "
        f"p99 {b['p99'] / q['p99']:.2f}x, max {b['max'] / q['max']:.2f}x"
    )
    ok = answer["status"] == "done" and b["p99"] < PAGE_GOAL_MS
    print(f"goal: every stamp page under {PAGE_GOAL_MS:.0f} ms at p99: {'met' if ok else 'MISSED'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--stamps", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quiet-pages", type=int, default=300)
    parser.add_argument("--queue", action="store_true", help="run the job on an RQ worker")
    parser.add_argument("--timeout-s", type=float, default=900)
    args = parser.parse_args(argv)
    kinds = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    results = [run(kind, args) for kind in kinds]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
