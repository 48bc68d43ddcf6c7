"""Engine, sessions and migrations."""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: SQLite's own busy handler orders the writers
    fcntl = None  # type: ignore[assignment]

from sqlalchemy import create_engine, event, inspect, make_url
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_PATH = Path(__file__).parent / "migrations"
CONNECT_TIMEOUT_SECONDS = 5


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        database_file = sqlite_file(url)

        @event.listens_for(engine, "do_connect")
        def _private_file(*_args: Any) -> None:
            # Made 0600 when first opened, not when the engine is built: a Database that
            # never connects (a refused restore) leaves no file behind.
            if database_file is not None:
                private_sqlite_file(database_file)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # WAL lets readers go on while a stamp issuance writes; foreign keys are off
            # by default in SQLite.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    connect_args: dict[str, Any] = dict(kwargs.pop("connect_args", {}))
    if "connect_timeout" not in make_url(url).query:
        # A database host that drops packets, or accepts and never answers (a failover in
        # progress), would otherwise hold a request for minutes: give up after a few
        # seconds and answer 503. The URL's own ?connect_timeout= wins.
        connect_args.setdefault("connect_timeout", CONNECT_TIMEOUT_SECONDS)
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        connect_args=connect_args,
        **kwargs,
    )


class WriterLock:
    """One short write transaction at a time across the processes sharing a SQLite file.

    SQLite lets one connection write at a time; a second writer that finds the file locked
    sleeps in SQLite's busy handler for 1, 2, 5, 10 … ms between tries, so under a steady
    stream of checks from several gunicorn workers the workers spent a quarter of their
    time asleep. A kernel lock (``flock`` on ``<database>-writers`` beside the file)
    queues them instead and wakes the next writer the moment the last one lets go.
    Threads of one process queue on a thread lock first, since ``flock`` does not exclude
    threads sharing a descriptor; a forked child forgets both and opens its own
    descriptor, so a lock is never shared by inheritance.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._threads = threading.Lock()
        self._descriptor: int | None = None
        _WRITER_LOCKS.add(self)

    def __enter__(self) -> None:
        self._threads.acquire()
        try:
            if self._descriptor is None:
                self._descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._descriptor, fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise

    def __exit__(self, *_exc: object) -> None:
        try:
            fcntl.flock(self._descriptor, fcntl.LOCK_UN)  # type: ignore[arg-type]
        finally:
            self._threads.release()

    def _forget(self) -> None:
        """In a forked child: the parent's descriptor and thread lock are the parent's."""
        self._threads = threading.Lock()
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None


_WRITER_LOCKS: weakref.WeakSet[WriterLock] = weakref.WeakSet()


def _forget_writer_locks() -> None:
    for lock in list(_WRITER_LOCKS):
        lock._forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_writer_locks)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return None
    name = parsed.database or ""
    if name in ("", ":memory:") or name.startswith("file:") or parsed.query.get("mode") == "memory":
        return None
    return Path(name)


def private_sqlite_file(path: Path) -> None:
    """The database holds password hashes and encrypted keys: readable by the service's
    own user only. A new file is made 0600 before SQLite opens it (SQLite gives its -wal and
    -shm files the mode of the database file); a file made earlier with a wider mode is
    narrowed, with the -wal and -shm beside it.

    An existing file is never opened here: closing any descriptor of a database file drops
    every POSIX lock this process holds on it, those of open SQLite connections included.
    A file that does not exist yet has no such locks."""
    if not path.exists():
        # Made meanwhile, a folder that does not exist, read-only: SQLite says so itself.
        with contextlib.suppress(OSError):
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    for each in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            mode = each.stat().st_mode & 0o777
            if mode & 0o077:
                each.chmod(mode & 0o700)
        except OSError:
            continue  # not there, or not ours to change


class Database:
    """The engine and a session factory, shared by the web app and the CLI."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        path = sqlite_file(url)
        self._writer_lock = (
            WriterLock(path.with_name(path.name + "-writers"))
            if path is not None and fcntl is not None
            else None
        )

    def writing(self) -> AbstractContextManager[None]:
        """Hold around a short, frequent write transaction (a check being recorded): on a
        SQLite file it queues the writers of every process (see WriterLock); elsewhere it
        does nothing, as the database orders its writers itself."""
        return self._writer_lock if self._writer_lock is not None else nullcontext()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits on success, rolls back on any error."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def is_migrated(self) -> bool:
        return inspect(self.engine).has_table("alembic_version")

    def health(self) -> str | None:
        """None when the database answers and holds the schema, else what is wrong: one
        statement when all is well (load balancers ask every few seconds), a closer look
        only when it failed."""
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
        except Exception as exc:
            failure = type(exc).__name__
        else:
            return None
        try:
            migrated = self.is_migrated()
        except Exception as exc:
            return type(exc).__name__
        return failure if migrated else "schema missing: run traceqr init"

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_PATH))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_schema(database: Database) -> None:
    """Create or upgrade the schema to the newest migration. Idempotent."""
    from alembic import command

    config = alembic_config(database.url)
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
