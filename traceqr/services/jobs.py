"""Background jobs: long work (issuing tens of thousands of stamps, writing the sheet of
a large batch) off the request.

The job is a row (queued → running → done | failed) the portal and API poll. The work runs
in a thread of the process that accepted it. Its progress is kept in that process's memory
and, on PostgreSQL, also written to the row through a separate connection so that any
worker can report it; SQLite allows one writer at a time and the issuance holds it, so
there the row only changes when the job starts and ends. Issuance inside a job is still one
transaction: a job that fails or is killed leaves no stamps.

Each business gets bounded room (:class:`Quotas`, from the operator's settings): so many
jobs queued or running at once, so many stamps a day, so many sheet files kept. A new job
past one of them is refused before it is stored (:class:`QuotaExceeded`, a 429 saying when
to try again), whoever asks: the API, the portal or a script.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.orm import Session

from traceqr.config import Settings
from traceqr.db import Database
from traceqr.domain.pins import PinScheme
from traceqr.errors import N_, NotFound, TraceQRError, ValidationError
from traceqr.keystore import KeyStore
from traceqr.models import Batch, Business, Job
from traceqr.services import audit
from traceqr.services.issuance import QuotaExceeded, check_daily_quota, issue_stamps
from traceqr.services.job_leases import JobLease, fail_orphaned_jobs

if TYPE_CHECKING:  # the sheet code (numpy, zxing-cpp) loads when a sheet job runs
    from traceqr.domain.sheet import SheetLayout

log = logging.getLogger(__name__)

ISSUE_STAMPS = "issue_stamps"
RENDER_SHEET = "render_sheet"
SHEET_FILE_DAYS = 7  # a finished sheet job's PDF is kept this long
PROGRESS_WRITE_EVERY = 5000


UNFINISHED = ("queued", "running")
JOB_RETRY_SECONDS = 30  # a job slot frees when one ends: a guess at when to ask again
_QUOTA_LOCK = 0x7471_6A62  # pg_advisory_xact_lock(_QUOTA_LOCK, business id): "tqjb"


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Quotas:
    """What one business may have at once, as the operator set it; 0 means no limit."""

    jobs: int = 0  # queued or running
    stamps_per_day: int = 0  # issued per Vietnam day
    sheet_files: int = 0  # sheet files kept, and sheet jobs that will write one

    @classmethod
    def of(cls, settings: Settings) -> Quotas:
        return cls(
            jobs=settings.max_jobs_per_business,
            stamps_per_day=settings.max_stamps_per_business_day,
            sheet_files=settings.max_sheet_files_per_business,
        )


def _lock_business_jobs(session: Session, business_id: int) -> None:
    """Make this business's job creations take turns until the transaction ends, so that
    two at once cannot both fit in the last free place. SQLite: the job row's insert takes
    the database's single write lock, which does the same."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:kind, :business)"),
            {"kind": _QUOTA_LOCK, "business": business_id},
        )


def _unfinished_jobs(session: Session, business_id: int, kind: str | None = None) -> list[Job]:
    query = select(Job).where(Job.business_id == business_id, Job.status.in_(UNFINISHED))
    if kind is not None:
        query = query.where(Job.kind == kind)
    return list(session.scalars(query))


def _check_job_quota(session: Session, job: Job, quotas: Quotas) -> None:
    """After ``job`` is flushed: refuse it when the business now has too many unfinished."""
    if not quotas.jobs:
        return
    unfinished = len(_unfinished_jobs(session, job.business_id))
    if unfinished > quotas.jobs:
        raise QuotaExceeded(
            N_(
                "this business already has %(count)s jobs queued or running, the most "
                "allowed at once: start this one when one of them has ended"
            ),
            code="too_many_jobs",
            retry_after=JOB_RETRY_SECONDS,
            count=unfinished - 1,
        )


def _check_sheet_files(session: Session, job: Job, quotas: Quotas, now: datetime) -> None:
    """After ``job`` is flushed: refuse it when the business would keep too many sheets
    (those written in the last :data:`SHEET_FILE_DAYS` days, and those being written)."""
    if not quotas.sheet_files:
        return
    kept_since = now - timedelta(days=SHEET_FILE_DAYS)
    sheets = or_(
        Job.status.in_(UNFINISHED), (Job.status == "done") & (Job.finished_at >= kept_since)
    )
    where = (Job.business_id == job.business_id, Job.kind == RENDER_SHEET, sheets)
    kept = session.scalar(select(func.count()).select_from(Job).where(*where)) or 0
    if kept <= quotas.sheet_files:
        return
    oldest = session.scalar(select(func.min(Job.finished_at)).where(*where, Job.status == "done"))
    retry = (
        (oldest + timedelta(days=SHEET_FILE_DAYS) - now).total_seconds()
        if oldest is not None
        else JOB_RETRY_SECONDS
    )
    raise QuotaExceeded(
        N_(
            "this business already keeps %(count)s sheet files, the most allowed; each is "
            "deleted %(days)s days after it was written, which makes room for a new one"
        ),
        code="sheet_storage_full",
        retry_after=retry,
        count=kept - 1,
        days=SHEET_FILE_DAYS,
    )


def create_issue_job(
    session: Session,
    *,
    business_id: int,
    user_id: int | None,
    batch_id: int,
    count: int,
    active: bool,
    now: datetime,
    quotas: Quotas | None = None,
) -> Job:
    """A queued issuance. With ``quotas``, refused (:class:`QuotaExceeded`) when the
    business has too many jobs unfinished, or when these stamps, with those issued and
    queued today, would pass its daily quota. The caller rolls back on an error."""
    quotas = quotas or Quotas()
    _lock_business_jobs(session, business_id)
    if quotas.stamps_per_day:
        pending = sum(job.total for job in _unfinished_jobs(session, business_id, ISSUE_STAMPS))
        check_daily_quota(session, business_id, count, now, quotas.stamps_per_day, pending=pending)
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
    _check_job_quota(session, job, quotas)
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


Work = Callable[[Session, Job, dict[str, Any], Callable[[int, int], None]], dict[str, Any]]


def _run_job_row(
    database: Database,
    job_id: int,
    work: Work,
    *,
    unexpected: str,
    on_progress: Callable[[int, int], None] | None,
) -> None:
    """Take a queued job (never twice), run ``work`` and record its end on the row: ``done``
    with the result ``work`` returns, or ``failed`` with the reason (``unexpected`` for an
    error that is not the service's own)."""

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
            # SQLite has one writer, and an issuance is it: there its row changes only at
            # the start and the end. A sheet only reads, and elsewhere any process can read
            # the progress.
            write_progress = job.kind == RENDER_SHEET or database.engine.dialect.name != "sqlite"

            def progress(done: int, total: int) -> None:
                if on_progress is not None:
                    on_progress(done, total)
                if write_progress and (done % PROGRESS_WRITE_EVERY == 0 or done == total):
                    set_row(done=done)

            actor = ("user", job.user_id) if job.user_id is not None else ("system", None)
            with audit.acting_as(*actor):
                outcome = work(session, job, params, progress)
        set_row(
            status="done",
            done=outcome.get("count", outcome.get("stamps", 0)),
            result=json.dumps(outcome),
            finished_at=utcnow(),
        )
    except TraceQRError as exc:
        set_row(status="failed", error=exc.message, finished_at=utcnow())
    except Exception:
        log.exception("job %s failed", job_id)
        set_row(status="failed", error=unexpected, finished_at=utcnow())


def _job_batch(session: Session, job: Job, params: dict[str, Any]) -> Batch:
    batch = session.get(Batch, params["batch_id"])
    if batch is None or batch.business_id != job.business_id:
        raise NotFound(N_("the batch of this job no longer exists"))
    return batch


def run_issue_job(
    database: Database,
    keystore: KeyStore,
    pins: PinScheme,
    job_id: int,
    *,
    max_stamps: int,
    on_progress: Callable[[int, int], None] | None = None,
    daily_quota: int | None = None,
) -> None:
    """Run one queued issuance to its end: the row says ``done`` with the result, or
    ``failed`` with the reason and no stamps. Wherever it runs: a thread here, or a queue
    worker."""

    def issue(
        session: Session, job: Job, params: dict[str, Any], progress: Callable[[int, int], None]
    ) -> dict[str, Any]:
        result = issue_stamps(
            session,
            keystore,
            _job_batch(session, job, params),
            params["count"],
            active=params["active"],
            now=utcnow(),
            max_count=max_stamps,
            progress=progress,
            pins=pins,
            daily_quota=daily_quota,
        )
        return {
            "count": result.count,
            "first_seq": result.first_seq,
            "last_seq": result.last_seq,
            "test": result.test,
        }

    _run_job_row(
        database,
        job_id,
        issue,
        unexpected=N_("the job failed unexpectedly; no stamps were issued"),
        on_progress=on_progress,
    )


def create_sheet_job(
    session: Session,
    *,
    business_id: int,
    user_id: int | None,
    batch: Batch,
    layout: SheetLayout,
    side_text: str | None,
    with_logo: bool,
    now: datetime,
    quotas: Quotas | None = None,
) -> Job:
    """A job that writes the batch's sheet to a file under the instance folder, to
    download when done. Sheets older than :data:`SHEET_FILE_DAYS` are removed. With
    ``quotas``, refused (:class:`QuotaExceeded`) when the business has too many jobs
    unfinished or keeps too many sheet files. The caller rolls back on an error."""
    from traceqr.services.sheets import layout_to_json

    if batch.stamps_total == 0:
        raise ValidationError(N_("this batch has no stamps yet: issue some first"))
    quotas = quotas or Quotas()
    _lock_business_jobs(session, business_id)
    job = Job(
        business_id=business_id,
        user_id=user_id,
        kind=RENDER_SHEET,
        status="queued",
        done=0,
        total=batch.stamps_total,
        params=json.dumps(
            {
                "batch_id": batch.id,
                # The stamps as ordered: later issuances of the batch are not on this sheet.
                "total": batch.stamps_total,
                "layout": layout_to_json(layout),
                "side_text": side_text,
                "logo": with_logo,
                # In the file's name, so that a job id used again (a database restored
                # onto the same instance folder) never finds another job's sheet.
                "file_token": secrets.token_hex(8),
            }
        ),
        created_at=now,
    )
    session.add(job)
    session.flush()
    _check_job_quota(session, job, quotas)
    _check_sheet_files(session, job, quotas, now)
    return job


def sheet_file(instance_path: Path, job: Job) -> Path:
    """Where a sheet job's PDF is kept (private to its business, like uploads)."""
    token = json.loads(job.params).get("file_token", "")
    return instance_path / "jobs" / f"sheet-{job.id}-{token}.pdf"


def finished_sheet(job: Job, instance_path: Path) -> Path | None:
    """The PDF a done sheet job wrote, while it is kept; else None."""
    path = sheet_file(instance_path, job)
    if job.kind == RENDER_SHEET and job.status == "done" and path.exists():
        return path
    return None


def remove_old_sheets(
    session: Session, instance_path: Path, now: datetime, business_id: int | None = None
) -> int:
    """Delete the files of sheet jobs (of one business, or all) that ended more than
    :data:`SHEET_FILE_DAYS` ago; their rows stay. Returns how many files went."""
    query = select(Job).where(
        Job.kind == RENDER_SHEET,
        Job.finished_at < now - timedelta(days=SHEET_FILE_DAYS),
    )
    if business_id is not None:
        query = query.where(Job.business_id == business_id)
    removed = 0
    for job in session.scalars(query):
        path = sheet_file(instance_path, job)
        # A job killed while writing left only its .part: that goes too.
        for leftover in (path, path.with_name(path.name + ".part")):
            if leftover.exists():
                leftover.unlink(missing_ok=True)
                removed += 1
    return removed


def run_sheet_job(
    database: Database,
    settings: Settings,
    pins: PinScheme,
    job_id: int,
    *,
    on_progress: Callable[[int, int], None] | None = None,
) -> None:
    """Write one queued sheet job's PDF: under a temporary name, renamed when complete, so
    that a failed or killed job leaves no file to download."""
    from traceqr.domain.sheet import SheetLayoutError
    from traceqr.services.sheets import layout_from_json, write_batch_sheet

    def write(
        session: Session, job: Job, params: dict[str, Any], progress: Callable[[int, int], None]
    ) -> dict[str, Any]:
        batch = _job_batch(session, job, params)
        logo = None
        if params.get("logo"):
            business = session.get(Business, job.business_id)
            if business is None or not business.logo:
                raise ValidationError(N_("Add a logo to the business profile first."))
            logo = (settings.uploads_path / business.logo).read_bytes()
        target = sheet_file(settings.instance_path, job)
        # A sheet holds genuine stamps (and their PINs): readable by the service alone.
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        try:
            descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "wb") as out:
                summary = write_batch_sheet(
                    session,
                    batch,
                    settings.public_url,
                    pins,
                    out,
                    layout_from_json(params["layout"]),
                    side_text=params.get("side_text"),
                    logo=logo,
                    progress=progress,
                    total=params.get("total"),
                )
        except SheetLayoutError as exc:
            partial.unlink(missing_ok=True)
            raise ValidationError(str(exc)) from exc
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(target)
        return {"stamps": summary.stamps, "pages": summary.pages, "bytes": target.stat().st_size}

    _run_job_row(
        database,
        job_id,
        write,
        unexpected=N_("the job failed unexpectedly; no sheet was written"),
        on_progress=on_progress,
    )


def run_job(
    database: Database,
    keystore: KeyStore,
    pins: PinScheme,
    settings: Settings,
    job_id: int,
    *,
    max_stamps: int,
    on_progress: Callable[[int, int], None] | None = None,
) -> None:
    """Run a queued job of any kind."""
    with database.engine.connect() as connection:
        kind = connection.execute(select(Job.kind).where(Job.id == job_id)).scalar_one_or_none()
    if kind == RENDER_SHEET:
        run_sheet_job(database, settings, pins, job_id, on_progress=on_progress)
    elif kind is not None:
        run_issue_job(
            database,
            keystore,
            pins,
            job_id,
            max_stamps=max_stamps,
            on_progress=on_progress,
            daily_quota=settings.max_stamps_per_business_day,
        )


class JobRunner:
    """Runs jobs in this process, two at a time at most (the default)."""

    def __init__(
        self,
        database: Database,
        keystore: KeyStore,
        pins: PinScheme,
        max_stamps: int,
        settings: Settings,
    ) -> None:
        self.database = database
        self.keystore = keystore
        self.pins = pins
        self.max_stamps = max_stamps
        self.settings = settings
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
            run_job(
                self.database,
                self.keystore,
                self.pins,
                self.settings,
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
        run_job(
            state.database,
            state.keystore,
            state.pins,
            state.settings,
            job_id,
            max_stamps=JOB_MAX_STAMPS,
        )
