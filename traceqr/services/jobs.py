"""Background jobs: long work (issuing tens of thousands of stamps) off the request.

The job is a row (queued → running → done | failed) the portal and API poll. The work runs
in a thread of the process that accepted it. Its progress is kept in that process's memory
and, on PostgreSQL, also written to the row through a separate connection so that any
worker can report it; SQLite allows one writer at a time and the issuance holds it, so
there the row only changes when the job starts and ends. Issuance inside a job is still one
transaction: a job that fails or is killed leaves no stamps.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from traceqr.db import Database
from traceqr.domain.pins import PinScheme
from traceqr.errors import N_, NotFound, TraceQRError
from traceqr.keystore import KeyStore
from traceqr.models import Batch, Job
from traceqr.services import audit
from traceqr.services.issuance import issue_stamps
from traceqr.services.job_leases import JobLease, fail_orphaned_jobs

log = logging.getLogger(__name__)

ISSUE_STAMPS = "issue_stamps"
PROGRESS_WRITE_EVERY = 5000


def utcnow() -> datetime:
    return datetime.now(UTC)


def create_issue_job(
    session: Session,
    *,
    business_id: int,
    user_id: int | None,
    batch_id: int,
    count: int,
    active: bool,
    now: datetime,
) -> Job:
    job = Job(
        business_id=business_id,
        user_id=user_id,
        kind=ISSUE_STAMPS,
        status="queued",
        done=0,
        total=count,
        params=json.dumps({"batch_id": batch_id, "count": count, "active": active}),
        created_at=now,
    )
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, business_id: int, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None or job.business_id != business_id:
        raise NotFound(N_("job %(id)s not found"), id=job_id)
    return job


def recent_jobs(session: Session, business_id: int, limit: int = 5) -> list[Job]:
    return list(
        session.scalars(
            select(Job)
            .where(Job.business_id == business_id)
            .order_by(Job.created_at.desc(), Job.id.desc())
            .limit(limit)
        )
    )


def run_issue_job(
    database: Database,
    keystore: KeyStore,
    pins: PinScheme,
    job_id: int,
    *,
    max_stamps: int,
    on_progress: Callable[[int, int], None] | None = None,
) -> None:
    """Run one queued job to its end: the row says ``done`` with the result, or ``failed``
    with the reason and no stamps. Wherever it runs: a thread here, or a queue worker."""

    def set_row(**values: Any) -> None:
        with database.engine.begin() as connection:
            connection.execute(update(Job).where(Job.id == job_id).values(**values))

    try:
        with database.engine.begin() as connection:
            taken = connection.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == "queued")
                .values(status="running", started_at=utcnow())
            ).rowcount
        if not taken:
            return  # already run, or failed as orphaned while it waited: never twice
        with database.session() as session:
            job = session.get(Job, job_id)
            assert job is not None
            params = json.loads(job.params)
            batch = session.get(Batch, params["batch_id"])
            if batch is None or batch.business_id != job.business_id:
                raise NotFound(N_("the batch of this job no longer exists"))
            # SQLite has one writer, and the issuance is it: there the row changes only at
            # the start and the end. Elsewhere any process can read the progress.
            write_progress = database.engine.dialect.name != "sqlite"

            def progress(done: int, total: int) -> None:
                if on_progress is not None:
                    on_progress(done, total)
                if write_progress and (done % PROGRESS_WRITE_EVERY == 0 or done == total):
                    set_row(done=done)

            actor = ("user", job.user_id) if job.user_id is not None else ("system", None)
            with audit.acting_as(*actor):
                result = issue_stamps(
                    session,
                    keystore,
                    batch,
                    params["count"],
                    active=params["active"],
                    now=utcnow(),
                    max_count=max_stamps,
                    progress=progress,
                    pins=pins,
                )
        outcome = {
            "count": result.count,
            "first_seq": result.first_seq,
            "last_seq": result.last_seq,
        }
        set_row(status="done", done=result.count, result=json.dumps(outcome), finished_at=utcnow())
    except TraceQRError as exc:
        set_row(status="failed", error=exc.message, finished_at=utcnow())
    except Exception:
        log.exception("job %s failed", job_id)
        set_row(
            status="failed",
            error="the job failed unexpectedly; no stamps were issued",
            finished_at=utcnow(),
        )


class JobRunner:
    """Runs jobs in this process, two at a time at most (the default)."""

    def __init__(
        self, database: Database, keystore: KeyStore, pins: PinScheme, max_stamps: int
    ) -> None:
        self.database = database
        self.keystore = keystore
        self.pins = pins
        self.max_stamps = max_stamps
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="traceqr-job")
        self._progress: dict[int, tuple[int, int]] = {}
        self._futures: dict[int, Future[None]] = {}
        self._lock = threading.Lock()

    def start(self, job_id: int) -> None:
        """Run a committed job in the background. This process holds the job's lease from
        now until the job has ended, so that a job whose process died can be told apart."""
        lease = JobLease(self.database.engine, job_id).acquire()
        try:
            future = self._executor.submit(self._run, job_id, lease)
        except BaseException:
            lease.release()
            raise
        with self._lock:
            self._futures[job_id] = future

    def wait(self, job_id: int, timeout: float = 120) -> None:
        with self._lock:
            future = self._futures.get(job_id)
        if future is not None:
            future.result(timeout=timeout)

    def progress(self, job: Job) -> tuple[int, int]:
        """(done, total) as this process knows it, else as the row says."""
        return self._progress.get(job.id, (job.done, job.total))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)

    def fail_orphans(self, business_id: int | None = None) -> list[int]:
        """Fail this business's unfinished jobs whose process is gone (see job_leases)."""
        return fail_orphaned_jobs(self.database.engine, utcnow(), business_id=business_id)

    def _run(self, job_id: int, lease: JobLease) -> None:
        def remember(done: int, total: int) -> None:
            self._progress[job_id] = (done, total)

        try:
            run_issue_job(
                self.database,
                self.keystore,
                self.pins,
                job_id,
                max_stamps=self.max_stamps,
                on_progress=remember,
            )
        finally:
            self._progress.pop(job_id, None)
            lease.release()


class QueueJobRunner:
    """Runs jobs on an RQ queue in Redis (``TRACEQR_QUEUE_URL``), so that any machine
    running ``traceqr worker`` with the same settings can take them. Progress is read from
    the job's row (written every 5,000 stamps on PostgreSQL)."""

    def __init__(self, database: Database, queue_url: str, queue_name: str = "traceqr") -> None:
        from redis import Redis
        from rq import Queue

        self.database = database
        self.connection = Redis.from_url(queue_url)
        self.queue = Queue(queue_name, connection=self.connection)

    def start(self, job_id: int) -> None:
        self.queue.enqueue(
            "traceqr.services.jobs.run_queued_job",
            job_id,
            job_id=f"traceqr-job-{job_id}-{uuid.uuid4().hex[:8]}",
            job_timeout=3600,
            result_ttl=3600,
            failure_ttl=7 * 24 * 3600,
        )

    def wait(self, job_id: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.database.session() as session:
                job = session.get(Job, job_id)
                if job is None or job.status in ("done", "failed"):
                    return
            time.sleep(0.1)
        raise TimeoutError(f"job {job_id} still running after {timeout} s")

    def progress(self, job: Job) -> tuple[int, int]:
        return job.done, job.total

    def fail_orphans(self, business_id: int | None = None) -> list[int]:
        """Fail the running jobs whose worker is gone; queued ones wait in Redis."""
        return fail_orphaned_jobs(
            self.database.engine, utcnow(), business_id=business_id, include_queued=False
        )

    def shutdown(self) -> None:
        self.connection.close()


def run_queued_job(job_id: int) -> None:
    """The entry point a queue worker runs: the service's state from the worker's settings
    (``TRACEQR_*``), built once per worker process."""
    from traceqr.state import JOB_MAX_STAMPS, worker_state

    state = worker_state()
    with JobLease(state.database.engine, job_id):
        run_issue_job(state.database, state.keystore, state.pins, job_id, max_stamps=JOB_MAX_STAMPS)
