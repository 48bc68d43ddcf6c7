"""Helpers shared by the benchmarks: a throw-away service on SQLite or PostgreSQL, timing."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import create_engine, make_url, text

from bench.reporting import report, timer
from traceqr.config import load_settings
from traceqr.db import upgrade_schema
from traceqr.services import catalog
from traceqr.services.businesses import create_business
from traceqr.services.identity import Reviewer
from traceqr.state import AppState

__all__ = ["PG_URL", "Service", "database", "report", "service", "timer"]

PG_URL = os.environ.get("TRACEQR_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def database(kind: str) -> Iterator[str]:
    """A fresh database URL of ``kind`` (sqlite or postgresql), removed afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.sqlite3"
        return
    admin_url = make_url(PG_URL)
    name = f"traceqr_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass
class Service:
    state: AppState
    business_id: int
    api_key: str
    batch_id: int


@contextmanager
def service(kind: str) -> Iterator[Service]:
    """A migrated database with one business, product and batch."""
    with database(kind) as url, tempfile.TemporaryDirectory() as instance:
        settings = load_settings(
            {"instance_path": instance, "database_url": url, "rate_limits_enabled": False}
        )
        state = AppState.create(settings)
        upgrade_schema(state.database)
        now = datetime.now(UTC)
        with state.database.session() as session:
            created = create_business(  # verified, as a business that prints for goods is
                session,
                state.keystore,
                name="Bench Co",
                email="bench@example.vn",
                now=now,
                vouched_by=Reviewer.operator("bench"),
            )
            product = catalog.create_product(session, created.business.id, {"name": "Bench"}, now)
            batch = catalog.create_batch(
                session, created.business.id, product.id, {"lot": "B1"}, now
            )
            ids = created.business.id, created.api_key, batch.id
        try:
            yield Service(state, *ids)
        finally:
            state.database.dispose()
