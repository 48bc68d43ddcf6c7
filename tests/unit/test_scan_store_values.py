"""The verification hot path writes times on its own (traceqr/services/scan_store.py), not
through the models' column type: both must write the same text, or the portal's and the
authority's range queries over ``scans.scanned_at`` would miss or misorder checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Column, MetaData, Table, create_engine, delete, insert

from traceqr.models import UTCDateTime
from traceqr.services.scan_store import ScanStore

AWARE = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=7)), timezone(-timedelta(hours=5))]),
)
_TIMES = Table("times", MetaData(), Column("at", UTCDateTime))
_ENGINE = create_engine("sqlite://")
_TIMES.metadata.create_all(_ENGINE)


def written_by_the_model(value: datetime) -> str:
    """The text SQLite holds after the models' column type wrote ``value``."""
    with _ENGINE.begin() as connection:
        connection.execute(delete(_TIMES))
        connection.execute(insert(_TIMES).values(at=value))
        return str(connection.exec_driver_sql("SELECT at FROM times").scalar_one())


@given(AWARE)
def test_the_hot_path_writes_a_time_exactly_as_the_model_does(value: datetime) -> None:
    assert ScanStore("sqlite").time_in(value) == written_by_the_model(value)


@given(AWARE)
def test_a_written_time_reads_back_as_the_same_instant(value: datetime) -> None:
    store = ScanStore("sqlite")
    assert store.time_out(store.time_in(value)) == value


def test_a_time_on_a_whole_second_keeps_its_microseconds_field() -> None:
    # isoformat() drops ".000000" unless told otherwise; the stored text must not change
    # length, or text comparison in SQLite would order "…:05" after "…:05.5".
    assert ScanStore("sqlite").time_in(datetime(2026, 11, 29, 5, 0, 5, tzinfo=UTC)) == (
        "2026-11-29 05:00:05.000000"
    )


def test_postgresql_gets_the_datetime_itself() -> None:
    value = datetime(2026, 11, 29, 12, 0, tzinfo=timezone(timedelta(hours=7)))
    assert ScanStore("postgresql").time_in(value) is value
