"""The first buyer claims a stamp with its scratch-off PIN, once.

Guessing is limited twice: per client by the web layer's rate limit, and per stamp here —
after ``MAX_FAILURES`` wrong PINs the stamp refuses every PIN for ``LOCK_TIME``, whoever
types it, so spreading guesses over many clients does not help either.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from traceqr.domain.pins import PinScheme
from traceqr.models import Stamp

MAX_FAILURES = 5
LOCK_TIME = timedelta(hours=1)


class ClaimOutcome(StrEnum):
    CLAIMED = "claimed"
    ALREADY_CLAIMED = "already_claimed"
    WRONG_PIN = "wrong_pin"
    LOCKED = "locked"
    NO_PIN = "no_pin"
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class ClaimResult:
    outcome: ClaimOutcome
    claimed_at: datetime | None = None
    attempts_left: int | None = None
    locked_until: datetime | None = None


def claim(
    session: Session,
    pins: PinScheme,
    serial: bytes,
    typed_pin: str,
    client_hash: bytes | None,
    now: datetime,
) -> ClaimResult:
    """Check the PIN and record the claim. Flushes; the caller commits (also on failure:
    a wrong PIN must count)."""
    stamp = session.scalar(select(Stamp).where(Stamp.serial == serial).with_for_update())
    if stamp is None:
        return ClaimResult(ClaimOutcome.NOT_FOUND)
    if stamp.pin_hash is None:
        return ClaimResult(ClaimOutcome.NO_PIN)
    if stamp.claimed_at is not None:
        return ClaimResult(ClaimOutcome.ALREADY_CLAIMED, claimed_at=stamp.claimed_at)
    if stamp.pin_locked_until is not None and stamp.pin_locked_until > now:
        return ClaimResult(ClaimOutcome.LOCKED, locked_until=stamp.pin_locked_until)
    failures = 0 if stamp.pin_locked_until is not None else stamp.pin_failures
    if pins.matches(serial, typed_pin, stamp.pin_hash):
        stamp.claimed_at, stamp.claimed_by = now, client_hash
        stamp.pin_failures, stamp.pin_locked_until = 0, None
        session.flush()
        return ClaimResult(ClaimOutcome.CLAIMED, claimed_at=now)
    failures += 1
    locked_until = now + LOCK_TIME if failures >= MAX_FAILURES else None
    session.execute(
        update(Stamp)
        .where(Stamp.id == stamp.id)
        .values(pin_failures=0 if locked_until else failures, pin_locked_until=locked_until)
        .execution_options(synchronize_session=False)
    )
    if locked_until is not None:
        return ClaimResult(ClaimOutcome.LOCKED, locked_until=locked_until)
    return ClaimResult(ClaimOutcome.WRONG_PIN, attempts_left=MAX_FAILURES - failures)
