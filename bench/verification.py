"""Verification in process: what one check costs, and what copy detection adds to it.

Checks N stamp URLs through the verification service (parse, Ed25519, one UPDATE …
RETURNING, one batch read, the recent-scans read, one INSERT, commit) with copy detection
on and off, on SQLite and PostgreSQL, against the floor of N bare Ed25519 verifications.
Issue 4's target: copy detection costs at most 10 % of the verification rate.

    python -m bench.verification [--checks 3000] [--db sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import random
from datetime import UTC, datetime, timedelta

from bench.common import report, service, timer
from traceqr.domain.keys import verify_signature
from traceqr.domain.stamp_format import parse_scanned_text
from traceqr.models import Batch
from traceqr.services.issuance import issue_stamps
from traceqr.services.stamps import iter_batch_stamps
from traceqr.services.verification import ClientFacts, VerificationService

PROVINCES = ("ha-noi", "bac-ninh", "hung-yen", None)


def run(kind: str, checks: int) -> list[tuple[str, float, str]]:
    with service(kind) as svc:
        state = svc.state
        now = datetime.now(UTC)
        with state.database.session() as session:
            batch = session.get(Batch, svc.batch_id)
            issue_stamps(session, state.keystore, batch, 500, now=now)
        with state.database.session() as session:
            batch = session.get(Batch, svc.batch_id)
            urls = [s.url for s in iter_batch_stamps(session, batch, state.settings.public_url)]
        rng = random.Random(7)
        plan = [
            (
                rng.choice(urls),
                ClientFacts(
                    f"10.0.{rng.randint(0, 40)}.{rng.randint(1, 250)}",
                    "Mozilla/5.0 (Android)",
                    rng.choice(PROVINCES),
                ),
            )
            for _ in range(checks)
        ]
        # The floor: signature checks alone, the same stamps.
        stamps = [parse_scanned_text(url, state.settings.public_url) for url, _ in plan]
        with state.database.session() as session:
            from sqlalchemy import select

            from traceqr.models import SigningKey

            key = {
                kid: pk
                for kid, pk in session.execute(select(SigningKey.kid, SigningKey.public_key))
            }
        with timer() as floor:
            for stamp in stamps:
                verify_signature(key[stamp.kid], stamp.signed_message, stamp.signature)
        rows = [(f"floor: {checks:,} Ed25519 verifications", floor[0], "s")]
        rates = {}
        for label, detection in (("copy detection off", False), ("copy detection on", True)):
            verifier = VerificationService(
                state.database,
                state.settings.public_url,
                b"bench-salt" * 4,
                copy_detection=detection,
            )
            # Warm up: key cache, statement cache.
            for url, client in plan[:50]:
                verifier.verify(url, now=now, channel="api", client=client)
            with timer() as took:
                for n, (url, client) in enumerate(plan):
                    verifier.verify(
                        url, now=now + timedelta(seconds=n), channel="api", client=client
                    )
            rates[label] = checks / took[0]
            rows.append((f"{label}: checks per second", rates[label], "/s"))
            rows.append((f"  µs per check ({label})", took[0] / checks * 1e6, "µs"))
        rows.append(
            (
                "copy detection cost (target <= 10 %)",
                100 * (1 - rates["copy detection on"] / rates["copy detection off"]),
                "%",
            )
        )
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checks", type=int, default=3000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    for kind in ["sqlite", "postgresql"] if args.db == "both" else [args.db]:
        report(f"Verification in process, {kind}, {args.checks:,} checks", run(kind, args.checks))


if __name__ == "__main__":
    main()
