"""The ``traceqr`` command. Results go to stdout, messages to stderr.

Commands that need the database build the service state themselves; ``traceqr verify
--keys FILE`` needs nothing but the key file.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

from traceqr.errors import TraceQRError


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def note(message: str) -> None:
    click.echo(message, err=True)


@contextmanager
def open_state(*, migrate_if_empty: bool = True) -> Iterator[Any]:
    """Settings, database, key store — the service without the web; closed afterwards."""
    from traceqr.config import load_settings
    from traceqr.db import upgrade_schema
    from traceqr.services.audit import acting_as
    from traceqr.state import AppState

    try:
        state = AppState.create(load_settings())
    except TraceQRError as exc:
        fail(exc.message, 2)
    try:
        if migrate_if_empty and not state.database.is_migrated():
            note("The database has no schema yet: creating it (traceqr init).")
            upgrade_schema(state.database)
        with acting_as("operator", _os_user()):  # the audit log's "who" for CLI changes
            yield state
    finally:
        state.database.dispose()


def _os_user() -> str | None:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="traceqr")
def main() -> None:
    """TraceQR: signed QR stamps for product origin and anti-counterfeiting."""


@main.command()
def init() -> None:
    """Create or upgrade the database schema and create any missing keys. Idempotent."""
    from traceqr.db import upgrade_schema
    from traceqr.services.businesses import ensure_signing_keys
    from traceqr.services.key_lifecycle import certify_all, root_key
    from traceqr.services.service_keys import ensure_service_key
    from traceqr.state import utcnow

    with open_state(migrate_if_empty=False) as state:
        upgrade_schema(state.database)
        with state.database.session() as session:
            root_key(session, state.keystore, utcnow())
            certify_all(session, state.keystore, utcnow())  # keys made before 0008
            created = ensure_signing_keys(session, state.keystore, utcnow())
            ensure_service_key(session, state.keystore, utcnow())
        note(f"Schema is up to date in {state.settings.database_url.split('@')[-1]}.")
        note(f"Instance folder: {state.settings.instance_path}")
    if created:
        note(f"Created {created} missing signing key(s).")


# --- businesses ------------------------------------------------------------------------------


@main.group()
def business() -> None:
    """Manage businesses."""


@business.command("create")
@click.option("--name", required=True, help="Trading name shown to shoppers")
@click.option("--email", required=True, help="The owner's e-mail (their sign-in)")
@click.option("--password", default=None, help="The owner's password (10+ characters)")
@click.option("--tax-code", "tax_code", default=None, help="Mã số thuế (10 or 13 digits)")
@click.option("--legal-name", "legal_name", default=None, help="Legal name, as registered")
@click.option(
    "--gs1-prefix",
    "gs1_prefixes",
    multiple=True,
    help="A GS1 company prefix of the business (repeatable): its GTINs fall under them",
)
@click.option("--province", "province_code", default=None, help="Province code, e.g. ha-noi")
@click.option("--address", "address_street", default=None, help="Street address")
@click.option("--commune", "address_commune", default=None, help="Xã/phường")
@click.option("--cluster", "cluster_name", default=None, help="Industrial park or cluster")
@click.option(
    "--by", "body", default=None, help="The body vouching for it (default: Nhà vận hành TraceQR)"
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout")
def business_create(
    name: str,
    email: str,
    password: str | None,
    gs1_prefixes: tuple[str, ...],
    body: str | None,
    as_json: bool,
    **profile: str | None,
) -> None:
    """Create a business the operator vouches for: verified (it issues live stamps), with
    its owner account, its signing key and an API key. Refused when the tax code already
    belongs to a verified business."""
    from traceqr.services.businesses import create_business
    from traceqr.services.identity import Reviewer
    from traceqr.state import utcnow

    try:
        with open_state() as state, state.database.session() as session:
            created = create_business(
                session,
                state.keystore,
                name=name,
                email=email,
                password=password,
                now=utcnow(),
                profile={k: v for k, v in profile.items() if v is not None},
                vouched_by=Reviewer.operator(_os_user(), body),
                gs1_prefixes=gs1_prefixes,
            )
            session.commit()
            result = {
                "id": created.business.id,
                "name": created.business.name,
                "email": created.owner.email,
                "kid": created.signing_key.kid.hex(),
                "api_key": created.api_key,
                "verification_status": created.business.verification_status,
                "tax_code": created.business.tax_code,
            }
    except TraceQRError as exc:
        fail(exc.message)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
    else:
        note(f"Created business {result['id']}: {result['name']} (verified)")
        note("API key (shown once, keep it safe):")
        click.echo(result["api_key"])


@business.command("verify")
@click.argument("business_id", type=int)
@click.option(
    "--by", "body", default=None, help="The body vouching for it (default: Nhà vận hành TraceQR)"
)
@click.option(
    "--gs1-prefix", "gs1_prefixes", multiple=True, help="A GS1 company prefix (repeatable)"
)
def business_verify(business_id: int, body: str | None, gs1_prefixes: tuple[str, ...]) -> None:
    """Verify a business: approve its pending request, or (with none) vouch for it as its
    profile stands. It issues live stamps from then on."""
    from traceqr.services import identity
    from traceqr.state import utcnow

    reviewer = identity.Reviewer.operator(_os_user(), body)
    try:
        with open_state() as state, state.database.session() as session:
            now = utcnow()
            with identity.flagging_conflicts(session, now):
                request = identity.latest_request(session, business_id)
                if request is not None and request.status == identity.PENDING:
                    if gs1_prefixes:
                        fail("--gs1-prefix: the pending request states the prefixes", 2)
                    done = identity.approve(session, state.keystore, request.id, reviewer, now)
                    how = f"approved its request {request.id}"
                else:
                    done = identity.vouch_for(
                        session,
                        state.keystore,
                        business_id,
                        reviewer,
                        now,
                        gs1_prefixes=gs1_prefixes,
                    )
                    how = "vouched for its profile"
                session.commit()
                summary = f"{done.id}: {done.legal_name or done.name}, MST {done.tax_code or '-'}"
    except TraceQRError as exc:
        fail(exc.message)
    note(f"Verified business {summary} ({how}); it issues live stamps from now on.")


@business.command("reject")
@click.argument("business_id", type=int)
@click.option("--reason", required=True, help="Why: the business sees it")
def business_reject(business_id: int, reason: str) -> None:
    """Reject a business's pending verification request, with a reason it sees."""
    from traceqr.services import identity
    from traceqr.state import utcnow

    try:
        with open_state() as state, state.database.session() as session:
            request = identity.latest_request(session, business_id)
            if request is None or request.status != identity.PENDING:
                fail(f"business {business_id} has no pending verification request")
            identity.reject(
                session, request.id, identity.Reviewer.operator(_os_user()), reason, utcnow()
            )
            session.commit()
    except TraceQRError as exc:
        fail(exc.message)
    note(f"Rejected the verification request of business {business_id}.")


@business.command("withdraw")
@click.argument("business_id", type=int)
@click.option("--reason", required=True, help="Why (the audit log and certificates keep it)")
@click.option(
    "--at",
    "at_text",
    default=None,
    help="From when its stamps are not vouched for: ISO 8601 with offset (default: now)",
)
def business_withdraw(business_id: int, reason: str, at_text: str | None) -> None:
    """Withdraw a business's verification (fraud found): its stamps issued from --at on
    verify as invalid (verification_withdrawn); earlier ones carry a warning."""
    from traceqr.services import identity
    from traceqr.state import utcnow

    now = utcnow()
    at = parse_time_option("--at", at_text) if at_text else now
    try:
        with open_state() as state, state.database.session() as session:
            identity.withdraw(
                session,
                state.keystore,
                business_id,
                identity.Reviewer.operator(_os_user()),
                reason=reason,
                at=at,
                now=now,
            )
            session.commit()
    except TraceQRError as exc:
        fail(exc.message)
    note(
        f"Business {business_id}'s verification is withdrawn from {at.isoformat()}: its "
        "stamps issued from then on verify as invalid (verification_withdrawn)."
    )
    note("Web processes apply it within 30 seconds; publish the new key set to offline verifiers.")


def parse_time_option(name: str, text: str) -> Any:
    """An ISO 8601 time with its offset, or exit 2."""
    from datetime import datetime

    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        fail(f"{name} {text!r} is not an ISO 8601 time such as 2026-11-20T08:00+07:00", 2)
    if at.tzinfo is None:
        fail(f"{name} needs its offset (e.g. +07:00 or Z): a bare time is ambiguous", 2)
    return at


# --- stamps ------------------------------------------------------------------------------------


@main.group()
def stamps() -> None:
    """Issue stamps and write their sheets or CSV, with progress (for large batches)."""


@stamps.command("issue")
@click.option("--batch", "batch_id", type=int, required=True, help="The batch's id")
@click.option("--count", type=int, required=True, help="How many stamps (1 to 1,000,000)")
@click.option("--inactive", is_flag=True, help="Issue inactive stamps, activated later")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout")
def stamps_issue(batch_id: int, count: int, inactive: bool, as_json: bool) -> None:
    """Sign and store COUNT stamps for a batch: all of them, or none."""
    from traceqr.models import Batch
    from traceqr.services.issuance import issue_stamps
    from traceqr.services.validation import clean_positive_int
    from traceqr.state import JOB_MAX_STAMPS, utcnow

    with open_state() as state, state.database.session() as session:
        batch = session.get(Batch, batch_id)
        if batch is None:
            fail(f"no batch {batch_id}")
        try:
            clean_positive_int(count, "count", maximum=JOB_MAX_STAMPS)
        except TraceQRError as exc:
            fail(str(exc.to_dict()["message"]))
        with click.progressbar(
            length=count, label="Issuing", file=sys.stderr, show_pos=True
        ) as bar:
            reported = [0]

            def progress(done: int, total: int) -> None:
                bar.update(done - reported[0])
                reported[0] = done

            try:
                result = issue_stamps(
                    session,
                    state.keystore,
                    batch,
                    count,
                    now=utcnow(),
                    active=not inactive,
                    max_count=JOB_MAX_STAMPS,
                    progress=progress,
                    pins=state.pins,
                )
                session.commit()
            except TraceQRError as exc:
                session.rollback()
                fail(str(exc.to_dict()["message"]))
    answer = {
        "batch_id": batch_id,
        "count": result.count,
        "first_seq": result.first_seq,
        "last_seq": result.last_seq,
        "kid": result.kid.hex(),
        "active": result.active,
        "test": result.test,
    }
    if as_json:
        click.echo(json.dumps(answer))
    else:
        note(f"Issued {result.count} stamps, numbers {result.first_seq}-{result.last_seq}.")
    if result.test:
        note(
            "These are TEST stamps (the business is not verified): they never verify as a "
            "genuine product. See `traceqr business verify`."
        )


@stamps.command("sheet")
@click.option("--batch", "batch_id", type=int, required=True, help="The batch's id")
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="PDF file")
@click.option("--paper", type=click.Choice(["A4", "A5", "letter"]), default="A4")
@click.option("--stamp-mm", type=float, default=None, help="QR side with its quiet zone")
@click.option("--ecc", type=click.Choice(["L", "M", "Q", "H"]), default="Q")
@click.option("--cut-marks", is_flag=True, help="Print cut marks between stamps")
def stamps_sheet(
    batch_id: int, output: str, paper: str, stamp_mm: float | None, ecc: str, cut_marks: bool
) -> None:
    """Write the batch's printable vector PDF: every stamp once, in issue order."""
    from dataclasses import replace

    from traceqr.domain.sheet import SheetLayout, SheetLayoutError, fit_stamp_size
    from traceqr.models import Batch
    from traceqr.services.sheets import write_batch_sheet
    from traceqr.services.stamps import iter_batch_stamps

    with open_state() as state, state.database.session() as session:
        batch = session.get(Batch, batch_id)
        if batch is None:
            fail(f"no batch {batch_id}")
        if batch.stamps_total == 0:
            fail(f"batch {batch_id} has no stamps yet: issue some first")
        public_url = state.settings.public_url
        try:
            layout = replace(
                SheetLayout.paper(paper), ecc=ecc, cut_marks=cut_marks, pin_spot=batch.with_pin
            )
            if stamp_mm is not None:
                layout = replace(layout, stamp_mm=stamp_mm)
            else:
                first = next(iter_batch_stamps(session, batch, public_url, chunk=1))
                layout = fit_stamp_size(layout, first.url)
        except SheetLayoutError as exc:
            fail(str(exc))
        target = Path(output)
        partial = target.with_name(target.name + ".part")
        with click.progressbar(
            length=batch.stamps_total, label="Writing", file=sys.stderr, show_pos=True
        ) as bar:
            try:
                with partial.open("wb") as out:
                    summary = write_batch_sheet(
                        session,
                        batch,
                        public_url,
                        state.pins,
                        out,
                        layout,
                        progress=lambda done, _total: bar.update(done - bar.pos),
                    )
            except SheetLayoutError as exc:
                partial.unlink(missing_ok=True)
                fail(str(exc))
        partial.replace(target)  # never leave a half-written sheet under the real name
    note(f"Wrote {target}: {summary.stamps} stamps on {summary.pages} pages.")


# --- keys ------------------------------------------------------------------------------------


@main.group()
def keys() -> None:
    """Signing keys and the published key set."""


@keys.command("rotate")
@click.option("--business", "business_id", required=True, type=int, help="Business id")
def keys_rotate(business_id: int) -> None:
    """Give a business a new signing key; old keys stay published, verify-only."""
    from traceqr.services.businesses import rotate_signing_key
    from traceqr.state import utcnow

    try:
        with open_state() as state, state.database.session() as session:
            new_key, retired = rotate_signing_key(session, state.keystore, business_id, utcnow())
            new_kid, retired_kids = new_key.kid.hex(), [k.kid.hex() for k in retired]
    except TraceQRError as exc:
        fail(exc.message)
    note(f"New signing key {new_kid} for business {business_id}.")
    for kid in retired_kids:
        note(f"Key {kid} is now verify-only; it stays in /.well-known/jwks.json.")
    click.echo(new_kid)


@keys.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default="-")
def keys_export(output: str) -> None:
    """Write the public key set (JWKS) for offline verifiers."""
    from traceqr.services.registry import jwks_document

    with open_state() as state, state.database.session() as session:
        document = jsonable(jwks_document(session))
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if output == "-":
        click.echo(text, nl=False)
    else:
        Path(output).write_text(text, encoding="utf-8")
        note(f"Wrote {len(document['keys'])} key(s) to {output}")


def jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


# --- verify ----------------------------------------------------------------------------------


@main.command()
@click.argument("text")
@click.option(
    "--keys",
    "keys_file",
    default=None,
    help="A JWKS file (from /.well-known/jwks.json): verify with no database or network",
)
@click.option(
    "--root",
    default=None,
    help="The operator's root key (its /.well-known/traceqr-root.json, or its thumbprint): "
    "only keys it certified are used",
)
@click.option(
    "--insecure-no-root",
    is_flag=True,
    help="Use every key in --keys as given, with no root certificate check (unsafe)",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON")
def verify(
    text: str, keys_file: str | None, root: str | None, insecure_no_root: bool, as_json: bool
) -> None:
    """Check a scanned TEXT's signature offline. Exit 0 valid, 1 not valid, 2 usage error.

    With --keys, a key counts only with a certificate from the operator's root key (docs/
    keys.md); a key reported compromised makes the answer not valid, as offline nobody can
    tell whether the stamp was signed before the compromise."""
    from traceqr.cli_lifecycle import offline_keys, registered_issue_time
    from traceqr.domain.keys import KeyFormatError
    from traceqr.domain.offline_verification import producer_line, verify_offline

    if keys_file is not None:
        try:
            raw = Path(keys_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read key file {keys_file}: {exc}", 2)
        try:
            checked = offline_keys(json.loads(raw), root, insecure_no_root)
        except (ValueError, KeyFormatError) as exc:
            fail(f"{keys_file} is not a usable JWKS: {exc}", 2)
        ring, rejected = checked.ring, checked.rejected
        for line in checked.notes:
            note(line)
        issue_time = None  # offline: a stamp carries no issue time
    else:
        rejected = {}
        from traceqr.services.registry import public_key_ring

        with open_state() as state, state.database.session() as session:
            ring = public_key_ring(session)
        issue_time = registered_issue_time

    result = verify_offline(text, ring, rejected, issue_time)
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
    elif result["valid"]:
        issuer = result.get("business_name") or "unknown business"
        click.echo(f"VALID: signed by key {result['kid']} of {issuer}")
        click.echo(producer_line(result.get("producer")))
        click.echo(f"stamp {result['short_code']} (serial {result['serial']})")
        if "gtin" in result:
            click.echo(f"GTIN {result['gtin']}, lot {result['lot']} (signed)")
        if "url_prefix" in result:
            click.echo(f"printed for {result['url_prefix']}")
        note(
            "An offline check proves who issued the stamp. Only the online check "
            "catches copies, revocations and recalls."
        )
    else:
        click.echo(f"NOT VALID: {result['message']} ({result['reason']})")
    if result.get("key_compromised_at") and result["valid"]:
        note(
            f"Key {result['kid']} was reported compromised from {result['key_compromised_at']}; "
            f"this stamp was issued before that ({result.get('issued_at')})."
        )
    if result.get("producer_withdrawn_at") and result["valid"]:
        note(
            f"The producer's verification was withdrawn from {result['producer_withdrawn_at']}; "
            f"this stamp was issued before that ({result.get('issued_at')})."
        )
    sys.exit(0 if result["valid"] else 1)


# --- scans ---------------------------------------------------------------------------------------


@main.group()
def scans() -> None:
    """Scan records: personal data retention and alarms."""


@scans.command("purge")
@click.option("--days", type=int, default=None, help="Retention in days (default: settings)")
def scans_purge(days: int | None) -> None:
    """Remove client details from checks older than the retention period, and stamp
    sheets that background jobs wrote more than 7 days ago (run daily)."""
    from traceqr.services.jobs import remove_old_sheets
    from traceqr.services.retention import purge_personal_data
    from traceqr.state import utcnow

    with open_state() as state, state.database.session() as session:
        keep = days if days is not None else state.settings.scan_retention_days
        if keep < 1:
            fail("--days must be at least 1", 2)
        result = purge_personal_data(session, utcnow(), keep)
        state.jobs.fail_orphans()  # a sheet job whose process died ends, and its file goes
        sheets = remove_old_sheets(session, state.settings.instance_path, utcnow())
    note(
        f"Removed client details from {result.scans} checks and {result.reports} reports "
        f"older than {result.before:%Y-%m-%d}; removed {sheets} old sheet files."
    )


@scans.command("alarms")
@click.option("--days", type=int, default=7, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def scans_alarms(days: int, as_json: bool) -> None:
    """Checks the operator must look at: valid signatures with no stamp (stolen or forged
    stamps) and forged signatures under a known key."""
    from datetime import timedelta

    from sqlalchemy import func, select

    from traceqr.models import Business, Scan
    from traceqr.state import utcnow

    since = utcnow() - timedelta(days=days)
    with open_state() as state, state.database.session() as session:
        # A forged code is recorded with no business, naming the one its key id claims.
        named = func.coalesce(Scan.business_id, Scan.claimed_business_id)
        rows = session.execute(
            select(Scan, Business.name)
            .outerjoin(Business, Business.id == named)
            .where(
                Scan.scanned_at >= since,
                Scan.status.in_(("unregistered", "invalid")),
                named.is_not(None),
            )
            .order_by(Scan.id.desc())
            .limit(1000)
        ).all()
        alarms = [
            {
                "at": scan.scanned_at.isoformat(),
                "status": scan.status,
                "reasons": scan.reasons,
                "business": name,
                "kid": scan.kid.hex() if scan.kid else None,
                "serial": scan.serial.hex() if scan.serial else None,
                "province": scan.province_code,
            }
            for scan, name in rows
        ]
    if as_json:
        click.echo(json.dumps(alarms, ensure_ascii=False))
        return
    for alarm in alarms:
        click.echo(
            f"{alarm['at']}  {alarm['status']:<12} {alarm['reasons']:<14} "
            f"{alarm['business']}  kid {alarm['kid']}  serial {alarm['serial']}"
        )
    note(f"{len(alarms)} alarm(s) in the last {days} days.")


# --- inspectors and documents ------------------------------------------------------------------


@main.group()
def inspector() -> None:
    """Market inspectors' accounts."""


@inspector.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--password", default=None, help="10+ characters")
@click.option("--province", "provinces", multiple=True, help="Province code it covers (repeat)")
def inspector_create(
    email: str, name: str, password: str | None, provinces: tuple[str, ...]
) -> None:
    """Create an inspector account (they sign in at /inspect)."""
    from traceqr.services.officials import create_official
    from traceqr.state import utcnow

    try:
        with open_state() as state, state.database.session() as session:
            official = create_official(
                session,
                email=email,
                name=name,
                role="inspector",
                password=password,
                provinces=list(provinces),
                now=utcnow(),
            )
            official_id = official.id
    except TraceQRError as exc:
        fail(exc.message)
    note(f"Inspector {official_id} created: {email}. They sign in at /inspect/login.")
    click.echo(official_id)


# --- the authority and its register of parks and clusters -------------------------------------


@main.group()
def authority() -> None:
    """Authority officers' accounts (Department of Industry and Trade)."""


@authority.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--password", default=None, help="10+ characters")
@click.option("--province", "provinces", multiple=True, help="Province code it covers (repeat)")
def authority_create(
    email: str, name: str, password: str | None, provinces: tuple[str, ...]
) -> None:
    """Create an authority account (they sign in at /authority); no --province: all."""
    from traceqr.services.officials import create_official
    from traceqr.state import utcnow

    try:
        with open_state() as state, state.database.session() as session:
            official = create_official(
                session,
                email=email,
                name=name,
                role="authority",
                password=password,
                provinces=list(provinces),
                now=utcnow(),
            )
            official_id = official.id
    except TraceQRError as exc:
        fail(exc.message)
    note(f"Authority officer {official_id} created: {email}. They sign in at /authority/login.")
    click.echo(official_id)


@main.group()
def clusters() -> None:
    """The register of industrial parks and clusters."""


@clusters.command("import")
@click.argument("path", type=click.Path(dir_okay=False))
def clusters_import(path: str) -> None:
    """Import the register from a CSV (name,kind,province,commune,area_ha,status): every line
    or none. Entries already there (same province and name) are updated."""
    from traceqr.services.clusters import RegisterImportError, import_register
    from traceqr.state import utcnow

    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except OSError as exc:
        fail(f"cannot read {path}: {exc}", 2)
    except UnicodeDecodeError:
        fail(f"{path} is not UTF-8 text", 2)
    try:
        with open_state() as state, state.database.session() as session:
            created, updated = import_register(session, text, utcnow())
    except RegisterImportError as exc:
        for problem in exc.problems:
            note(f"{path}:{problem.line}: {problem.problem.field}: {problem.problem.message}")
        fail(f"nothing imported: {len(exc.problems)} problem(s)")
    except TraceQRError as exc:
        fail(exc.message)
    note(f"Imported {created} new and {updated} updated parks and clusters.")
    click.echo(json.dumps({"created": created, "updated": updated}))


@clusters.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default="-")
def clusters_export(output: str) -> None:
    """Write the register as CSV, in the format `clusters import` reads."""
    import csv
    import io

    from traceqr.domain.clusters import ClusterEntry, register_csv_rows
    from traceqr.domain.spreadsheet import safe_row
    from traceqr.services.clusters import list_clusters

    with open_state() as state, state.database.session() as session:
        entries = [
            ClusterEntry(c.name, c.kind, c.province_code, c.commune, c.area_ha, c.status)
            for c in list_clusters(session)
        ]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(
        safe_row(row) for row in register_csv_rows(entries)
    )
    if output == "-":
        click.echo(buffer.getvalue(), nl=False)
    else:
        Path(output).write_text(buffer.getvalue(), encoding="utf-8")


@main.command("verify-document")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--keys", "keys_file", default=None, help="A JWKS file; else the instance's keys")
def verify_document_command(path: str, keys_file: str | None) -> None:
    """Check a signed case file (JSON, or the PDF that carries it). Exit 0 if it holds."""
    from traceqr.domain.documents import DocumentError, verify_document
    from traceqr.domain.keys import KeyFormatError, KeyRing

    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        fail(f"cannot read {path}: {exc}", 2)
    if raw.startswith(b"%PDF"):
        from traceqr.services.case_pdf import attached_case_file

        attached = attached_case_file(raw)
        if attached is None:
            fail(f"{path} carries no signed case file", 1)
        raw = attached
    try:
        document = json.loads(raw)
    except ValueError:
        fail(f"{path} is not JSON", 2)
    if keys_file is not None:
        try:
            ring = KeyRing.from_jwks(
                json.loads(Path(keys_file).read_text(encoding="utf-8")), role="service"
            )
        except (OSError, ValueError, KeyFormatError) as exc:
            fail(f"{keys_file} is not a usable JWKS: {exc}", 2)
    else:
        from traceqr.services.registry import public_key_ring

        with open_state() as state, state.database.session() as session:
            everything = public_key_ring(session).to_jwks()
        ring = KeyRing.from_jwks(everything, role="service")
    try:
        kid = verify_document(document, ring)
    except DocumentError as exc:
        click.echo(f"NOT VALID: {exc}")
        sys.exit(1)
    click.echo(f"VALID: signed by the service key {kid}; nothing was changed.")


# --- serving and demo ------------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Run the service (for production use gunicorn 'traceqr:create_app()')."""
    from traceqr import create_app

    with open_state():
        pass  # creates the schema on first start
    app = create_app()
    note(f"TraceQR on http://{host}:{port}/ (Ctrl+C stops it)")
    app.run(host=host, port=port, threaded=True, use_reloader=False)


@main.command()
@click.option("--burst", is_flag=True, help="Run the jobs waiting now, then stop")
def worker(burst: bool) -> None:
    """Run background jobs (large issuances) from the queue at TRACEQR_QUEUE_URL. Start it
    on as many machines as you like, with the same TRACEQR_* settings as the web nodes."""
    from redis import Redis
    from rq import Queue, Worker

    with open_state() as state:
        settings = state.settings
    if not settings.queue_url:
        fail("TRACEQR_QUEUE_URL is not set: without a queue, jobs run inside the web process", 2)
    connection = Redis.from_url(settings.queue_url)
    note(f"Worker on queue {settings.queue_name!r} at {settings.queue_url.split('@')[-1]}")
    Worker([Queue(settings.queue_name, connection=connection)], connection=connection).work(
        burst=burst
    )


@main.command()
def demo() -> None:
    """Load the demo businesses, products, batches and stamps; print how to try them."""
    from traceqr.services.demo import load_demo, simulate_demo_scans
    from traceqr.state import utcnow

    with open_state() as state:
        with state.database.session() as session:
            credentials, created = load_demo(
                session,
                state.keystore,
                state.settings.instance_path,
                state.settings.public_url,
                utcnow(),
            )
        if created:
            with state.database.session() as session:
                scans = simulate_demo_scans(
                    session,
                    state.verifier,
                    state.settings.public_url,
                    utcnow(),
                    credentials.stamp_url,
                    keystore=state.keystore,
                )
            note(f"Loaded the demo data with {scans} simulated checks over the last 60 days.")
    for line in credentials.lines():
        click.echo(line)


# Key lifecycle and audit commands live in their own module; importing it registers them.
import traceqr.cli_lifecycle  # noqa: E402, F401

# Backup and restore (docs/operations.md) live in their own module.
from traceqr.cli_backup import backup_command, restore_command  # noqa: E402

main.add_command(backup_command)
main.add_command(restore_command)

if __name__ == "__main__":  # pragma: no cover
    main()
