"""Verification rules: what a scan of a stamp means.

Each rule is a small named function that looks at the facts of one scan and returns a
:class:`Finding` — a status and a stable reason code — or nothing. The verdict is their
composition: the finding whose status comes first in :data:`STATUS_PRECEDENCE` wins, and
every finding's reason is reported so the page can explain all of them. An empty rule set
is an error, never a pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class Status(StrEnum):
    GENUINE = "genuine"
    SUSPICIOUS = "suspicious"
    REVOKED = "revoked"
    RECALLED = "recalled"
    INACTIVE = "inactive"
    INVALID = "invalid"
    UNREGISTERED = "unregistered"


STATUS_PRECEDENCE: tuple[Status, ...] = (
    Status.INVALID,
    Status.UNREGISTERED,
    Status.REVOKED,
    Status.RECALLED,
    Status.INACTIVE,
    Status.SUSPICIOUS,
    Status.GENUINE,
)
_RANK = {status: rank for rank, status in enumerate(STATUS_PRECEDENCE)}


class Reason(StrEnum):
    """Stable reason codes. Never rename one: clients and translations key on them."""

    MALFORMED_CODE = "malformed_code"
    FOREIGN_URL = "foreign_url"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    NO_RECORD = "no_record"
    KEY_MISMATCH = "key_mismatch"
    STAMP_REVOKED = "stamp_revoked"
    BATCH_RECALLED = "batch_recalled"
    STAMP_INACTIVE = "stamp_inactive"
    SCAN_COUNT_HIGH = "scan_count_high"


@dataclass(frozen=True, slots=True)
class Finding:
    status: Status
    reason: Reason


@dataclass(frozen=True, slots=True)
class StampRecord:
    """What the registry knows about a stamp, read while this scan is recorded."""

    kid_matches: bool
    active: bool
    revoked: bool
    recalled: bool
    scan_count: int  # this stamp's verifications, this one included
    first_scan_at: datetime | None
    expiry_date: date | None = None


@dataclass(frozen=True, slots=True)
class ScanFacts:
    """Everything the rules may look at. Built by the service; no clock read here."""

    now: datetime
    format_error: str | None = None  # a StampFormatError reason
    signature_checked: bool = False
    key_known: bool = False
    signature_valid: bool = False
    record: StampRecord | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    """Thresholds a business may tune. The defaults are what the contract promises."""

    max_scans: int = 20  # more verifications than this look like copies

    def __post_init__(self) -> None:
        if self.max_scans < 9:
            # Contract: never suspicious on the count alone before the 10th verification.
            raise ValueError("max_scans must be at least 9")


Rule = Callable[[ScanFacts, Policy], Finding | None]


def rule_well_formed(facts: ScanFacts, policy: Policy) -> Finding | None:
    if facts.format_error is None:
        return None
    if facts.format_error == "foreign_url":
        return Finding(Status.INVALID, Reason.FOREIGN_URL)
    return Finding(Status.INVALID, Reason.MALFORMED_CODE)


def rule_signed_by_known_key(facts: ScanFacts, policy: Policy) -> Finding | None:
    if facts.format_error is not None:
        return None
    if not facts.key_known:
        return Finding(Status.INVALID, Reason.UNKNOWN_KEY)
    if not facts.signature_valid:
        return Finding(Status.INVALID, Reason.BAD_SIGNATURE)
    return None


def rule_registered(facts: ScanFacts, policy: Policy) -> Finding | None:
    if not facts.signature_valid:
        return None
    if facts.record is None:
        return Finding(Status.UNREGISTERED, Reason.NO_RECORD)
    if not facts.record.kid_matches:
        return Finding(Status.UNREGISTERED, Reason.KEY_MISMATCH)
    return None


def rule_not_revoked(facts: ScanFacts, policy: Policy) -> Finding | None:
    if facts.record is not None and facts.record.revoked:
        return Finding(Status.REVOKED, Reason.STAMP_REVOKED)
    return None


def rule_not_recalled(facts: ScanFacts, policy: Policy) -> Finding | None:
    if facts.record is not None and facts.record.recalled:
        return Finding(Status.RECALLED, Reason.BATCH_RECALLED)
    return None


def rule_active(facts: ScanFacts, policy: Policy) -> Finding | None:
    if facts.record is not None and not facts.record.active:
        return Finding(Status.INACTIVE, Reason.STAMP_INACTIVE)
    return None


def rule_scan_count(facts: ScanFacts, policy: Policy) -> Finding | None:
    if facts.record is not None and facts.record.scan_count > policy.max_scans:
        return Finding(Status.SUSPICIOUS, Reason.SCAN_COUNT_HIGH)
    return None


DEFAULT_RULES: tuple[Rule, ...] = (
    rule_well_formed,
    rule_signed_by_known_key,
    rule_registered,
    rule_not_revoked,
    rule_not_recalled,
    rule_active,
    rule_scan_count,
)


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status
    reasons: tuple[Reason, ...] = field(default=())

    @property
    def signature_valid(self) -> bool:
        return self.status is not Status.INVALID


def evaluate(
    facts: ScanFacts, policy: Policy | None = None, rules: Sequence[Rule] = DEFAULT_RULES
) -> Verdict:
    """Run every rule; the most serious finding decides the status."""
    if not rules:
        raise ValueError("an empty rule set would pass everything")
    policy = policy or Policy()
    findings = [f for rule in rules if (f := rule(facts, policy)) is not None]
    if not findings:
        return Verdict(Status.GENUINE)
    findings.sort(key=lambda f: _RANK[f.status])
    return Verdict(findings[0].status, tuple(dict.fromkeys(f.reason for f in findings)))
