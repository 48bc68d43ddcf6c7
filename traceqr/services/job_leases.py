"""Which background jobs still have a live process behind them.

A job's row says ``queued`` or ``running`` until its runner writes the end. A runner that is
killed (``kill -9``, a machine lost, an out-of-memory kill) never writes it, and its
issuance transaction dies with it, so no stamp is left; but the row would say ``running``
for ever. So a runner holds a *lease* on its job for as long as it owns it, and anyone may
ask whether the lease is still held:

- on PostgreSQL, a session-level advisory lock on a connection of the runner's own: the
  server drops it the moment that connection closes, whichever way the process ended;
- on SQLite, an ``flock`` on a file beside the database, which the kernel drops when the
  process ends.

:func:`fail_orphaned_jobs` marks the jobs whose lease nobody holds as failed, with no
stamps: the business sees it and issues again.
"""

from __future__ import annotations

import fcntl
import threading
import weakref
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.engine import Connection, Engine

from traceqr.errors import N_
from traceqr.models import Job

# The first key of PostgreSQL's two-key advisory locks: 'TQ' + 'jb', so that our locks
# never meet another application's on a shared server.
ADVISORY_NAMESPACE = 0x54516A62
# A job committed as queued gets its lease a moment later (when the runner takes it): give
# it this long before calling a leaseless queued job orphaned.
QUEUED_GRACE = timedelta(seconds=60)
ORPHANED_MESSAGE = N_(
    "the job was interrupted (its process stopped) before it finished; "
    "no stamps were issued: issue them again"
)
ORPHANED_SHEET_MESSAGE = N_(
    "the job was interrupted (its process stopped) before it finished; "
    "no sheet was written: prepare it again"
)

_memory_leases: set[tuple[str, int]] = set()
_memory_lock = threading.Lock()


def _sqlite_lock_path(engine: Engine, job_id: int) -> Path | None:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(f"{database}-jobs") / f"{job_id}.lock"


class _SharedLockConnection:
    """One connection per engine holds the advisory locks of all the jobs this process owns
    (a connection per job would empty the pool when many jobs wait). Closed when the last
    lease is released."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.connection: Connection | None = None
        self.held: set[int] = set()

    def take(self, engine: Engine, job_id: int) -> None:
        with self.lock:
            if self.connection is None or self.connection.invalidated:
                self.connection = engine.connect()
            self.connection.execute(
                text("SELECT pg_advisory_lock(:ns, :id)"), {"ns": ADVISORY_NAMESPACE, "id": job_id}
            )
            self.connection.commit()  # the lock belongs to the session, not the transaction
            self.held.add(job_id)

    def give_back(self, job_id: int) -> None:
        with self.lock:
            self.held.discard(job_id)
            connection = self.connection
            if connection is None:
                return
            try:
                # Unlock explicitly: closing only returns the connection to the pool, where
                # its session (and a session lock) would live on.
                connection.execute(
                    text("SELECT pg_advisory_unlock(:ns, :id)"),
                    {"ns": ADVISORY_NAMESPACE, "id": job_id},
                )
                connection.commit()
                if not self.held:
                    self.connection = None
                    connection.close()
            except Exception:
                # The connection is broken, so the server has dropped its locks already.
                self.connection = None
                connection.invalidate()
                connection.close()


_shared: weakref.WeakKeyDictionary[Engine, _SharedLockConnection] = weakref.WeakKeyDictionary()


def _shared_for(engine: Engine) -> _SharedLockConnection:
    with _memory_lock:
        return _shared.setdefault(engine, _SharedLockConnection())


class JobLease:
    """Held by the process that owns a job, from when it takes the job until it has written
    the job's end. ``acquire`` blocks until it holds the lease."""

    def __init__(self, engine: Engine, job_id: int) -> None:
        self.engine = engine
        self.job_id = job_id
        self._held_on: _SharedLockConnection | None = None
        self._file: Any = None
        self._memory_key: tuple[str, int] | None = None

    def acquire(self) -> JobLease:
        if self.engine.dialect.name == "postgresql":
            shared = _shared_for(self.engine)
            shared.take(self.engine, self.job_id)
            self._held_on = shared
            return self
        path = _sqlite_lock_path(self.engine, self.job_id)
        if path is None:
            key = (str(self.engine.url), self.job_id)
            with _memory_lock:
                _memory_leases.add(key)
            self._memory_key = key
            return self
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+b")  # noqa: SIM115 - held open for as long as the lease
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        self._file = handle
        return self

    def release(self) -> None:
        if self._held_on is not None:
            shared, self._held_on = self._held_on, None
            shared.give_back(self.job_id)
        if self._file is not None:
            handle, self._file = self._file, None
            Path(handle.name).unlink(missing_ok=True)
            handle.close()
        if self._memory_key is not None:
            with _memory_lock:
                _memory_leases.discard(self._memory_key)
            self._memory_key = None

    def __enter__(self) -> JobLease:
        return self.acquire()

    def __exit__(self, *_exc: object) -> None:
        self.release()


def _fail_if_unleased(connection: Connection, engine: Engine, job: Job, now: datetime) -> bool:
    """Mark ``job`` failed when no process holds its lease. True when it did."""
    orphaned = update(Job).where(Job.id == job.id, Job.status.in_(("queued", "running")))
    message = ORPHANED_SHEET_MESSAGE if job.kind == "render_sheet" else ORPHANED_MESSAGE
    values = {"status": "failed", "done": 0, "error": message, "finished_at": now}
    if engine.dialect.name == "postgresql":
        free = connection.execute(
            text("SELECT pg_try_advisory_xact_lock(:ns, :id)"),
            {"ns": ADVISORY_NAMESPACE, "id": job.id},
        ).scalar_one()
        if not free:
            return False
        # Holding the lock, the row can only be as the runner left it: failed only if it
        # never wrote its end.
        return connection.execute(orphaned.values(**values)).rowcount > 0
    path = _sqlite_lock_path(engine, job.id)
    if path is None:
        with _memory_lock:
            if (str(engine.url), job.id) in _memory_leases:
                return False
        return connection.execute(orphaned.values(**values)).rowcount > 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a live process holds it
        try:
            changed = connection.execute(orphaned.values(**values)).rowcount > 0
        finally:
            path.unlink(missing_ok=True)
    return changed


def fail_orphaned_jobs(
    engine: Engine,
    now: datetime,
    *,
    business_id: int | None = None,
    include_queued: bool = True,
) -> list[int]:
    """Mark failed every unfinished job (of one business, or all) that no live process
    owns; returns their ids. ``include_queued`` is False where queued jobs wait in a shared
    queue (Redis) rather than in a process: those are not orphaned until a worker takes
    them."""
    statuses = ("queued", "running") if include_queued else ("running",)
    query = select(Job).where(Job.status.in_(statuses))
    if business_id is not None:
        query = query.where(Job.business_id == business_id)
    with engine.connect() as connection:
        candidates = [
            job
            for job in connection.execute(query).all()
            if job.status == "running" or _aware(job.created_at) < now - QUEUED_GRACE
        ]
    failed: list[int] = []
    for job in candidates:
        with engine.begin() as connection:
            if _fail_if_unleased(connection, engine, job, now):
                failed.append(job.id)
    return failed


def _aware(moment: datetime) -> datetime:
    from datetime import UTC

    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
