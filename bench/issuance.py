"""Issuance: N stamps through the API and the service, against the floor of signing N
messages with Ed25519 in one process (OpenSSL through `cryptography`, the library a plain
implementation would use).

    python bench/issuance.py [--count 100000] [--db sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import os

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.common import report, service, timer
from traceqr import create_app


def signing_floor(count: int) -> float:
    key = Ed25519PrivateKey.generate()
    messages = [os.urandom(31) for _ in range(count)]
    with timer() as elapsed:
        for message in messages:
            key.sign(message)
    return elapsed[0]


def api_issuance(kind: str, count: int) -> float:
    with service(kind) as svc:
        app = create_app(
            {
                "instance_path": svc.state.settings.instance_path,
                "database_url": svc.state.database.url,
                "rate_limits_enabled": False,
            }
        )
        client = app.test_client()
        with timer() as elapsed:
            response = client.post(
                f"/api/v1/batches/{svc.batch_id}/stamps",
                json={"count": count},
                headers={"Authorization": f"Bearer {svc.api_key}"},
            )
        assert response.status_code == 201, response.get_json()
        return elapsed[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    floor = signing_floor(args.count)
    rows = [(f"floor: sign {args.count:,} messages", floor, "s")]
    for kind in kinds:
        took = api_issuance(kind, args.count)
        rows.append((f"POST /batches/{{id}}/stamps, {kind}", took, "s"))
        rows.append((f"  ratio to floor ({kind}; target <= 1.5)", took / floor, "x"))
    report(f"Issuance of {args.count:,} stamps", rows)


if __name__ == "__main__":
    main()
