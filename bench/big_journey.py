"""A batch with a very long journey: the stamp page's time, size and memory, and how long a
shopper's verification waits while the events are imported (issue 16).

A business imports a CSV of ``--events`` transforming steps on one batch, each made from
``--inputs`` lots it holds (``#<batch id>``), through the service the API and the portal
call (``traceability.import_csv``). The events cap is raised for the run so that the
import is the one from the issue (5,000 × 50). Meanwhile a thread verifies a stamp of
another batch every 20 ms (it records a check, so it needs the SQLite writer): the
slowest of those is the wait the import causes.

Then a fresh process renders the batch's stamp page ``--renders`` times through the Flask
test client and reports each render's time, the page's bytes, and its peak RSS before
the first render and after the last (``resource.getrusage``).

    python -m bench.big_journey [--events 5000] [--inputs 50] [--renders 5]
                                [--db sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from typing import Any

from bench.common import database, report

PUBLIC_URL = "http://127.0.0.1:5000"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def render(instance: str, url: str, path: str, renders: int) -> dict[str, Any]:
    """Runs in its own process: the stamp page ``renders`` times."""
    from traceqr import create_app

    app = create_app(
        {
            "instance_path": instance,
            "database_url": url,
            "public_url": PUBLIC_URL,
            "rate_limits_enabled": False,
        }
    )
    client = app.test_client()
    client.get("/healthz")
    client.get("/S/0")  # warm templates and the verifier on a small page
    before = _peak_rss_mb()
    times, size = [], 0
    for _ in range(renders):
        start = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - start)
        size = len(response.get_data())
        assert response.status_code == 200, response.status_code
    return {"times": times, "bytes": size, "rss_before_mb": before, "rss_after_mb": _peak_rss_mb()}


def _stamp_url(instance: str, url: str, api_key: str, batch_id: int) -> str:
    from traceqr import create_app

    app = create_app({"instance_path": instance, "database_url": url, "public_url": PUBLIC_URL})
    answer = app.test_client().get(
        f"/api/v1/batches/{batch_id}/stamps.csv", headers={"Authorization": f"Bearer {api_key}"}
    )
    header, row = answer.get_data(as_text=True).splitlines()[:2]
    return row.split(",")[header.split(",").index("url")]


def build(url: str, instance: str, events: int, inputs: int) -> dict[str, Any]:
    from traceqr.config import load_settings
    from traceqr.db import upgrade_schema
    from traceqr.services import catalog, traceability
    from traceqr.services.businesses import create_business
    from traceqr.services.identity import Reviewer
    from traceqr.services.issuance import issue_stamps
    from traceqr.state import AppState

    settings = load_settings(
        {
            "instance_path": instance,
            "database_url": url,
            "public_url": PUBLIC_URL,
            "rate_limits_enabled": False,
        }
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
        business_id = created.business.id
        product = catalog.create_product(session, business_id, {"name": "Bench"}, now)
        target = catalog.create_batch(session, business_id, product.id, {"lot": "BIG"}, now)
        other = catalog.create_batch(session, business_id, product.id, {"lot": "SHOP"}, now)
        sources = []
        for n in range(inputs):
            source = catalog.create_batch(session, business_id, product.id, {"lot": f"IN{n}"}, now)
            traceability.record_event(
                session, business_id, source.id, {"biz_step": "commissioning"}, now
            )
            sources.append(source.id)
        issue_stamps(session, state.keystore, target, 1, now=now)
        issue_stamps(session, state.keystore, other, 1, now=now)
        target_id, other_id, api_key = target.id, other.id, created.api_key
    big_url, shop_url = (_stamp_url(instance, url, api_key, b) for b in (target_id, other_id))

    lots = ";".join(f"#{n}" for n in sources)
    rows = [
        f"2026-01-01T{7 + n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}+07:00,transforming,"
        f"{lots},1,KGM"
        for n in range(events)
    ]
    # As many files as the per-file ceiling asks (one, before there was a lower one).
    size = traceability.MAX_CSV_ROWS
    header = "event_time,biz_step,inputs,quantity,unit\n"
    files = [header + "\n".join(rows[n : n + size]) + "\n" for n in range(0, len(rows), size)]

    # Raise the cap for the run when this code has one: the issue's import, as it was.
    params = inspect.signature(traceability.import_csv).parameters
    extra = {"max_events": events + 10} if "max_events" in params else {}

    waits: list[float] = []
    failed: list[str] = []
    done = threading.Event()

    def shopper() -> None:
        while not done.is_set():
            start = time.perf_counter()
            try:
                state.verifier.verify(shop_url, now=datetime.now(UTC), channel="api")
            except Exception as error:  # "database is locked": the shopper got an error page
                failed.append(str(error)[:60])
            waits.append(time.perf_counter() - start)
            time.sleep(0.02)

    thread = threading.Thread(target=shopper)
    thread.start()
    imports = []
    for text in files:
        start = time.perf_counter()
        with state.database.session() as session:  # one transaction per file
            traceability.import_csv(session, business_id, target_id, text, now, **extra)
        imports.append(time.perf_counter() - start)
    done.set()
    thread.join()
    state.database.dispose()
    return {
        "csv_bytes": sum(len(text.encode()) for text in files),
        "files": len(files),
        "import_s": sum(imports),
        "slowest_file_s": max(imports),
        "verify_max_s": max(waits),
        "verify_median_s": statistics.median(waits),
        "verifications": len(waits),
        "failed": len(failed),
        "path": "/S/" + big_url.split("/S/", 1)[1],
        "batch_id": target_id,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--inputs", type=int, default=50)
    parser.add_argument("--renders", type=int, default=5)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--render", nargs=3, metavar=("INSTANCE", "URL", "PATH"))
    args = parser.parse_args()
    if args.render:
        print(json.dumps(render(*args.render, args.renders)))
        return
    with database(args.db) as url, tempfile.TemporaryDirectory() as instance:
        built = build(url, instance, args.events, args.inputs)
        out = subprocess.run(
            [
                *(sys.executable, "-m", "bench.big_journey", "--renders", str(args.renders)),
                *("--render", instance, url, built["path"]),
            ],
            check=True,
            capture_output=True,
            text=True,
            env=os.environ,
        )
        rendered = json.loads(out.stdout.strip().splitlines()[-1])
    report(
        f"{args.events} events × {args.inputs} inputs on {args.db}",
        [
            ("CSV size", built["csv_bytes"] / 1e6, "MB"),
            ("CSV files (per-file ceiling)", built["files"], ""),
            ("import, all files", built["import_s"], "s"),
            ("import, slowest file (one transaction)", built["slowest_file_s"], "s"),
            ("verification during import, slowest", built["verify_max_s"], "s"),
            ("verification during import, median", built["verify_median_s"], "s"),
            ("verifications during import", built["verifications"], ""),
            ("of which failed (database is locked)", built["failed"], ""),
            ("stamp page, first render", rendered["times"][0], "s"),
            ("stamp page, median render", statistics.median(rendered["times"]), "s"),
            ("stamp page size", rendered["bytes"] / 1e6, "MB"),
            ("peak RSS before rendering", rendered["rss_before_mb"], "MB"),
            (
                "peak RSS growth over the renders",
                rendered["rss_after_mb"] - rendered["rss_before_mb"],
                "MB",
            ),
        ],
    )


if __name__ == "__main__":
    main()
