"""``traceqr backup`` and ``traceqr restore`` (registered on the main command in cli.py)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from traceqr.errors import TraceQRError


def _settings_and_database(*, creating_secrets: bool) -> tuple:  # type: ignore[type-arg]
    from traceqr.cli import fail
    from traceqr.config import load_settings
    from traceqr.db import Database

    # A restore must not create the instance's secrets: they come from the backup.
    overrides = {} if creating_secrets else {"secret_key": "not-used-by-restore"}
    try:
        settings = load_settings(overrides)
    except TraceQRError as exc:
        fail(exc.message, 2)
    return settings, Database(settings.database_url)


@click.command("backup")
@click.argument("output", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON on stdout")
def backup_command(output: Path, as_json: bool) -> None:
    """Write the database, the encrypted key store, the instance's other secrets (encrypted)
    and uploads to one archive, OUTPUT (.tar.gz), while the service runs. The master key is
    never in it: keep that apart."""
    from traceqr.cli import fail, note
    from traceqr.services.backup import create_backup
    from traceqr.state import utcnow

    settings, database = _settings_and_database(creating_secrets=True)
    try:
        result = create_backup(settings, database, output, utcnow())
    except TraceQRError as exc:
        fail(exc.message)
    finally:
        database.dispose()
    manifest = result.manifest
    if as_json:
        click.echo(json.dumps(manifest, indent=2, sort_keys=True))
    counts = ", ".join(f"{count} {table}" for table, count in manifest["counts"].items())
    note(
        f"Backup written to {result.path} ({result.path.stat().st_size:,} bytes; schema "
        f"{manifest['schema_revision']}; {counts}). Keep the master key apart from it."
    )


@click.command("restore")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that already holds data")
def restore_command(archive: Path, force: bool) -> None:
    """Restore ARCHIVE (from `traceqr backup`) into this instance: checks the checksums,
    the schema revision and that the master key opens every key first, then writes all of
    it or nothing. Stop the service while it runs."""
    from traceqr.cli import fail, note
    from traceqr.services.backup import restore_backup

    settings, database = _settings_and_database(creating_secrets=False)
    try:
        result = restore_backup(settings, database, archive, force=force)
    except TraceQRError as exc:
        fail(exc.message)
    finally:
        database.dispose()
    counts = ", ".join(f"{count} {table}" for table, count in result.counts.items())
    note(
        f"Restored the backup of {result.manifest['created_at']}: {counts}; "
        f"{result.keys} signing keys."
    )
