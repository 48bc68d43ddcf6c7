"""Verifying a scanned text: the hot path of the service.

One verification is: parse the text, find the key by kid (cached in process) and check
the Ed25519 signature, all before any write; then, in one short transaction, bump the
stamp's counters with ``UPDATE … RETURNING`` (the row lock orders concurrent scans, so
none is lost), read its batch, product and business and its latest checks, judge, and
append the scan (traceqr/services/scan_store.py, on the driver's own cursors: the ORM
costs too much here). On SQLite the transaction holds the file's writer lock
(``Database.writing``), so it holds it for the statements only.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from traceqr.db import Database
from traceqr.domain.clients import device_family, hash_client_address, salt_period
from traceqr.domain.codec import normalize_crockford
from traceqr.domain.dates import VIETNAM_TZ
from traceqr.domain.keys import PublicKey
from traceqr.domain.places import place_of
from traceqr.domain.stamp_format import (
    FORMAT_V1,
    FORMAT_V2,
    SERIAL_TEXT_LENGTH,
    SHORT_CODE_LENGTH,
    StampCode,
    StampFormatError,
    parse_scanned_text,
    parse_serial,
)
from traceqr.domain.verification import (
    DEFAULT_RULES,
    RECORD_RULES,
    PastScan,
    Policy,
    Reason,
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
    SigningKey,
    Stamp,
)
from traceqr.services.scan_store import ScanStore

log = logging.getLogger("traceqr.alarms")

_stamps = Stamp.__table__
_batches = Batch.__table__
_products = Product.__table__
_businesses = Business.__table__
_keys = SigningKey.__table__
_scans = Scan.__table__

_FIND_BY_SERIAL = (
    select(
        _stamps.c.signature,
        _keys.c.kid,
        _batches.c.stamp_format,
        _batches.c.lot,
        _products.c.gtin,
    )
    .select_from(
        _stamps.join(_keys, _keys.c.id == _stamps.c.signing_key_id)
        .join(_batches, _batches.c.id == _stamps.c.batch_id)
        .join(_products, _products.c.id == _batches.c.product_id)
    )
    .where(_stamps.c.serial == bindparam("b_serial"))
)

_KEYS_BY_KID = (
    select(
        _keys.c.id,
        _keys.c.kid,
        _keys.c.public_key,
        _keys.c.status,
        _keys.c.created_at,
        _keys.c.compromised_at,
        _keys.c.purpose,
        _keys.c.withdrawn_at,
        _businesses.c.id.label("business_id"),
        _businesses.c.name.label("business_name"),
    )
    .select_from(_keys.join(_businesses, _businesses.c.id == _keys.c.business_id))
    .where(_keys.c.kid == bindparam("kid"))
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
    compromised_at: datetime | None = None
    withdrawn_at: datetime | None = None  # its producer's verification withdrawn then

    @property
    def is_test(self) -> bool:
        return self.public.is_test


# How long a process trusts what it read about a key. A key declared compromised (by the
# CLI, in another process) takes effect in every web process within this time.
KEY_CACHE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Presented:
    """What a scanned text carries, before the database is asked about the stamp."""

    stamp: StampCode | None
    format_error: str | None
    short: bool  # entered as the short code printed under the QR
    candidates: tuple[KnownKey, ...] = ()  # the keys with the stamp's kid
    key: KnownKey | None = None  # the one its signature verifies with


@dataclass(slots=True)
class Verification:
    """Everything a page or an API answer says about one scan. Built by the service, which
    sets ``scan_id`` once the check is recorded; read-only everywhere else."""

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
    counts_for_copy_rules: bool = False  # not its client's repeat within 10 minutes

    @property
    def forged_claim(self) -> int | None:
        """A forged code (its signature does not verify under the key its kid names): the
        business whose key it names. Not that business's check: never in its figures."""
        if self.key is None or Reason.BAD_SIGNATURE not in self.verdict.reasons:
            return None
        return self.key.public.business_id

    @property
    def status(self) -> Status:
        return self.verdict.status

    @property
    def is_test(self) -> bool:
        """A test stamp: signed by an unverified business's test key."""
        return self.key is not None and self.key.is_test and self.verdict.signature_valid

    @property
    def verified_producer(self) -> dict[str, Any] | None:
        """The producer's identity as a reviewer checked it, when this stamp is vouched for
        by it: a live key of a business verified now, its verification not withdrawn."""
        origin = self.origin
        if (
            not origin
            or self.is_test
            or self.key is None
            or self.key.withdrawn_at is not None
            or origin.get("verification_status") != "verified"
        ):
            return None
        return {
            "legal_name": origin["legal_name"] or origin["business_name"],
            "tax_code": origin["tax_code"],
            "verified_at": origin["verified_at"],
            "verified_by": origin["verified_by"],
        }

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
        *,
        address_rotation: str = "never",
        copy_detection: bool = True,
    ) -> None:
        self.database = database
        self.public_url = public_url
        self.address_salt = address_salt
        self.address_rotation = address_rotation
        # Off only to measure what copy detection costs (bench/verification.py).
        self.copy_detection = copy_detection
        self.rules = DEFAULT_RULES if copy_detection else RECORD_RULES
        self.policy = policy or Policy()
        self._keys: dict[bytes, tuple[float, list[KnownKey]]] = {}
        self._lock = threading.Lock()
        self.store = ScanStore(database.engine.dialect.name)

    # --- keys ------------------------------------------------------------------------------

    def _keys_for(self, connection: Connection, kid: bytes) -> list[KnownKey]:
        cached = self._keys.get(kid)
        if cached is not None and time.monotonic() - cached[0] < KEY_CACHE_SECONDS:
            return cached[1]
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
                    purpose=row.purpose,
                ),
                compromised_at=_aware(row.compromised_at),
                withdrawn_at=_aware(row.withdrawn_at),
            )
            for row in rows
        ]
        if known:
            with self._lock:
                self._keys[kid] = (time.monotonic(), known)
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
        client_hash = self.client_hash(client.address, now)
        with self.database.engine.connect() as connection:
            # The text and its signature first, outside the write: on SQLite the write
            # holds the file's one writer lock, so it should hold it for the statements only.
            presented = self._present(connection, text)
            if connection.in_transaction():  # a short code or a key looked up
                connection.commit()
            with self.database.writing(), connection.begin():
                result = self._judge(connection, presented, now, client, client_hash, count=True)
                result.scan_id = self._record_scan(connection, result, channel, client, client_hash)
        if result.status is Status.UNREGISTERED:
            log.warning(
                "ALARM unregistered stamp: valid signature by key %s, serial %s, no record",
                result.stamp.kid.hex() if result.stamp else "?",
                result.stamp.serial.hex() if result.stamp else "?",
            )
        return result

    def inspect(
        self, text: str, *, now: datetime, client: ClientFacts | None = None
    ) -> Verification:
        """The verdict as of ``now`` without recording a check: nothing is written."""
        client = client or ClientFacts()
        client_hash = self.client_hash(client.address, now)
        with self.database.engine.connect() as connection:
            presented = self._present(connection, text)
            return self._judge(connection, presented, now, client, client_hash, count=False)

    def client_hash(self, address: str | None, now: datetime) -> bytes | None:
        """The keyed hash stored instead of the client's address (see docs/privacy.md)."""
        period = salt_period(self.address_rotation, now.astimezone(VIETNAM_TZ).date())
        return hash_client_address(address, self.address_salt, period)

    def _present(self, connection: Connection, text: str) -> Presented:
        """The stamp the text carries and the key its signature verifies with, if any."""
        stamp, format_error, short = self._decode(connection, text)
        if stamp is None:
            return Presented(None, format_error, short)
        candidates = self._keys_for(connection, stamp.kid)
        key = next((k for k in candidates if k.public.verifies(stamp)), None)
        return Presented(stamp, None, short, tuple(candidates), key)

    def _judge(
        self,
        connection: Connection,
        presented: Presented,
        now: datetime,
        client: ClientFacts,
        client_hash: bytes | None,
        *,
        count: bool,
    ) -> Verification:
        stamp, short, candidates, key = (
            presented.stamp,
            presented.short,
            presented.candidates,
            presented.key,
        )
        if stamp is None:
            facts = ScanFacts(now=now, format_error=presented.format_error)
            return Verification(
                evaluate(facts, self.policy),
                now,
                format_error=presented.format_error,
                entered_as_short_code=short,
            )

        if key is None:
            facts = ScanFacts(now=now, signature_checked=True, key_known=bool(candidates))
            return Verification(
                evaluate(facts, self.policy),
                now,
                stamp=stamp,
                key=candidates[0] if candidates else None,
                entered_as_short_code=short,
            )

        row, origin, checks = self.store.look_up(
            connection, stamp.serial, now, count=count, recent=self.copy_detection
        )
        if row is None or origin is None:
            facts = ScanFacts(
                now=now,
                signature_checked=True,
                key_known=True,
                signature_valid=True,
                key_compromised_at=key.compromised_at,
                key_is_test=key.is_test,
                key_withdrawn_at=key.withdrawn_at,
            )
            return Verification(
                evaluate(facts, self.policy), now, stamp=stamp, key=key, entered_as_short_code=short
            )

        recent = tuple(
            PastScan(at=at, place=place_of(lat, lon, province_code), client=client_of_scan)
            for at, province_code, lat, lon, client_of_scan in checks
        )
        record = StampRecord(
            # The record must be the stamp presented: same key, same format (a version 2
            # stamp signs its GTIN and lot too, which the signature check covered).
            kid_matches=row["signing_key_id"] == key.db_id
            and origin["stamp_format"] == stamp.version,
            active=row["active"],
            revoked=row["revoked_at"] is not None,
            recalled=origin["recalled_at"] is not None,
            scan_count=row["scan_count"],
            first_scan_at=row["first_scan_at"],
            expiry_date=origin["expiry_date"],
            recent=recent,
            claimed_at=row["claimed_at"],
            claimed_by=row["claimed_by"],
            flagged=row["flagged_at"] is not None or origin["batch_flagged_at"] is not None,
            issued_at=row["issued_at"],
            # Not bumped with scan_count: counted after judging, when this check counts.
            independent_checks=row["independent_checks"],
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
            key_compromised_at=key.compromised_at,
            key_is_test=key.is_test,
            key_withdrawn_at=key.withdrawn_at,
        )
        verdict = evaluate(facts, business_policy(origin, self.policy), self.rules)
        return Verification(
            verdict,
            now,
            stamp=stamp,
            key=key,
            entered_as_short_code=short,
            stamp_id=row["id"],
            scan_count=row["scan_count"],
            first_scan_at=row["first_scan_at"],
            seq=row["seq"],
            active=row["active"],
            revoked_at=row["revoked_at"],
            revoke_reason=row["revoke_reason"],
            claimed_at=row["claimed_at"],
            has_pin=row["has_pin"],
            flag_reason=row["flag_reason"] or origin["batch_flag_reason"],
            # An invalid stamp (its key compromised before it was signed) is not ours: its
            # record's product and producer are not shown as if it were.
            origin=origin if record.kid_matches and verdict.status is not Status.INVALID else {},
            counts_for_copy_rules=self.copy_detection and facts.counts_for_copy_rules(),
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
            if found.stamp_format == FORMAT_V2 and found.gtin is not None:
                code = StampCode(
                    FORMAT_V2, found.kid, serial, found.signature, found.gtin, found.lot
                )
            else:
                code = StampCode(FORMAT_V1, found.kid, serial, found.signature)
            return code, None, True
        return None, error, False

    def _record_scan(
        self,
        connection: Connection,
        result: Verification,
        channel: str,
        client: ClientFacts,
        client_hash: bytes | None,
    ) -> int:
        """Append the check and commit; returns the new scan's id. A forged code is not
        the check of the business its key id names: it is counted apart (forged_daily)."""
        claimed = result.forged_claim
        if claimed is not None:
            business_id = None
        else:
            business_id = result.origin.get("business_id") or (
                result.key.public.business_id if result.key else None
            )
        values = (
            result.stamp_id,
            business_id,
            result.scanned_at,
            result.status.value,
            ",".join(result.verdict.reasons),
            channel,
            result.stamp.kid if result.stamp else None,
            result.stamp.serial if result.stamp else None,
            client.province_code,
            client.lat,
            client.lon,
            client_hash,
            device_family(client.user_agent),
            claimed,
        )
        daily = forged = None
        if business_id is not None or claimed is not None:
            day = result.scanned_at.astimezone(VIETNAM_TZ).date()
            if claimed is not None:
                forged = (claimed, day, client.province_code or "")
            else:
                daily = (business_id, day, result.status.value, client.province_code or "")
        return self.store.append_and_commit(
            connection,
            values,
            daily,
            forged=forged,
            independent_stamp_id=result.stamp_id if result.counts_for_copy_rules else None,
        )


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


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
