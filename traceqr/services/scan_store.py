"""The verification hot path's SQL, written for the database driver.

A check runs five short statements (bump the stamp, read its batch, read its recent
checks, append the check, count it for the day). Through SQLAlchemy Core each costs about
150 µs of Python before the database sees it; on the driver's own cursor, about 20 µs.
The statements are plain SQL that SQLite (3.35+) and PostgreSQL both understand; only the
parameter marker and the way times are stored differ, and this class hides both.
The models in traceqr/models.py remain the schema's reference.
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
)
_BATCH_TIMES = ("recalled_at", "batch_flagged_at")
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
            f"JOIN businesses o ON o.id = b.business_id WHERE b.id = {p}"
        )
        self.recent_sql = (
            "SELECT scanned_at, province_code, lat, lon, ip_hash FROM scans "
            f"WHERE stamp_id = {p} ORDER BY scanned_at DESC LIMIT {RECENT_SCANS}"
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

    # --- values in and out ---------------------------------------------------------------

    def time_in(self, value: datetime) -> Any:
        # SQLite keeps times as UTC text, exactly as SQLAlchemy's DateTime type writes them.
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else value

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

    @staticmethod
    def _cursor(connection: Connection) -> Any:
        return connection.connection.cursor()

    # --- statements ----------------------------------------------------------------------

    def stamp(
        self, connection: Connection, serial: bytes, now: datetime, *, count: bool
    ) -> dict[str, Any] | None:
        """The stamp's facts, counting this check (``count``) or not."""
        cursor = self._cursor(connection)
        if count:
            when = self.time_in(now)
            cursor.execute(self.bump_sql, (when, when, serial))
        else:
            cursor.execute(self.read_sql, (serial,))
        row = cursor.fetchone()
        cursor.close()
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

    def batch_view(self, connection: Connection, batch_id: int) -> dict[str, Any]:
        cursor = self._cursor(connection)
        cursor.execute(self.batch_sql, (batch_id,))
        row = cursor.fetchone()
        cursor.close()
        view = dict(zip((name for _, name in BATCH_VIEW_FIELDS), row, strict=True))
        for name in _BATCH_TIMES:
            view[name] = self.time_out(view[name])
        for name in _BATCH_DATES:
            view[name] = self.date_out(view[name])
        return view

    def recent(self, connection: Connection, stamp_id: int) -> list[tuple[Any, ...]]:
        """(time, province, lat, lon, client hash) of the stamp's latest checks."""
        cursor = self._cursor(connection)
        cursor.execute(self.recent_sql, (stamp_id,))
        rows = cursor.fetchall()
        cursor.close()
        return [
            (self.time_out(at), province, lat, lon, bytes(client) if client is not None else None)
            for at, province, lat, lon, client in rows
        ]

    def append(
        self, connection: Connection, values: Sequence[Any], daily: Sequence[Any] | None
    ) -> int:
        """Record the check (``values`` in SCAN_COLUMNS order) and count it for the day."""
        row = list(values)
        row[2] = self.time_in(row[2])
        cursor = self._cursor(connection)
        cursor.execute(self.insert_sql, row)
        scan_id = int(cursor.fetchone()[0])
        if daily is not None:
            business_id, day, status, province = daily
            cursor.execute(
                self.daily_sql,
                (business_id, day.isoformat() if self.sqlite else day, status, province),
            )
        cursor.close()
        return scan_id
