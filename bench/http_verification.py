"""Verification over HTTP: gunicorn and wrk, against ``GET /healthz`` in the same run.

A throw-away service (a fresh SQLite file or PostgreSQL database, dropped afterwards) gets
one business, one batch and ``--stamps`` stamps. gunicorn serves it with sync workers, the
way README's "Deploying on PostgreSQL with gunicorn" runs it (rate limits off, the public
URL the server's own ``http://127.0.0.1:<port>`` so the stamp URLs are its own), and wrk
loads it from the same machine for ``--duration`` seconds at ``--connections``
connections:

- ``GET /healthz``, the baseline: the app, one pool checkout, one statement (the schema's
  version: the database answers and holds the schema);
- ``GET /api/v1/verify?q=<stamp URL>``, the JSON API, a quarter of the checks with a
  ``province`` parameter;
- ``GET /S/<code>``, the page a stamp's QR opens;
- the API again on a second server started with ``TRACEQR_COPY_DETECTION=off``: what copy
  detection costs.

wrk takes each request from a file of every stamp's path (bench/http_verification.lua,
round-robin, each wrk thread from its own starting point), so the checks spread over all
the stamps. Shared machines are noisy: compare the ratios to /healthz, measured in the
same run, rather than the rates. ``--rounds N`` repeats the runs and reports medians.

Targets at 16 connections (issue 6): the verify rate, API and page, at least 0.7x the
/healthz rate, and p99 under 30 ms. Copy detection costs at most 10 % of the API's rate
(issue 4).

No scan lost: every 2xx answer must be a row in ``scans`` and a step of some stamp's
``scan_count``. wrk's "N requests in …" counts the answers it read completely; the Lua
``response()`` hook counts the 2xx among them. A request wrk sent but whose answer had not
come when the run stopped is in no count, yet the server may still commit its check (sync
workers close every connection; a request already in the listen backlog is still served
after wrk exits). So after each run the script waits until the counts stop moving, then
reports ``scans - 2xx`` as "in flight" (expected between 0 and --connections, each
connection has at most one request outstanding) and ``max(0, 2xx - scans)`` as lost, which
must be 0. A lost scan makes the run exit with status 1; missed speed targets do not.

``--scaling`` runs instead the API benchmark (and its /healthz baseline) against
PostgreSQL with 1, 2 and 4 workers (``--scaling-workers``). Every run also says where the
machine's CPU went (cores used by the gunicorn processes, PostgreSQL, wrk, and anything
else): wrk shares the machine with the server it loads.

    python -m bench.http_verification [--db postgresql|sqlite|both] [--duration 20]
        [--connections 16] [--workers 2] [--stamps 5000] [--rounds 1] [--warmup 3]
        [--scaling [--scaling-workers 1,2,4]]

Needs wrk (``apt-get install -y wrk``) and gunicorn and psutil (``pip install -e
'.[bench]'``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from bench.common import PG_URL, Service, service
from traceqr.domain.stamp_format import normalize_public_url
from traceqr.models import Batch
from traceqr.services.issuance import issue_stamps
from traceqr.services.stamps import iter_batch_stamps

ROOT = Path(__file__).resolve().parent.parent
LUA_SCRIPT = Path(__file__).with_name("http_verification.lua")
PROVINCES = ("ha-noi", "bac-ninh", "hung-yen")
RATE_TARGET = 0.7  # verify rate / healthz rate
P99_TARGET_MS = 30.0
COPY_COST_TARGET = 10.0  # percent of the API rate
WRK_INSTALL = "apt-get install -y wrk   (Debian/Ubuntu; elsewhere https://github.com/wg/wrk)"

HEALTHZ = "GET /healthz (baseline)"
API = "API verify"
PAGE = "page /S/<code>"
API_OFF = "API verify, copy detection off"


def say(message: str) -> None:
    print(message, flush=True)


# --- wrk ---------------------------------------------------------------------------------


@dataclass
class Run:
    """One wrk run: its figures, the CPU it saw, and the scans it left in the database."""

    label: str
    requests: int  # answers wrk read completely ("N requests in …")
    seconds: float
    rate: float  # wrk's Requests/sec
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    ok: int  # 2xx, counted by the Lua response() hook
    non_2xx_3xx: int  # wrk's "Non-2xx or 3xx responses"
    socket_errors: dict[str, int]
    cpu: dict[str, float] = field(default_factory=dict)  # cores used, by whom
    scans: int | None = None  # rows added to scans
    counted: int | None = None  # added to sum(stamps.scan_count)

    @property
    def errors(self) -> int:
        return sum(self.socket_errors.values())

    @property
    def lost(self) -> int | None:
        return None if self.scans is None else max(0, self.ok - min(self.scans, self.counted))

    @property
    def in_flight(self) -> int | None:
        return None if self.scans is None else self.scans - self.ok


_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def parse_wrk(output: str, label: str) -> Run:
    """wrk's own report and the WRK_RESULT line the Lua done() hook prints."""
    found = re.search(r"^WRK_RESULT (.*)$", output, re.MULTILINE)
    completed = re.search(r"^\s*(\d+) requests in ([\d.]+)(\w+),", output, re.MULTILINE)
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    if not (found and completed and rate):
        raise RuntimeError(f"could not read wrk's output:\n{output}")
    lua = {k: float(v) for k, v in (pair.split("=") for pair in found.group(1).split())}
    percentiles = {
        int(p): float(v) * _UNITS_MS[unit]
        for p, v, unit in re.findall(
            r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.MULTILINE
        )
    }
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    non_ok = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    requests = int(completed.group(1))
    if requests != int(lua["requests"]):
        raise RuntimeError(f"wrk printed {requests} requests, its summary {lua['requests']}")
    return Run(
        label=label,
        requests=requests,
        seconds=lua["duration_us"] / 1e6,
        rate=float(rate.group(1)),
        # wrk prints two decimals; the Lua line has the same percentiles in whole µs.
        p50_ms=lua["p50_us"] / 1e3 if "p50_us" in lua else percentiles[50],
        p90_ms=lua["p90_us"] / 1e3 if "p90_us" in lua else percentiles[90],
        p99_ms=lua["p99_us"] / 1e3 if "p99_us" in lua else percentiles[99],
        max_ms=lua["max_us"] / 1e3,
        ok=int(lua["ok"]),
        non_2xx_3xx=int(non_ok.group(1)) if non_ok else 0,
        socket_errors=dict(
            zip(
                ("connect", "read", "write", "timeout"),
                (int(x) for x in sockets.groups()) if sockets else (0, 0, 0, 0),
                strict=True,
            )
        ),
    )


def wrk_command(base: str, paths: Path, seconds: float, connections: int, threads: int) -> list:
    return [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--latency",
        "-s",
        str(LUA_SCRIPT.relative_to(ROOT)),
        base,
        "--",
        str(paths),
    ]


def run_wrk(command: list) -> str:
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


# --- where the CPU went ------------------------------------------------------------------


def cpu_snapshot(server: Server) -> dict[str, Any]:
    """CPU seconds so far: the whole machine (busy), each gunicorn and PostgreSQL process
    by pid, and our finished children (wrk)."""
    import psutil

    times = psutil.cpu_times()
    gunicorn = {p.pid for p in server.processes()}
    per_pid: dict[str, dict[int, float]] = {"gunicorn": {}, "postgres": {}}
    for process in psutil.process_iter(["name", "cpu_times"]):
        t = process.info["cpu_times"]
        if t is None:
            continue
        if process.pid in gunicorn:
            per_pid["gunicorn"][process.pid] = t.user + t.system
        elif process.info["name"] == "postgres":
            per_pid["postgres"][process.pid] = t.user + t.system
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "busy": sum(times) - times.idle - getattr(times, "iowait", 0.0),
        "wrk": children.ru_utime + children.ru_stime,
        **per_pid,
    }


def cpu_used(before: dict[str, Any], after: dict[str, Any], wall: float) -> dict[str, float]:
    """Cores used during the run. A process counts from its first snapshot (or its start);
    one that ended during the run loses its share to "other"."""
    cores = {name: (after[name] - before[name]) / wall for name in ("busy", "wrk")}
    for name in ("gunicorn", "postgres"):
        then = before[name]
        cores[name] = sum(t - then.get(pid, 0.0) for pid, t in after[name].items()) / wall
    cores["other"] = max(0.0, cores["busy"] - cores["gunicorn"] - cores["postgres"] - cores["wrk"])
    return cores


# --- the service -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """``gunicorn -w N 'traceqr:create_app()'`` on a free port, on the given database."""

    def __init__(
        self, database_url: str, instance: Path, workers: int, logs: Path, *, copy_detection=True
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.public_url = normalize_public_url(self.base)
        self.workers = workers
        self.env = {
            "TRACEQR_DATABASE_URL": database_url,
            "TRACEQR_INSTANCE": str(instance),
            "TRACEQR_PUBLIC_URL": self.base,
            "TRACEQR_RATE_LIMITS": "off",
            "TRACEQR_COPY_DETECTION": "on" if copy_detection else "off",
        }
        self.command = [
            *(sys.executable, "-m", "gunicorn"),
            *("-w", str(workers), "-k", "sync", "-b", f"127.0.0.1:{self.port}"),
            *("--timeout", "120", "--log-level", "warning", "traceqr:create_app()"),
        ]
        self.log_path = logs / f"gunicorn-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def shown(self) -> str:
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        return f"{env} {shlex.join(self.command)}"

    def __enter__(self) -> Server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRACEQR_")}
        env.update(self.env)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn stopped at start:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"/healthz did not answer within 60 s:\n{self.log_tail()}")
            time.sleep(0.2)
        # One worker answers; the others may still be importing the app (no --preload).
        # A moment here, and the warm-up runs, keep that out of the measurements.
        time.sleep(1.0)
        say(f"  started ({self.workers} workers, pid {self.process.pid}): $ {self.shown()}")
        return self

    def __exit__(self, *_: Any) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def processes(self) -> list:
        import psutil

        if self.process is None:
            return []
        try:
            master = psutil.Process(self.process.pid)
            return [master, *master.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def problems(self) -> list[str]:
        """Lines of the log that say something went wrong (it logs warnings and up)."""
        return [
            line
            for line in self.log_path.read_text(errors="replace").splitlines()
            if re.search(r"\[(ERROR|CRITICAL)\]|Traceback|WORKER TIMEOUT", line)
        ]


class ScanCounter:
    """Rows in scans and the sum of stamps.scan_count, read on a connection of our own."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url, poolclass=NullPool)

    def now(self) -> tuple[int, int]:
        with self.engine.connect() as connection:
            row = connection.execute(
                text(
                    "SELECT (SELECT count(*) FROM scans), "
                    "(SELECT coalesce(sum(scan_count), 0) FROM stamps)"
                )
            ).one()
        return int(row[0]), int(row[1])

    def settled(self, timeout: float = 30.0) -> tuple[int, int]:
        """The counts once they stop moving: requests wrk left in flight may still commit."""
        deadline = time.monotonic() + timeout
        last = self.now()
        while True:
            time.sleep(0.5)
            current = self.now()
            if current == last or time.monotonic() > deadline:
                return current
            last = current

    def dispose(self) -> None:
        self.engine.dispose()


# --- the benchmark -----------------------------------------------------------------------


@dataclass
class Setup:
    args: argparse.Namespace
    svc: Service
    paths: list[str]  # /S/<code> of every stamp, shuffled
    work: Path
    counter: ScanCounter
    threads: int


def issue(svc: Service, count: int) -> list[str]:
    state = svc.state
    now = datetime.now(UTC)
    with state.database.session() as session:
        issue_stamps(session, state.keystore, session.get(Batch, svc.batch_id), count, now=now)
    with state.database.session() as session:
        batch = session.get(Batch, svc.batch_id)
        paths = [
            urlsplit(s.url).path
            for s in iter_batch_stamps(session, batch, state.settings.public_url)
        ]
    random.Random(6).shuffle(paths)
    return paths


def path_file(setup: Setup, server: Server, what: str) -> Path:
    if what == "healthz":
        lines = ["/healthz"]
    elif what == "page":
        lines = setup.paths
    else:
        lines = []
        for n, path in enumerate(setup.paths):
            line = f"/api/v1/verify?q={quote(server.public_url + path, safe='')}"
            if n % 4 == 3:
                line += f"&province={PROVINCES[(n // 4) % len(PROVINCES)]}"
            lines.append(line)
    target = setup.work / f"paths-{server.port}-{what}.txt"
    target.write_text("\n".join(lines) + "\n", encoding="ascii")
    return target


def check_answers(server: Server, api_file: Path, page_file: Path) -> None:
    """One request of each kind by hand: the benchmark must measure real verifications."""
    api_path = api_file.read_text().splitlines()[0]
    with urllib.request.urlopen(server.base + api_path, timeout=10) as answer:
        body = json.load(answer)
    if not (body.get("signature_valid") and body.get("status") in ("genuine", "suspicious")):
        raise RuntimeError(f"the API does not verify the stamps: {body}")
    page_path = page_file.read_text().splitlines()[0]
    with urllib.request.urlopen(server.base + page_path, timeout=10) as answer:
        if answer.status != 200 or "text/html" not in answer.headers["Content-Type"]:
            raise RuntimeError(f"the stamp page answers {answer.status}")


def measure(
    setup: Setup, server: Server, label: str, paths: Path, *, scans: bool, seconds: float = 0
) -> Run:
    args = setup.args
    seconds = seconds or args.duration
    before = setup.counter.settled() if scans else None
    command = wrk_command(server.base, paths, seconds, args.connections, setup.threads)
    cpu_before, started = cpu_snapshot(server), time.monotonic()
    output = run_wrk(command)
    cpu_after, wall = cpu_snapshot(server), time.monotonic() - started
    run = parse_wrk(output, label)
    run.cpu = cpu_used(cpu_before, cpu_after, wall)
    if before is not None:
        after = setup.counter.settled()
        run.scans, run.counted = after[0] - before[0], after[1] - before[1]
    if args.verbose:
        say(f"  $ {shlex.join(command)}\n{output}")
    say(
        f"  {label:<32} {run.rate:8.1f} req/s  p99 {run.p99_ms:6.1f} ms"
        + (f"  2xx {run.ok}, scans {run.scans}, lost {run.lost}" if scans else "")
    )
    return run


def warm_up(setup: Setup, server: Server, files: list[Path]) -> None:
    """Workers import lazily and cache keys, statements, templates: not part of the run."""
    if setup.args.warmup > 0:
        for paths in files:
            run_wrk(
                wrk_command(
                    server.base, paths, setup.args.warmup, setup.args.connections, setup.threads
                )
            )


@contextmanager
def prepared(kind: str, args: argparse.Namespace) -> Iterator[Setup]:
    say(f"\n# {kind}: a fresh database, {args.stamps:,} stamps")
    with service(kind) as svc, tempfile.TemporaryDirectory(prefix="traceqr-http-") as work:
        paths = issue(svc, args.stamps)
        counter = ScanCounter(svc.state.database.url)
        try:
            yield Setup(
                args, svc, paths, Path(work), counter, args.threads or min(2, args.connections)
            )
        finally:
            counter.dispose()
            # The database is dropped with FORCE on the way out; the servers are gone by then.


def start(setup: Setup, stack: ExitStack, workers: int, *, copy_detection=True) -> Server:
    server = Server(
        setup.svc.state.database.url,
        setup.svc.state.settings.instance_path,
        workers,
        setup.work,
        copy_detection=copy_detection,
    )
    return stack.enter_context(server)


def benchmark(kind: str, args: argparse.Namespace) -> tuple[list[dict[str, Run]], list[str]]:
    """The main runs, ``args.rounds`` times: healthz, API, API without copy detection, page."""
    rounds: list[dict[str, Run]] = []
    with prepared(kind, args) as setup, ExitStack() as stack:
        on = start(setup, stack, args.workers)
        off = start(setup, stack, args.workers, copy_detection=False)
        files = {
            HEALTHZ: (on, path_file(setup, on, "healthz")),
            API: (on, path_file(setup, on, "api")),
            API_OFF: (off, path_file(setup, off, "api")),
            PAGE: (on, path_file(setup, on, "page")),
        }
        check_answers(on, files[API][1], files[PAGE][1])
        check_answers(off, files[API_OFF][1], files[PAGE][1])
        example = wrk_command(
            on.base, files[API][1], args.duration, args.connections, setup.threads
        )
        say(f"  wrk, e.g.: $ {shlex.join(example)}")
        warm_up(setup, on, [files[HEALTHZ][1], files[API][1], files[PAGE][1]])
        warm_up(setup, off, [files[API_OFF][1]])
        for number in range(args.rounds):
            say(f"  round {number + 1} of {args.rounds}, load average {load()}")
            rounds.append(
                {
                    label: measure(setup, server, label, paths, scans=label != HEALTHZ)
                    for label, (server, paths) in files.items()
                }
            )
        problems = on.problems() + off.problems()
    return rounds, problems


def scaling(kind: str, args: argparse.Namespace) -> tuple[dict[int, list[dict[str, Run]]], list]:
    results: dict[int, list[dict[str, Run]]] = {}
    problems: list[str] = []
    with prepared(kind, args) as setup:
        for workers in args.scaling_workers:
            with ExitStack() as stack:
                server = start(setup, stack, workers)
                files = {
                    HEALTHZ: path_file(setup, server, "healthz"),
                    API: path_file(setup, server, "api"),
                }
                check_answers(server, files[API], path_file(setup, server, "page"))
                warm_up(setup, server, list(files.values()))
                results[workers] = []
                for number in range(args.rounds):
                    say(f"  {workers} workers, round {number + 1}, load average {load()}")
                    results[workers].append(
                        {
                            label: measure(setup, server, label, paths, scans=label == API)
                            for label, paths in files.items()
                        }
                    )
                problems += server.problems()
    return results, problems


# --- reports -----------------------------------------------------------------------------


def load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def median(values: list[float]) -> float:
    return statistics.median(values)


def cpu_text(run: Run) -> str:
    c = run.cpu
    return (
        f"{c['busy']:.2f} = gunicorn {c['gunicorn']:.2f} + postgres {c['postgres']:.2f}"
        f" + wrk {c['wrk']:.2f} + other {c['other']:.2f}"
    )


def print_runs(title: str, rounds: list[dict[str, Run]]) -> None:
    say(f"\n## {title}")
    header = (
        f"  {'run':<35} {'req/s':>8} {'x hz':>5} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7}"
        f" {'max ms':>7} {'sock err':>8} {'non2xx3xx':>9} {'2xx':>7} {'scans':>7}"
        f" {'Δcount':>7} {'inflight':>8} {'lost':>5}"
    )
    say(header)
    for number, runs in enumerate(rounds, 1):
        healthz = runs[HEALTHZ].rate
        for label, run in runs.items():
            name = f"{label}" + (f" #{number}" if len(rounds) > 1 else "")
            scans = (
                f" {run.scans:>7} {run.counted:>7} {run.in_flight:>8} {run.lost:>5}"
                if run.scans is not None
                else f" {'-':>7} {'-':>7} {'-':>8} {'-':>5}"
            )
            say(
                f"  {name:<35} {run.rate:8.1f} {run.rate / healthz:5.2f} {run.p50_ms:7.2f}"
                f" {run.p90_ms:7.2f} {run.p99_ms:7.2f} {run.max_ms:7.1f} {run.errors:>8}"
                f" {run.non_2xx_3xx:>9} {run.ok:>7}{scans}"
            )
    say("  CPU while measuring, in cores of the machine's " + f"{os.cpu_count()}:")
    for number, runs in enumerate(rounds, 1):
        for label, run in runs.items():
            name = f"{label}" + (f" #{number}" if len(rounds) > 1 else "")
            say(f"    {name:<35} {cpu_text(run)}")
    warn_if_busy([run for runs in rounds for run in runs.values()])


OTHER_CPU_LIMIT = 0.25  # cores used by other processes above which a run is not trusted


def warn_if_busy(runs: list[Run]) -> None:
    busy = [run for run in runs if run.cpu["other"] > OTHER_CPU_LIMIT]
    if busy:
        worst = max(run.cpu["other"] for run in busy)
        say(
            f"  WARNING: other processes used up to {worst:.2f} cores during {len(busy)} of "
            f"{len(runs)} runs: those figures are not the service's; measure again when the "
            "machine is quiet"
        )


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def print_summary(title: str, rounds: list[dict[str, Run]], connections: int) -> None:
    def ratio(label: str) -> float:
        return median([r[label].rate / r[HEALTHZ].rate for r in rounds])

    def p99(label: str) -> float:
        return median([r[label].p99_ms for r in rounds])

    over = f"median of {len(rounds)} rounds" if len(rounds) > 1 else "one round"
    say(f"\n## {title}: targets at {connections} connections ({over})")
    say(f"  /healthz: {median([r[HEALTHZ].rate for r in rounds]):.1f} req/s")
    for label in (API, PAGE):
        rate = median([r[label].rate for r in rounds])
        say(
            f"  {label:<15} {rate:8.1f} req/s = {ratio(label):.2f}x healthz "
            f"(target >= {RATE_TARGET}: {verdict(ratio(label) >= RATE_TARGET)}), "
            f"p99 {p99(label):.1f} ms (target < {P99_TARGET_MS:.0f}: "
            f"{verdict(p99(label) < P99_TARGET_MS)})"
        )
    cost = median([100 * (1 - r[API].rate / r[API_OFF].rate) for r in rounds])
    say(
        f"  copy detection cost: {cost:.1f} % of the API rate "
        f"({median([r[API_OFF].rate for r in rounds]):.1f} req/s without it; "
        f"target <= {COPY_COST_TARGET:.0f} %: {verdict(cost <= COPY_COST_TARGET)})"
    )
    lost = sum(run.lost or 0 for r in rounds for run in r.values())
    flight = [run.in_flight for r in rounds for run in r.values() if run.in_flight is not None]
    say(
        f"  scans lost: {lost} (in flight at the end of a run: {min(flight)} to {max(flight)},"
        f" at most {connections} expected)"
    )


def print_scaling(kind: str, results: dict[int, list[dict[str, Run]]], args) -> None:
    say(
        f"\n## Worker scaling, {kind}, API verify at {args.connections} connections, "
        f"{args.duration:g} s each, {os.cpu_count()} cores"
        + (f", median of {args.rounds} rounds" if args.rounds > 1 else "")
    )
    say(
        f"  {'workers':>7} {'healthz/s':>9} {'API req/s':>9} {'x 1 worker':>10} {'x hz':>5}"
        f" {'p50 ms':>7} {'p99 ms':>7} {'lost':>5}  CPU during the API run (cores)"
    )
    first = None
    for workers, rounds in results.items():
        api = median([r[API].rate for r in rounds])
        first = first or api
        last = rounds[-1][API]
        say(
            f"  {workers:>7} {median([r[HEALTHZ].rate for r in rounds]):9.1f} {api:9.1f}"
            f" {api / first:10.2f} {median([r[API].rate / r[HEALTHZ].rate for r in rounds]):5.2f}"
            f" {median([r[API].p50_ms for r in rounds]):7.2f}"
            f" {median([r[API].p99_ms for r in rounds]):7.2f}"
            f" {sum(r[API].lost or 0 for r in rounds):>5}  {cpu_text(last)}"
        )
    warn_if_busy([run for rounds in results.values() for r in rounds for run in r.values()])


# --- main --------------------------------------------------------------------------------


def postgres_answers() -> bool:
    engine = create_engine(make_url(PG_URL), poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure means "not available"
        return False
    finally:
        engine.dispose()


def missing_tools() -> list[str]:
    import importlib.util

    missing = []
    if shutil.which("wrk") is None:
        missing.append(f"wrk is not installed: {WRK_INSTALL}")
    for module in ("gunicorn", "psutil"):
        if importlib.util.find_spec(module) is None:
            missing.append(f"{module} is not installed: pip install -e '.[bench]'")
    return missing


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["postgresql", "sqlite", "both"], default=None)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--threads", type=int, default=0, help="wrk threads (2)")
    parser.add_argument("--stamps", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=1, help="repeat, report medians")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds per server and path")
    parser.add_argument("--scaling", action="store_true", help="1, 2, 4 workers instead")
    parser.add_argument(
        "--scaling-workers",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 2, 4],
        help="worker counts for --scaling (1,2,4)",
    )
    parser.add_argument("--verbose", action="store_true", help="print wrk's own output")
    args = parser.parse_args()
    if args.stamps < 10 or args.connections < 1 or args.rounds < 1 or args.duration <= 0:
        parser.error("--stamps >= 10, --connections >= 1, --rounds >= 1, --duration > 0")
    if missing := missing_tools():
        for line in missing:
            print(line, file=sys.stderr)
        sys.exit(2)
    if args.db is None:
        kinds = ["postgresql"] if postgres_answers() else ["sqlite"]
        if kinds == ["sqlite"]:
            say(f"PostgreSQL at {make_url(PG_URL).render_as_string()} does not answer: SQLite")
    else:
        kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]

    say(f"load average before: {load()} ({os.cpu_count()} cores)")
    lost = 0
    for kind in kinds:
        if args.scaling:
            results, problems = scaling(kind, args)
            print_scaling(kind, results, args)
            lost += sum(r[API].lost or 0 for rounds in results.values() for r in rounds)
        else:
            rounds, problems = benchmark(kind, args)
            title = (
                f"HTTP verification, {kind}, {args.workers} sync workers, "
                f"{args.connections} connections, {args.duration:g} s per run"
            )
            print_runs(title, rounds)
            print_summary(f"HTTP verification, {kind}", rounds, args.connections)
            lost += sum(run.lost or 0 for r in rounds for run in r.values())
        if problems:
            say(f"  gunicorn logged {len(problems)} problem lines, e.g.: {problems[:3]}")
    say(f"\nload average after: {load()}")
    if lost:
        say(f"LOST SCANS: {lost}")
        sys.exit(1)


if __name__ == "__main__":
    main()
