"""Upgrading to 0008 on a database with stamps: each old stamp gets an issue time no
earlier than the truth (its activation, or the upgrade), the audit log starts empty and
chains from its first entry."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import column, create_engine, insert, make_url, select, table, text
from sqlalchemy.sql.expression import TableClause

from tests.conftest import PG_URL
from traceqr.db import Database, alembic_config
from traceqr.models import AuditHead, Batch, Business, Product, SigningKey, Stamp


@pytest.fixture
def blank_url(tmp_path: Path) -> Iterator[str]:
    """An empty database of the kind the suite runs on, dropped afterwards."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'upgrade.sqlite3'}"
        return
    admin = create_engine(make_url(PG_URL), isolation_level="AUTOCOMMIT")
    name = f"traceqr_upgrade_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def as_of_0007(model: type) -> TableClause:
    """A model's table without the columns later migrations added (and their defaults)."""
    later = {
        "verification_status",  # 0009
        "purpose",
        "withdrawn_at",
        "withdrawal_reason",
        "independent_checks",  # 0010
        "claimed_business_id",
    }
    columns = [column(c.name, c.type) for c in model.__table__.columns if c.name not in later]
    return table(model.__tablename__, *columns)


def migrate(database: Database, revision: str) -> None:
    config = alembic_config(database.url)
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_old_stamps_get_an_upper_bound_for_their_issue_time(blank_url: str) -> None:
    database = Database(blank_url)
    try:
        migrate(database, "0007")
        activated = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
        t0 = datetime(2026, 1, 1, tzinfo=UTC)
        with database.engine.begin() as connection:
            connection.execute(
                insert(as_of_0007(Business)).values(id=1, name="B", email="b@x.vn", created_at=t0)
            )
            connection.execute(
                insert(as_of_0007(SigningKey)).values(
                    id=1,
                    business_id=1,
                    kid=b"\x01\x02\x03\x04",
                    public_key=bytes(32),
                    status="active",
                    created_at=t0,
                )
            )
            connection.execute(
                insert(Product.__table__).values(
                    id=1, business_id=1, name="P", created_at=t0, updated_at=t0
                )
            )
            connection.execute(
                insert(Batch.__table__).values(
                    id=1, business_id=1, product_id=1, lot="L1", created_at=t0
                )
            )
            for seq, when in ((1, activated), (2, None)):
                connection.execute(
                    insert(as_of_0007(Stamp)).values(
                        batch_id=1,
                        signing_key_id=1,
                        seq=seq,
                        serial=bytes([seq]) * 10,
                        signature=bytes(64),
                        active=when is not None,
                        activated_at=when,
                    )
                )
        before_upgrade = datetime.now(UTC)
        migrate(database, "head")
        after_upgrade = datetime.now(UTC)
        with database.session() as session:
            issued = dict(session.execute(select(Stamp.seq, Stamp.issued_at)).all())
            head = session.get(AuditHead, 1)
            assert head is not None and (head.seq, head.hash) == (0, "0" * 64)
        assert issued[1] == activated
        assert issued[2] is not None
        assert before_upgrade - timedelta(seconds=1) <= issued[2] <= after_upgrade
    finally:
        database.dispose()
