"""``traceqr keys …`` for the key lifecycle and ``traceqr audit …`` (docs/keys.md,
docs/audit.md), and the root-key checks ``traceqr verify --keys`` makes."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from traceqr.cli import fail, keys, main, note, open_state
from traceqr.domain.keys import KeyFormatError, KeyRing, PublicKey
from traceqr.errors import TraceQRError

# --- offline key sets: accepted only through the root ------------------------------------------


@dataclass
class OfflineKeys:
    ring: KeyRing
    rejected: dict[str, str] = field(default_factory=dict)  # kid -> why it was left out
    notes: list[str] = field(default_factory=list)


def offline_keys(document: Any, root: str | None, insecure_no_root: bool) -> OfflineKeys:
    """The business keys of a JWKS that a root vouches for. ``root`` is a root key file
    (/.well-known/traceqr-root.json) or the root's thumbprint or kid; without it the root
    the file carries is used, which proves only that the file is consistent, and a file
    that carries none is taken as given (with a warning), as the stamp contract's plain
    JWKS must keep verifying.
    Raises KeyFormatError for a file or root that cannot be used (a usage error)."""
    from traceqr.domain.key_certs import (
        certified_ring,
        embedded_root,
        parse_roots,
        root_matches_pin,
        thumbprint,
    )

    if insecure_no_root:
        return OfflineKeys(
            KeyRing.from_jwks(document),
            notes=["WARNING: --insecure-no-root: the keys were taken as given, unchecked."],
        )
    carried = embedded_root(document)
    if root is None and not carried:
        # A plain JWKS (the contract's format, or one written before roots existed): with
        # nothing pinned, a carried root would prove no more than this, so take the keys.
        return OfflineKeys(
            KeyRing.from_jwks(document),
            notes=[
                "WARNING: the key file carries no root key: the keys were taken as given, "
                "unchecked. Pass --root (the operator's /.well-known/traceqr-root.json or "
                "its thumbprint) to check them."
            ],
        )
    if root is None:
        roots = carried
        pin = thumbprint(roots[0].key)
        notes = [
            f"Root not pinned: trusting the root the key file carries ({pin}). "
            "Pass --root to pin the operator's root."
        ]
    elif Path(root).is_file():
        try:
            roots = parse_roots(json.loads(Path(root).read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise KeyFormatError(f"cannot read the root key file {root}: {exc}") from exc
        notes = []
    else:
        roots = [key for key in carried if root_matches_pin(key, root)]
        if not roots:
            raise KeyFormatError(
                f"no root key in the key file matches {root!r}: the key set comes from "
                "another operator, or was forged"
            )
        notes = []
    result = certified_ring(document, roots)
    rejected = dict(result.rejected)
    for kid, why in result.rejected:
        notes.append(f"Left out key {kid}: {why}")
    return OfflineKeys(result.ring, rejected, notes)


def registered_issue_time(serial: bytes) -> datetime | None:
    """When the instance's registry says the stamp with ``serial`` was issued, or None."""
    from sqlalchemy import select

    from traceqr.models import Stamp

    with open_state() as state, state.database.session() as session:
        return session.scalar(select(Stamp.issued_at).where(Stamp.serial == serial))


# --- keys ----------------------------------------------------------------------------------------


@keys.command("compromise")
@click.option("--kid", required=True, help="The compromised key's id (8 hex digits)")
@click.option(
    "--at",
    "at_text",
    required=True,
    help="From when its signatures are not trusted: ISO 8601 with offset, e.g. "
    "2026-11-20T08:00+07:00",
)
@click.option("--reason", required=True, help="Why (kept in the audit log and certificate)")
def keys_compromise(kid: str, at_text: str, reason: str) -> None:
    """Declare a business key compromised from a time on: its stamps issued from then on,
    and any signature of it with no record, verify as invalid (key_compromised); earlier
    stamps stay genuine. An active key is replaced at once."""
    from traceqr.services.key_lifecycle import compromise_key
    from traceqr.state import utcnow

    try:
        at = datetime.fromisoformat(at_text.strip().replace("Z", "+00:00"))
    except ValueError:
        fail(f"--at {at_text!r} is not an ISO 8601 time such as 2026-11-20T08:00+07:00", 2)
    if at.tzinfo is None:
        fail("--at needs its offset (e.g. +07:00 or Z): a bare time is ambiguous", 2)
    try:
        with open_state() as state, state.database.session() as session:
            done = compromise_key(session, state.keystore, kid, at=at, reason=reason, now=utcnow())
            kid_hex = done.key.kid.hex()
            business_id = done.key.business_id
            new_kid = done.replacement.kid.hex() if done.replacement else None
    except TraceQRError as exc:
        fail(exc.message)
    note(
        f"Key {kid_hex} of business {business_id} is compromised from {at.isoformat()}: "
        "its stamps issued from then on verify as invalid (key_compromised)."
    )
    if new_kid:
        note(f"Business {business_id} signs with its new key {new_kid} from now on.")
    note("Web processes apply it within 30 seconds; publish the new key set to offline verifiers.")
    click.echo(kid_hex)


@keys.command("certify")
@click.option(
    "--all", "everything", is_flag=True, help="Certify every key again, not only new ones"
)
def keys_certify(everything: bool) -> None:
    """Issue root certificates for business keys that have none (or for all, with --all)."""
    from traceqr.services.key_lifecycle import certify_all
    from traceqr.state import utcnow

    with open_state() as state, state.database.session() as session:
        count = certify_all(session, state.keystore, utcnow(), only_missing=not everything)
    note(f"Certified {count} key(s).")


@keys.command("root")
@click.option("--json", "as_json", is_flag=True, help="Print the root key set (JWKS)")
def keys_root(as_json: bool) -> None:
    """Show the operator's root key: its thumbprint is what verifiers pin."""
    from traceqr.domain.key_certs import thumbprint
    from traceqr.services.key_lifecycle import root_document, root_key
    from traceqr.state import utcnow

    with open_state() as state, state.database.session() as session:
        key = root_key(session, state.keystore, utcnow())
        document, pin, kid = root_document(session), thumbprint(key.public_key), key.kid.hex()
    if as_json:
        click.echo(json.dumps(document, indent=2))
    else:
        note(f"Root key {kid}. Verifiers pin its thumbprint:")
        click.echo(pin)


@keys.command("rotate-master")
@click.option(
    "--retire-old",
    is_flag=True,
    help="After re-encrypting, drop the old master keys from instance/master.key",
)
def keys_rotate_master(retire_old: bool) -> None:
    """Re-encrypt every private key under a new master key with no downtime.

    With instance/master.key: a new key is put first in the file (the old ones stay, to
    decrypt), every key file is re-encrypted, and running processes pick the file up by
    themselves. With TRACEQR_MASTER_KEYS: put the new key first there yourself (keeping the
    old one after it), restart, then run this to re-encrypt (see docs/keys.md).
    """
    from traceqr.config import load_settings
    from traceqr.keystore import (
        KeyStore,
        load_master_keys,
        master_key_path,
        new_master_key,
        write_master_key_file,
    )

    try:
        settings = load_settings()
        from_file = not settings.master_keys
        old = load_master_keys(settings)
        if from_file:
            keys_now = [new_master_key(), *old]
            write_master_key_file(master_key_path(settings), keys_now)
            note(f"New master key written first in {master_key_path(settings)}.")
        else:
            keys_now = old
            if retire_old:
                fail(
                    "--retire-old works on instance/master.key; edit TRACEQR_MASTER_KEYS instead", 2
                )
        store = KeyStore(settings.keystore_path, keys_now)
        count = store.reencrypt_all() if settings.keystore_path.exists() else 0
        left = store.files_not_under(keys_now[0]) if settings.keystore_path.exists() else []
    except TraceQRError as exc:
        fail(exc.message)
    note(f"Re-encrypted {count} key file(s) under the first master key.")
    if left:
        fail(
            f"{len(left)} key file(s) are still not under the new master key "
            f"({', '.join(left[:5])}): run the command again before dropping the old key"
        )
    if from_file and retire_old:
        write_master_key_file(master_key_path(settings), keys_now[:1])
        note("Old master keys removed from the file: back up the new one with the key store.")
    elif from_file:
        note("The old master keys stay in the file (decrypt only); --retire-old drops them.")


# --- audit ---------------------------------------------------------------------------------------


@main.group()
def audit() -> None:
    """The hash-chained audit log: verify it, export it, sign its head."""


def _read_entries(path: str) -> list[Any]:
    from traceqr.domain.audit import AuditFormatError, Entry

    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {path}: {exc}", 2)
    entries = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entries.append(Entry.from_json(json.loads(line)))
        except (ValueError, AuditFormatError) as exc:
            click.echo(f"BROKEN: line {number} of {path} is not an audit entry ({exc})")
            sys.exit(1)
    return entries


def _load_roots(root: str | None) -> list[PublicKey] | None:
    from traceqr.domain.key_certs import parse_roots

    if root is None:
        return None
    try:
        return parse_roots(json.loads(Path(root).read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        fail(f"cannot use the root key file {root}: {exc}", 2)


@audit.command("verify")
@click.option(
    "--file", "export_file", default=None, help="An export (JSON Lines); else the database"
)
@click.option(
    "--head", "head_file", default=None, help="A signed head (/.well-known/audit-head.json)"
)
@click.option("--root", default=None, help="The root key file that signed the head")
@click.option("--json", "as_json", is_flag=True)
def audit_verify(
    export_file: str | None, head_file: str | None, root: str | None, as_json: bool
) -> None:
    """Check the chain: every entry in order, unchanged, none removed; with --head, that it
    reaches the signed head. Exit 0 intact, 1 broken (naming the first broken seq), 2 usage."""
    from traceqr.domain.audit import HEAD_KIND, AuditFormatError, verify_chain
    from traceqr.domain.documents import DocumentError, verify_document

    roots = _load_roots(root)
    head = None
    if head_file is not None:
        try:
            head = json.loads(Path(head_file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            fail(f"cannot read the head {head_file}: {exc}", 2)
        if not isinstance(head, dict):
            fail(f"{head_file} is not a signed head", 2)
    if export_file is not None:
        entries: Any = _read_entries(export_file)
        if head is not None and roots is None:
            fail("give --root (the operator's root key file) to check the head's signature", 2)
        report = verify_chain(entries, head) if head is not None else verify_chain(entries)
    else:
        from traceqr.services import audit as audit_service
        from traceqr.services.key_lifecycle import root_document

        with open_state() as state, state.database.session() as session:
            if head is not None and roots is None:
                from traceqr.domain.key_certs import parse_roots

                roots = parse_roots(root_document(session))
            try:
                report = verify_chain(audit_service.iter_entries(session), head)
            except AuditFormatError as exc:
                fail(str(exc), 2)
    if head is not None:
        assert roots is not None
        signature = head.get("signature")
        if not isinstance(signature, dict) or signature.get("kind") != HEAD_KIND:
            click.echo("BROKEN: the head is not a signed audit head")
            sys.exit(1)
        try:
            verify_document(head, KeyRing(roots))
        except DocumentError as exc:
            click.echo(f"BROKEN: the head's signature does not hold: {exc}")
            sys.exit(1)
    answer = {
        "ok": report.ok,
        "entries": report.count,
        "last_seq": report.last_seq,
        "last_hash": report.last_hash,
        "broken_seq": report.broken_seq,
        "problem": report.problem,
    }
    if as_json:
        click.echo(json.dumps(answer))
    elif report.ok:
        click.echo(f"OK: {report.count} entries, chain intact up to seq {report.last_seq}")
        click.echo(f"head hash {report.last_hash}")
    else:
        click.echo(f"BROKEN at seq {report.broken_seq}: {report.problem}")
    sys.exit(0 if report.ok else 1)


@audit.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="-")
@click.option("--after", type=int, default=0, help="Only entries after this seq")
def audit_export(output: str, after: int) -> None:
    """Write the log as JSON Lines (one entry per line, in order)."""
    from traceqr.services import audit as audit_service

    with open_state() as state, state.database.session() as session:
        if output == "-":
            for line in audit_service.export_lines(session, after):
                click.echo(line, nl=False)
            return
        target = Path(output)
        partial = target.with_name(target.name + ".part")
        count = 0
        with partial.open("w", encoding="utf-8") as out:
            for line in audit_service.export_lines(session, after):
                out.write(line)
                count += 1
        partial.replace(target)
    note(f"Wrote {count} entries to {output}")


@audit.command("head")
def audit_head() -> None:
    """Print the signed head (what /.well-known/audit-head.json serves)."""
    from traceqr.services import audit as audit_service
    from traceqr.state import utcnow

    with open_state() as state, state.database.session() as session:
        head = audit_service.signed_head(session, state.keystore, utcnow())
    click.echo(json.dumps(head, indent=2))
