"""The verification hot path's SQL, written for the database driver.

A check runs five or six short statements (bump the stamp, read its batch, read its
recent checks, append the check, count it for the day, and count it for the copy rules
when it is not its client's repeat). Through SQLAlchemy Core each costs about
150 µs of Python before the database sees it; on the driver's own cursor, about 20 µs.
The statements are plain SQL that SQLite (3.35+) and PostgreSQL both understand; only the
parameter marker and the way times are stored differ, and this class hides both.
The models in traceqr/models.py remain the schema's reference.

On PostgreSQL each statement would be a round trip to the server, and a round trip costs
more than the statement (two context switches on each side, and the worker waits). The
three reads name the stamp by its serial, so none waits for another's answer, and they go
to the server together with the transaction's BEGIN in one round trip (psycopg's pipeline
mode); the two writes go with the COMMIT in a second one (:meth:`ScanStore.append_and_commit`).
SQLite runs in process and takes them one by one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.engine import Connection

STAMP_FIELDS = (
    "id",
    "batch_id",
    "signing_key_id",
    "seq",
    "active",
    "revoked_at",
    "revoke_reason",
    "scan_count",
    "first_scan_at",
    "claimed_at",
    "claimed_by",
    "flagged_at",
    "flag_reason",
    "issued_at",
    "independent_checks",
    "has_pin",
)
_STAMP_COLUMNS = ", ".join(STAMP_FIELDS[:-1]) + ", pin_hash IS NOT NULL"
_STAMP_TIMES = ("revoked_at", "first_scan_at", "claimed_at", "flagged_at", "issued_at")

BATCH_VIEW_FIELDS = (
    ("b.id", "batch_id"),
    ("b.lot", "lot"),
    ("b.production_date", "production_date"),
    ("b.expiry_date", "expiry_date"),
    ("b.facility", "facility"),
    ("b.recalled_at", "recalled_at"),
    ("b.recall_reason", "recall_reason"),
    ("b.flagged_at", "batch_flagged_at"),
    ("b.flag_reason", "batch_flag_reason"),
    ("b.stamp_format", "stamp_format"),
    ("p.id", "product_id"),
    ("p.name", "product_name"),
    ("p.gtin", "gtin"),
    ("p.brand", "brand"),
    ("p.category", "category"),
    ("p.origin", "origin"),
    ("p.description", "description"),
    ("p.standards", "standards"),
    ("o.id", "business_id"),
    ("o.name", "business_name"),
    ("o.legal_name", "legal_name"),
    ("o.tax_code", "tax_code"),
    ("o.verification_status", "verification_status"),
    ("o.verified_at", "verified_at"),
    ("o.verified_by", "verified_by"),
    ("o.address_street", "address_street"),
    ("o.address_commune", "address_commune"),
    ("o.province_code", "province_code"),
    ("o.cluster_name", "cluster_name"),
    ("o.phone", "phone"),
    ("o.website", "website"),
    ("o.logo", "logo"),
    ("o.policy_max_scans", "policy_max_scans"),
    ("o.policy_max_speed_kmh", "policy_max_speed_kmh"),
    ("o.policy_max_clients", "policy_max_clients"),
    ("o.policy_after_claim", "policy_after_claim"),
    # Whether the page has a supply-chain journey to show (one probe of an index), so a
    # stamp page without one does not open a second connection to find that out.
    ("EXISTS (SELECT 1 FROM trace_events t WHERE t.batch_id = b.id)", "has_journey"),
)
_BATCH_TIMES = ("recalled_at", "batch_flagged_at", "verified_at")
_BATCH_DATES = ("production_date", "expiry_date")
RECENT_SCANS = 20
SCAN_COLUMNS = (
    "stamp_id",
    "business_id",
    "scanned_at",
    "status",
    "reasons",
    "channel",
    "kid",
    "serial",
    "province_code",
    "lat",
    "lon",
    "ip_hash",
    "device",
    "claimed_business_id",
)


class ScanStore:
    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"
        p = "?" if self.sqlite else "%s"
        self.bump_sql = (
            f"UPDATE stamps SET scan_count = scan_count + 1, "
            f"first_scan_at = COALESCE(first_scan_at, {p}), last_scan_at = {p} "
            f"WHERE serial = {p} RETURNING {_STAMP_COLUMNS}"
        )
        self.read_sql = f"SELECT {_STAMP_COLUMNS} FROM stamps WHERE serial = {p}"
        columns = ", ".join(f"{expr} AS {name}" for expr, name in BATCH_VIEW_FIELDS)
        self.batch_sql = (
            f"SELECT {columns} FROM batches b "
            "JOIN products p ON p.id = b.product_id "
            "JOIN businesses o ON o.id = b.business_id "
            f"WHERE b.id = (SELECT batch_id FROM stamps WHERE serial = {p})"
        )
        self.recent_sql = (
            "SELECT scanned_at, province_code, lat, lon, ip_hash FROM scans "
            f"WHERE stamp_id = (SELECT id FROM stamps WHERE serial = {p}) "
            f"ORDER BY scanned_at DESC LIMIT {RECENT_SCANS}"
        )
        marks = ", ".join(p for _ in SCAN_COLUMNS)
        self.insert_sql = (
            f"INSERT INTO scans ({', '.join(SCAN_COLUMNS)}) VALUES ({marks}) RETURNING id"
        )
        self.daily_sql = (
            "INSERT INTO scan_daily (business_id, day, status, province_code, count) "
            f"VALUES ({p}, {p}, {p}, {p}, 1) "
            "ON CONFLICT (business_id, day, status, province_code) "
            "DO UPDATE SET count = scan_daily.count + 1"
        )
        # Forged codes naming a business's key: counted apart, never in scan_daily.
        self.forged_daily_sql = (
            "INSERT INTO forged_daily (business_id, day, province_code, count) "
            f"VALUES ({p}, {p}, {p}, 1) "
            "ON CONFLICT (business_id, day, province_code) "
            "DO UPDATE SET count = forged_daily.count + 1"
        )
        # A check the copy rules count (not a client's repeat within 10 minutes).
        self.independent_sql = (
            f"UPDATE stamps SET independent_checks = independent_checks + 1 WHERE id = {p}"
        )

    # --- values in and out ---------------------------------------------------------------

    def time_in(self, value: datetime) -> Any:
        # SQLite keeps times as UTC text, exactly as SQLAlchemy's DateTime type writes them
        # ("2026-11-29 05:00:00.123456": isoformat writes the same, at half strftime's cost).
        if not self.sqlite:
            return value
        if value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None).isoformat(" ", "microseconds")

    def time_out(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @staticmethod
    def date_out(value: Any) -> date | None:
        if value is None or isinstance(value, date):
            return value
        return date.fromisoformat(str(value))

    # --- statements ----------------------------------------------------------------------

    def look_up(
        self, connection: Connection, serial: bytes, now: datetime, *, count: bool, recent: bool
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None, list[tuple[Any, ...]]]:
        """The stamp's facts (counting this check when ``count``), its batch's view, and
        (with ``recent``) its latest checks; (None, None, []) for an unknown serial."""
        raw = connection.connection.dbapi_connection
        assert raw is not None
        if not _pipelines(raw):
            stamp = self._stamp_facts(
                self._one(raw.cursor(), *self._stamp_statement(serial, now, count))
            )
            if stamp is None:
                return None, None, []
            view = self._one(raw.cursor(), self.batch_sql, (serial,))
            checks = self._all(raw.cursor(), self.recent_sql, (serial,)) if recent else []
        else:
            with raw.pipeline():  # one round trip for the three
                stamp_cursor, view_cursor = raw.cursor(), raw.cursor()
                stamp_cursor.execute(*self._stamp_statement(serial, now, count))
                view_cursor.execute(self.batch_sql, (serial,))
                if recent:
                    recent_cursor = raw.cursor()
                    recent_cursor.execute(self.recent_sql, (serial,))
            stamp = self._stamp_facts(stamp_cursor.fetchone())
            view = view_cursor.fetchone()
            checks = recent_cursor.fetchall() if recent else []
            stamp_cursor.close()
            view_cursor.close()
            if recent:
                recent_cursor.close()
            if stamp is None:
                return None, None, []
        return stamp, self._batch_view(view), self._recent(checks)

    def _stamp_statement(
        self, serial: bytes, now: datetime, count: bool
    ) -> tuple[str, tuple[Any, ...]]:
        """The stamp's row, bumping its counters when this is a check (``count``)."""
        if count:
            when = self.time_in(now)
            return self.bump_sql, (when, when, serial)
        return self.read_sql, (serial,)

    @staticmethod
    def _one(cursor: Any, sql: str, parameters: Sequence[Any]) -> Any:
        cursor.execute(sql, parameters)
        row = cursor.fetchone()
        cursor.close()
        return row

    @staticmethod
    def _all(cursor: Any, sql: str, parameters: Sequence[Any]) -> list[Any]:
        cursor.execute(sql, parameters)
        rows = cursor.fetchall()
        cursor.close()
        return list(rows)

    def _stamp_facts(self, row: Any) -> dict[str, Any] | None:
        if row is None:
            return None
        facts = dict(zip(STAMP_FIELDS, row, strict=True))
        for name in _STAMP_TIMES:
            facts[name] = self.time_out(facts[name])
        facts["active"], facts["has_pin"] = bool(facts["active"]), bool(facts["has_pin"])
        facts["claimed_by"] = (
            bytes(facts["claimed_by"]) if facts["claimed_by"] is not None else None
        )
        return facts

    def _batch_view(self, row: Any) -> dict[str, Any]:
        view = dict(zip((name for _, name in BATCH_VIEW_FIELDS), row, strict=True))
        for name in _BATCH_TIMES:
            view[name] = self.time_out(view[name])
        for name in _BATCH_DATES:
            view[name] = self.date_out(view[name])
        view["has_journey"] = bool(view["has_journey"])
        return view

    def _recent(self, rows: list[Any]) -> list[tuple[Any, ...]]:
        """(time, province, lat, lon, client hash) of the stamp's latest checks."""
        return [
            (self.time_out(at), province, lat, lon, bytes(client) if client is not None else None)
            for at, province, lat, lon, client in rows
        ]

    def append_and_commit(
        self,
        connection: Connection,
        values: Sequence[Any],
        daily: Sequence[Any] | None,
        *,
        forged: Sequence[Any] | None = None,
        independent_stamp_id: int | None = None,
    ) -> int:
        """Record the check (``values`` in SCAN_COLUMNS order), count it for the day
        (``daily``: business, day, status, province in scan_daily; ``forged``: business, day,
        province in forged_daily), count it for the copy rules on ``independent_stamp_id``,
        and commit the check's transaction; returns the new scan's id. On PostgreSQL the
        writes and the COMMIT go to the server in one round trip. The caller's transaction
        (``connection.begin()``) then finds nothing left to commit."""
        row = list(values)
        row[2] = self.time_in(row[2])
        raw = connection.connection.dbapi_connection
        assert raw is not None
        writes: list[tuple[str, Sequence[Any]]] = []
        if daily is not None:
            business_id, day, status, province = daily
            writes.append((self.daily_sql, (business_id, self._day_in(day), status, province)))
        if forged is not None:
            business_id, day, province = forged
            writes.append((self.forged_daily_sql, (business_id, self._day_in(day), province)))
        if independent_stamp_id is not None:
            writes.append((self.independent_sql, (independent_stamp_id,)))
        if not _pipelines(raw):
            scan_id = self._one(raw.cursor(), self.insert_sql, row)[0]
            for sql, parameters in writes:
                cursor = raw.cursor()
                cursor.execute(sql, parameters)
                cursor.close()
            raw.commit()
            return int(scan_id)
        cursors = [raw.cursor() for _ in range(len(writes) + 2)]
        with raw.pipeline():
            cursors[0].execute(self.insert_sql, row)
            for cursor, (sql, parameters) in zip(cursors[1:], writes, strict=False):
                cursor.execute(sql, parameters)
            cursors[-1].execute("COMMIT")
        scan_id = cursors[0].fetchone()[0]
        for cursor in cursors:
            cursor.close()
        return int(scan_id)

    def _day_in(self, day: date) -> Any:
        return day.isoformat() if self.sqlite else day


def _pipelines(raw: Any) -> bool:
    """Whether the driver's connection has psycopg's pipeline mode (psycopg 3 on libpq 14
    or newer); other drivers, and SQLite, send the statements one by one."""
    kind = type(raw)
    known = _PIPELINES.get(kind)
    if known is None:
        known = _PIPELINES[kind] = _supports_pipeline(raw)
    return known


def _supports_pipeline(raw: Any) -> bool:
    try:
        from psycopg import Connection as PsycopgConnection
        from psycopg import Pipeline
    except ImportError:
        return False
    return isinstance(raw, PsycopgConnection) and Pipeline.is_supported()


_PIPELINES: dict[type, bool] = {}
