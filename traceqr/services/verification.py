"""Verifying a scanned text: the hot path of the service.

One verification is: parse the text, find the key by kid (cached in process), check the
Ed25519 signature, then in one transaction bump the stamp's counters with
``UPDATE … RETURNING`` (the row lock orders concurrent scans, so none is lost), read its
batch, product and business by primary key, and append the scan. SQLAlchemy Core with
statements built once: the ORM costs too much here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection

from traceqr.db import Database
from traceqr.domain.clients import device_family, hash_client_address
from traceqr.domain.codec import normalize_crockford
from traceqr.domain.dates import VIETNAM_TZ
from traceqr.domain.keys import PublicKey
from traceqr.domain.places import place_of
from traceqr.domain.stamp_format import (
    FORMAT_V1,
    SERIAL_TEXT_LENGTH,
    SHORT_CODE_LENGTH,
    StampCode,
    StampFormatError,
    parse_scanned_text,
    parse_serial,
)
from traceqr.domain.verification import (
    PastScan,
    Policy,
    ScanFacts,
    StampRecord,
    Status,
    Verdict,
    evaluate,
)
from traceqr.models import (
    Batch,
    Business,
    Product,
    Scan,
    ScanDaily,
    SigningKey,
    Stamp,
    UTCDateTime,
)

_stamps = Stamp.__table__
_batches = Batch.__table__
_products = Product.__table__
_businesses = Business.__table__
_keys = SigningKey.__table__
_scans = Scan.__table__

# What a check reads of the stamp, counting the check (UPDATE … RETURNING) or not.
_STAMP_FACTS = (
    _stamps.c.id,
    _stamps.c.batch_id,
    _stamps.c.signing_key_id,
    _stamps.c.seq,
    _stamps.c.active,
    _stamps.c.revoked_at,
    _stamps.c.revoke_reason,
    _stamps.c.scan_count,
    _stamps.c.first_scan_at,
    _stamps.c.claimed_at,
    _stamps.c.claimed_by,
    _stamps.c.flagged_at,
    _stamps.c.flag_reason,
    (_stamps.c.pin_hash.is_not(None)).label("has_pin"),
)
_BUMP_STAMP = (
    update(_stamps)
    .where(_stamps.c.serial == bindparam("b_serial"))
    .values(
        scan_count=_stamps.c.scan_count + 1,
        first_scan_at=func.coalesce(_stamps.c.first_scan_at, bindparam("now", type_=UTCDateTime())),
        last_scan_at=bindparam("now", type_=UTCDateTime()),
    )
    .returning(*_STAMP_FACTS)
)
# The same facts without counting a check: for inspectors' dossiers and for pages shown
# again after a shopper adds a place, claims the PIN or reports a fake.
_READ_STAMP = select(*_STAMP_FACTS).where(_stamps.c.serial == bindparam("b_serial"))

# The one indexed read of the stamp's history that copy detection allows itself.
RECENT_SCANS = 20
_RECENT_SCANS = (
    select(
        _scans.c.scanned_at, _scans.c.province_code, _scans.c.lat, _scans.c.lon, _scans.c.ip_hash
    )
    .where(_scans.c.stamp_id == bindparam("stamp_id"))
    .order_by(_scans.c.scanned_at.desc())
    .limit(RECENT_SCANS)
)

_BATCH_VIEW = (
    select(
        _batches.c.id.label("batch_id"),
        _batches.c.lot,
        _batches.c.production_date,
        _batches.c.expiry_date,
        _batches.c.facility,
        _batches.c.recalled_at,
        _batches.c.recall_reason,
        _batches.c.flagged_at.label("batch_flagged_at"),
        _batches.c.flag_reason.label("batch_flag_reason"),
        _products.c.id.label("product_id"),
        _products.c.name.label("product_name"),
        _products.c.gtin,
        _products.c.brand,
        _products.c.category,
        _products.c.origin,
        _products.c.description,
        _products.c.standards,
        _businesses.c.id.label("business_id"),
        _businesses.c.name.label("business_name"),
        _businesses.c.legal_name,
        _businesses.c.tax_code,
        _businesses.c.address_street,
        _businesses.c.address_commune,
        _businesses.c.province_code,
        _businesses.c.cluster_name,
        _businesses.c.phone,
        _businesses.c.website,
        _businesses.c.logo,
        _businesses.c.policy_max_scans,
        _businesses.c.policy_max_speed_kmh,
        _businesses.c.policy_max_clients,
        _businesses.c.policy_after_claim,
    )
    .select_from(
        _batches.join(_products, _products.c.id == _batches.c.product_id).join(
            _businesses, _businesses.c.id == _batches.c.business_id
        )
    )
    .where(_batches.c.id == bindparam("batch_id"))
)

_FIND_BY_SERIAL = (
    select(_stamps.c.signature, _keys.c.kid)
    .select_from(_stamps.join(_keys, _keys.c.id == _stamps.c.signing_key_id))
    .where(_stamps.c.serial == bindparam("b_serial"))
)

_KEYS_BY_KID = (
    select(
        _keys.c.id,
        _keys.c.kid,
        _keys.c.public_key,
        _keys.c.status,
        _keys.c.created_at,
        _businesses.c.id.label("business_id"),
        _businesses.c.name.label("business_name"),
    )
    .select_from(_keys.join(_businesses, _businesses.c.id == _keys.c.business_id))
    .where(_keys.c.kid == bindparam("kid"))
)

_INSERT_SCAN = insert(_scans).returning(_scans.c.id)
_daily = ScanDaily.__table__


def _count_daily_statement(dialect: str) -> Any:
    """``INSERT … ON CONFLICT DO UPDATE count = count + 1`` in the database's dialect."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert
    statement = upsert(_daily).values(
        business_id=bindparam("business_id"),
        day=bindparam("day"),
        status=bindparam("status"),
        province_code=bindparam("province_code"),
        count=1,
    )
    return statement.on_conflict_do_update(
        index_elements=[
            _daily.c.business_id,
            _daily.c.day,
            _daily.c.status,
            _daily.c.province_code,
        ],
        set_={"count": _daily.c.count + 1},
    )


@dataclass(frozen=True, slots=True)
class ClientFacts:
    address: str | None = None
    user_agent: str | None = None
    province_code: str | None = None
    lat: float | None = None  # already rounded (places.rounded), only with consent
    lon: float | None = None


@dataclass(frozen=True, slots=True)
class KnownKey:
    db_id: int
    public: PublicKey


@dataclass(frozen=True)
class Verification:
    """Everything a page or an API answer says about one scan."""

    verdict: Verdict
    scanned_at: datetime
    stamp: StampCode | None = None
    key: KnownKey | None = None
    format_error: str | None = None
    entered_as_short_code: bool = False
    stamp_id: int | None = None
    scan_count: int = 0
    first_scan_at: datetime | None = None
    seq: int | None = None
    active: bool | None = None
    revoked_at: datetime | None = None
    revoke_reason: str | None = None
    claimed_at: datetime | None = None
    has_pin: bool = False
    flag_reason: str | None = None
    scan_id: int | None = None
    origin: dict[str, Any] = field(default_factory=dict)  # batch, product, business facts

    @property
    def status(self) -> Status:
        return self.verdict.status

    @property
    def expiry_date(self) -> date | None:
        return self.origin.get("expiry_date")


class VerificationService:
    def __init__(
        self,
        database: Database,
        public_url: str,
        address_salt: bytes,
        policy: Policy | None = None,
    ) -> None:
        self.database = database
        self.public_url = public_url
        self.address_salt = address_salt
        self.policy = policy or Policy()
        self._keys: dict[bytes, list[KnownKey]] = {}
        self._lock = threading.Lock()
        self._count_daily = _count_daily_statement(database.engine.dialect.name)

    # --- keys ------------------------------------------------------------------------------

    def _keys_for(self, connection: Connection, kid: bytes) -> list[KnownKey]:
        cached = self._keys.get(kid)
        if cached is not None:
            return cached
        rows = connection.execute(_KEYS_BY_KID, {"kid": kid}).all()
        known = [
            KnownKey(
                db_id=row.id,
                public=PublicKey(
                    kid=row.kid,
                    key=row.public_key,
                    business_id=row.business_id,
                    business_name=row.business_name,
                    status=row.status,
                ),
            )
            for row in rows
        ]
        if known:
            with self._lock:
                self._keys[kid] = known
        return known

    def forget_keys(self) -> None:
        """Drop cached keys (after a key's status changed in this process)."""
        with self._lock:
            self._keys.clear()

    # --- the hot path ----------------------------------------------------------------------

    def verify(
        self, text: str, *, now: datetime, channel: str, client: ClientFacts | None = None
    ) -> Verification:
        client = client or ClientFacts()
        client_hash = hash_client_address(client.address, self.address_salt)
        with self.database.engine.begin() as connection:
            result = self._verify(connection, text, now, client, client_hash, count=True)
            scan_id = self._record_scan(connection, result, channel, client, client_hash)
        return replace(result, scan_id=scan_id)

    def inspect(
        self, text: str, *, now: datetime, client: ClientFacts | None = None
    ) -> Verification:
        """The verdict as of ``now`` without recording a check: nothing is written."""
        client = client or ClientFacts()
        client_hash = hash_client_address(client.address, self.address_salt)
        with self.database.engine.connect() as connection:
            return self._verify(connection, text, now, client, client_hash, count=False)

    def client_hash(self, address: str | None) -> bytes | None:
        return hash_client_address(address, self.address_salt)

    def _verify(
        self,
        connection: Connection,
        text: str,
        now: datetime,
        client: ClientFacts,
        client_hash: bytes | None,
        *,
        count: bool,
    ) -> Verification:
        stamp, format_error, short = self._decode(connection, text)
        if stamp is None:
            facts = ScanFacts(now=now, format_error=format_error)
            return Verification(
                evaluate(facts, self.policy),
                now,
                format_error=format_error,
                entered_as_short_code=short,
            )

        candidates = self._keys_for(connection, stamp.kid)
        key = next((k for k in candidates if k.public.verifies(stamp)), None)
        if key is None:
            facts = ScanFacts(now=now, signature_checked=True, key_known=bool(candidates))
            return Verification(
                evaluate(facts, self.policy),
                now,
                stamp=stamp,
                key=candidates[0] if candidates else None,
                entered_as_short_code=short,
            )

        statement = _BUMP_STAMP if count else _READ_STAMP
        row = connection.execute(statement, {"b_serial": stamp.serial, "now": now}).first()
        if row is None:
            facts = ScanFacts(now=now, signature_checked=True, key_known=True, signature_valid=True)
            return Verification(
                evaluate(facts, self.policy), now, stamp=stamp, key=key, entered_as_short_code=short
            )

        origin = dict(connection.execute(_BATCH_VIEW, {"batch_id": row.batch_id}).one()._mapping)
        recent = tuple(
            PastScan(
                at=scan.scanned_at,
                place=place_of(scan.lat, scan.lon, scan.province_code),
                client=scan.ip_hash,
            )
            for scan in connection.execute(_RECENT_SCANS, {"stamp_id": row.id})
        )
        record = StampRecord(
            kid_matches=row.signing_key_id == key.db_id,
            active=bool(row.active),
            revoked=row.revoked_at is not None,
            recalled=origin["recalled_at"] is not None,
            scan_count=row.scan_count,
            first_scan_at=row.first_scan_at,
            expiry_date=origin["expiry_date"],
            recent=recent,
            claimed_at=row.claimed_at,
            claimed_by=row.claimed_by,
            flagged=row.flagged_at is not None or origin["batch_flagged_at"] is not None,
        )
        facts = ScanFacts(
            now=now,
            signature_checked=True,
            key_known=True,
            signature_valid=True,
            record=record,
            place=place_of(client.lat, client.lon, client.province_code),
            client=client_hash,
            is_check=count,
        )
        return Verification(
            evaluate(facts, business_policy(origin, self.policy)),
            now,
            stamp=stamp,
            key=key,
            entered_as_short_code=short,
            stamp_id=row.id,
            scan_count=row.scan_count,
            first_scan_at=row.first_scan_at,
            seq=row.seq,
            active=bool(row.active),
            revoked_at=row.revoked_at,
            revoke_reason=row.revoke_reason,
            claimed_at=row.claimed_at,
            has_pin=bool(row.has_pin),
            flag_reason=row.flag_reason or origin["batch_flag_reason"],
            origin=origin if record.kid_matches else {},
        )

    def _decode(
        self, connection: Connection, text: str
    ) -> tuple[StampCode | None, str | None, bool]:
        """(stamp, format error, entered as a short code)."""
        try:
            return parse_scanned_text(text, self.public_url), None, False
        except StampFormatError as exc:
            error = exc.reason
        # People type the short code printed under the QR when the camera fails.
        if len(normalize_crockford(text)) in (SHORT_CODE_LENGTH, SERIAL_TEXT_LENGTH):
            try:
                serial = parse_serial(text)
            except StampFormatError as exc:
                return None, exc.reason, True
            found = connection.execute(_FIND_BY_SERIAL, {"b_serial": serial}).first()
            if found is None:
                return None, "unknown_short_code", True
            return StampCode(FORMAT_V1, found.kid, serial, found.signature), None, True
        return None, error, False

    def _record_scan(
        self,
        connection: Connection,
        result: Verification,
        channel: str,
        client: ClientFacts,
        client_hash: bytes | None,
    ) -> int:
        business_id = result.origin.get("business_id") or (
            result.key.public.business_id if result.key else None
        )
        scan_id: int = connection.execute(
            _INSERT_SCAN,
            {
                "stamp_id": result.stamp_id,
                "business_id": business_id,
                "scanned_at": result.scanned_at,
                "status": result.status.value,
                "reasons": ",".join(result.verdict.reasons),
                "channel": channel,
                "kid": result.stamp.kid if result.stamp else None,
                "serial": result.stamp.serial if result.stamp else None,
                "province_code": client.province_code,
                "lat": client.lat,
                "lon": client.lon,
                "ip_hash": client_hash,
                "device": device_family(client.user_agent),
            },
        ).scalar_one()
        if business_id is not None:
            connection.execute(
                self._count_daily,
                {
                    "business_id": business_id,
                    "day": result.scanned_at.astimezone(VIETNAM_TZ).date(),
                    "status": result.status.value,
                    "province_code": client.province_code or "",
                },
            )
        return scan_id


def business_policy(origin: dict[str, Any], default: Policy) -> Policy:
    """The business's own copy-detection thresholds, where it set them and they are sane."""
    values = {
        "max_scans": origin.get("policy_max_scans"),
        "max_speed_kmh": origin.get("policy_max_speed_kmh"),
        "max_clients": origin.get("policy_max_clients"),
        "after_claim_allowance": origin.get("policy_after_claim"),
    }
    chosen = {name: value for name, value in values.items() if value is not None}
    if not chosen:
        return default
    try:
        return replace(default, **chosen)
    except ValueError:
        return default
