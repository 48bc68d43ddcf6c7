"""Verification rules: what a scan of a stamp means.

Each rule is a small named function that looks at the facts of one scan and returns a
:class:`Finding` — a status and a stable reason code — or nothing. The verdict is their
composition: the finding whose status comes first in :data:`STATUS_PRECEDENCE` wins, and
every finding's reason is reported so the page can explain all of them. An empty rule set
is an error, never a pass.

The copy rules look for independent witnesses, never for one client's own story:

- Two checks make an impossible-travel pair only when their client hashes differ: a
  client's own positions are self-reported and prove nothing about copies, and a client
  whose own positions are impossible is no witness for any pair. A check with no
  client hash (no address known: the CLI, imports) is never half of a pair either, since
  nothing shows it came from someone else.
- A client's repeated checks of one stamp within :data:`REPEAT_WINDOW` of its previous
  check count once for the rules that count checks (the scan count, the checks after a
  claim). A check with no client hash always counts. ``scans.count`` in the API stays
  the number of verifications; the service keeps the stamp's count of checks that counted
  (``stamps.independent_checks``) from :meth:`ScanFacts.counts_for_copy_rules`.
- Distinct clients are distinct client hashes: one client is one, however often it checks.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum

from traceqr.domain.dates import VIETNAM_TZ
from traceqr.domain.places import Place

# A client's checks of one stamp this close to its previous one are one look, not another.
REPEAT_WINDOW = timedelta(minutes=10)


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
    KEY_COMPROMISED = "key_compromised"  # signed by a key at or after its compromise
    NO_RECORD = "no_record"
    KEY_MISMATCH = "key_mismatch"
    STAMP_REVOKED = "stamp_revoked"
    BATCH_RECALLED = "batch_recalled"
    STAMP_INACTIVE = "stamp_inactive"
    SCAN_COUNT_HIGH = "scan_count_high"
    IMPOSSIBLE_TRAVEL = "impossible_travel"
    MANY_CLIENTS = "many_clients"
    SCANNED_AFTER_CLAIM = "scanned_after_claim"
    FLAGGED = "flagged_by_inspector"
    EXPIRED = "expired"  # a warning: the status stays what the other rules say
    TEST_STAMP = "test_stamp"  # signed by a test key: never a genuine product's stamp
    # Signed at or after the time its producer's verification was withdrawn (fraud found).
    VERIFICATION_WITHDRAWN = "verification_withdrawn"
    # A warning: signed before the withdrawal, so still the stamp it was, but its producer
    # is no longer vouched for.
    PRODUCER_WITHDRAWN = "producer_withdrawn"


@dataclass(frozen=True, slots=True)
class Finding:
    status: Status
    reason: Reason


@dataclass(frozen=True, slots=True)
class PastScan:
    """An earlier check of the same stamp, as coarse as it was recorded."""

    at: datetime
    place: Place | None = None
    client: bytes | None = None  # keyed hash of the client address


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
    recent: tuple[PastScan, ...] = ()  # the latest earlier checks, newest first
    claimed_at: datetime | None = None
    claimed_by: bytes | None = None
    flagged: bool = False
    issued_at: datetime | None = None  # when it was signed (an upper bound for old stamps)
    # Earlier checks that counted for the copy rules (a client's repeats within
    # REPEAT_WINDOW counted once), this one excluded; None: not known, scan_count is used.
    independent_checks: int | None = None


@dataclass(frozen=True, slots=True)
class ScanFacts:
    """Everything the rules may look at. Built by the service; no clock read here."""

    now: datetime
    format_error: str | None = None  # a StampFormatError reason
    signature_checked: bool = False
    key_known: bool = False
    signature_valid: bool = False
    record: StampRecord | None = None
    place: Place | None = None  # where this check happened, when the shopper said
    client: bytes | None = None
    is_check: bool = True  # False: a look at the record that is not itself a check
    key_compromised_at: datetime | None = None  # the signing key's declared compromise
    key_is_test: bool = False  # the signing key signs test stamps only
    key_withdrawn_at: datetime | None = None  # its producer's verification withdrawn then

    def timeline(self) -> list[PastScan]:
        """This check (if it is one) and the earlier ones, newest first."""
        earlier = list(self.record.recent) if self.record else []
        if not self.is_check:
            return earlier
        return [PastScan(self.now, self.place, self.client), *earlier]

    def counts_for_copy_rules(self) -> bool:
        """Whether this check is a new one for the copy rules: not a look at the record, and
        not its client's repeat within REPEAT_WINDOW of that client's previous check."""
        if not self.is_check:
            return False
        if self.client is None or self.record is None:
            return True
        return not any(
            scan.client == self.client and self.now - scan.at < REPEAT_WINDOW
            for scan in self.record.recent
        )

    def copy_check_count(self) -> int:
        """The stamp's checks as the scan-count rule counts them, this one included."""
        record = self.record
        if record is None:
            return 0
        if record.independent_checks is None:
            return record.scan_count
        return record.independent_checks + (1 if self.counts_for_copy_rules() else 0)


def independent(checks: Sequence[PastScan], window: timedelta = REPEAT_WINDOW) -> list[PastScan]:
    """The checks (newest first) that count for the copy rules: a check whose client also
    checked within ``window`` before it is a repeat and is left out; a check with no
    client hash always counts."""
    last_seen: dict[bytes, datetime] = {}
    kept: list[PastScan] = []
    for scan in reversed(checks):
        if scan.client is None:
            kept.append(scan)
            continue
        previous = last_seen.get(scan.client)
        if previous is None or scan.at - previous >= window:
            kept.append(scan)
        last_seen[scan.client] = scan.at
    kept.reverse()
    return kept


@dataclass(frozen=True, slots=True)
class Policy:
    """Thresholds a business may tune. The defaults are what the contract promises."""

    max_scans: int = 20  # more verifications than this look like copies
    max_speed_kmh: int = 300  # faster than this between two checks: two stamps, not one
    min_distance_km: int = 100  # nearer than this never counts (province centres are coarse)
    max_clients: int = 10  # more distinct clients than this among the recent checks
    after_claim_allowance: int = 2  # checks by others allowed after the first buyer's claim

    def __post_init__(self) -> None:
        if self.max_scans < 9:
            # Contract: never suspicious on the count alone before the 10th verification.
            raise ValueError("max_scans must be at least 9")
        if self.max_speed_kmh < 50 or self.max_clients < 2 or self.after_claim_allowance < 0:
            raise ValueError("copy-detection thresholds out of range")


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


def rule_key_not_compromised(facts: ScanFacts, policy: Policy) -> Finding | None:
    """A key declared compromised at T vouches only for stamps the registry shows it
    signed before T. Stamps signed at or after T, stamps of unknown issue time, and
    signatures with no record at all are not ours: whoever holds the key made them."""
    compromised_at = facts.key_compromised_at
    if compromised_at is None or not facts.signature_valid:
        return None
    if not _recorded_before(facts, compromised_at):
        return Finding(Status.INVALID, Reason.KEY_COMPROMISED)
    return None


def _recorded_before(facts: ScanFacts, since: datetime) -> bool:
    """Whether the registry shows this very stamp signed before ``since``. Fail-closed:
    no record, another key's record or an unknown issue time say no."""
    record = facts.record
    return (
        record is not None
        and record.kid_matches
        and record.issued_at is not None
        and record.issued_at < since
    )


def rule_producer_still_verified(facts: ScanFacts, policy: Policy) -> Finding | None:
    """A producer whose verification was withdrawn at T (fraud found later) is vouched
    for only on stamps the registry shows signed before T, like a key compromised at T;
    those earlier stamps carry a warning. Later stamps, stamps of unknown issue time and
    signatures with no record are not vouched for."""
    withdrawn_at = facts.key_withdrawn_at
    if withdrawn_at is None or not facts.signature_valid:
        return None
    if not _recorded_before(facts, withdrawn_at):
        return Finding(Status.INVALID, Reason.VERIFICATION_WITHDRAWN)
    return Finding(Status.GENUINE, Reason.PRODUCER_WITHDRAWN)


def rule_live_stamp(facts: ScanFacts, policy: Policy) -> Finding | None:
    """A test key's stamps (an unverified business's) are never a product's: they are
    reported like a stamp not activated for sale, with their own reason."""
    if facts.key_is_test and facts.signature_valid:
        return Finding(Status.INACTIVE, Reason.TEST_STAMP)
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
    """Checked far too often: a client's repeats within REPEAT_WINDOW count once."""
    if facts.record is not None and facts.copy_check_count() > policy.max_scans:
        return Finding(Status.SUSPICIOUS, Reason.SCAN_COUNT_HIGH)
    return None


def rule_plausible_travel(facts: ScanFacts, policy: Policy) -> Finding | None:
    """Two checks by different clients too far apart for the time between them: one
    stamp, two places. Each located check is paired with the nearest earlier located check
    of another client; a client's own positions never make a pair, and a client whose own
    positions contradict each other is no witness at all."""
    if facts.record is None:
        return None
    located = [
        scan for scan in facts.timeline() if scan.place is not None and scan.client is not None
    ]
    by_client: dict[bytes | None, list[PastScan]] = {}
    for scan in located:
        by_client.setdefault(scan.client, []).append(scan)
    unreliable = {
        client
        for client, own in by_client.items()
        if any(_too_fast(newer, older, policy) for newer, older in itertools.pairwise(own))
    }
    witnesses = [scan for scan in located if scan.client not in unreliable]
    for i, newer in enumerate(witnesses):
        older = next((s for s in witnesses[i + 1 :] if s.client != newer.client), None)
        if older is not None and _too_fast(newer, older, policy):
            return Finding(Status.SUSPICIOUS, Reason.IMPOSSIBLE_TRAVEL)
    return None


def _too_fast(newer: PastScan, older: PastScan, policy: Policy) -> bool:
    distance = newer.place.km_to(older.place)  # type: ignore[union-attr]
    if distance < policy.min_distance_km:
        return False
    hours = max((newer.at - older.at) / timedelta(hours=1), 1 / 60)
    return distance / hours > policy.max_speed_kmh


def rule_few_clients(facts: ScanFacts, policy: Policy) -> Finding | None:
    """A product in one buyer's hands is checked from few devices and networks: distinct
    client hashes, so one client is one however often it checks."""
    if facts.record is None:
        return None
    clients = {scan.client for scan in facts.timeline() if scan.client is not None}
    if len(clients) > policy.max_clients:
        return Finding(Status.SUSPICIOUS, Reason.MANY_CLIENTS)
    return None


def rule_not_claimed_elsewhere(facts: ScanFacts, policy: Policy) -> Finding | None:
    """After the first buyer claimed the stamp with its PIN, others keep checking it (a
    client's repeats within REPEAT_WINDOW count once)."""
    record = facts.record
    if record is None or record.claimed_at is None:
        return None
    others = [
        scan
        for scan in independent(facts.timeline())
        if scan.at > record.claimed_at and (scan.client is None or scan.client != record.claimed_by)
    ]
    if len(others) > policy.after_claim_allowance:
        return Finding(Status.SUSPICIOUS, Reason.SCANNED_AFTER_CLAIM)
    return None


def rule_not_flagged(facts: ScanFacts, policy: Policy) -> Finding | None:
    if facts.record is not None and facts.record.flagged:
        return Finding(Status.SUSPICIOUS, Reason.FLAGGED)
    return None


def rule_not_expired(facts: ScanFacts, policy: Policy) -> Finding | None:
    """Past its expiry date: a warning for the shopper, not a sign of copying."""
    record = facts.record
    if record is None or record.expiry_date is None:
        return None
    if record.expiry_date < facts.now.astimezone(VIETNAM_TZ).date():
        return Finding(Status.GENUINE, Reason.EXPIRED)
    return None


# What the signature and the registry say: the rules that name a stamp ours or not.
RECORD_RULES: tuple[Rule, ...] = (
    rule_well_formed,
    rule_signed_by_known_key,
    rule_key_not_compromised,
    rule_producer_still_verified,
    rule_live_stamp,
    rule_registered,
    rule_not_revoked,
    rule_not_recalled,
    rule_active,
    rule_not_expired,
)
# How the stamp has been checked: the rules that catch copies of genuine stamps.
COPY_RULES: tuple[Rule, ...] = (
    rule_scan_count,
    rule_plausible_travel,
    rule_few_clients,
    rule_not_claimed_elsewhere,
    rule_not_flagged,
)
DEFAULT_RULES: tuple[Rule, ...] = RECORD_RULES + COPY_RULES


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status
    reasons: tuple[Reason, ...] = field(default=())

    @property
    def signature_valid(self) -> bool:
        """False for ``invalid``, a compromised key's stamps included: the signature is
        not one the service vouches for."""
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
