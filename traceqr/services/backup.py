"""Backups of one TraceQR instance in one file, and restoring them all-or-nothing.

The archive (``.tar.gz``) holds:

- ``manifest.json``: format and version, when, the schema revision, the database kind,
  a SHA-256 and size for every other member, and row counts to compare after a restore;
- the database: ``database.sqlite3`` (SQLite's online backup API: a consistent copy taken
  while the service runs) or ``database.pgdump`` (``pg_dump --format=custom``);
- ``keystore/…``: the signing keys exactly as they are at rest, encrypted under the master
  key (never decrypted here);
- ``secrets.fernet``: the instance's ``pin.key`` and ``secret.key`` (PINs printed on stamps
  derive from the first), encrypted under the master key too;
- ``uploads/…``: product photos and logos.

The master key itself is never in the archive: keep it apart (it is what makes a stolen
backup useless). Restoring needs it in ``TRACEQR_MASTER_KEYS`` or ``instance/master.key``,
and checks that it opens every key before anything is written.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import func, inspect, make_url, select, text

from traceqr.config import Settings
from traceqr.db import Database, alembic_config, upgrade_schema
from traceqr.errors import TraceQRError
from traceqr.keystore import FILE_FORMAT as KEY_FILE_FORMAT

FORMAT = "traceqr-backup"
VERSION = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database.sqlite3"
PGDUMP_MEMBER = "database.pgdump"
SECRETS_MEMBER = "secrets.fernet"
SECRET_FILES = ("pin.key", "secret.key")
COUNTED_TABLES = ("businesses", "products", "batches", "stamps", "scans", "signing_keys", "jobs")
CHUNK = 1 << 20


class BackupError(TraceQRError):
    code = "backup_failed"
    http_status = 500


@dataclass
class BackupResult:
    path: Path
    manifest: dict[str, Any]


@dataclass
class RestoreResult:
    manifest: dict[str, Any]
    counts: dict[str, int]
    keys: int
    files: list[str] = field(default_factory=list)


# --- reading the instance's secrets without creating them ---------------------------------


def existing_master_keys(settings: Settings) -> list[str]:
    """The master keys as configured, never creating one (a new random key opens nothing)."""
    if settings.master_keys:
        return list(settings.master_keys)
    path = settings.instance_path / "master.key"
    if not path.exists():
        raise BackupError(
            "no master key: put the instance's master key (kept apart from the backups) in "
            f"{path} or in TRACEQR_MASTER_KEYS before restoring"
        )
    return [line.strip() for line in path.read_text(encoding="ascii").splitlines() if line.strip()]


def _fernet(master_keys: list[str]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode("ascii")) for key in master_keys])
    except (ValueError, TypeError) as exc:
        raise BackupError("a master key is not a valid Fernet key") from exc


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL for pg_dump/pg_restore, and the environment carrying its password (so
    that it never shows in the process list)."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not installed (apt-get install postgresql-client); or run it by hand: "
            "see docs/operations.md"
        )
    return found


def schema_revision(database: Database) -> str | None:
    if not inspect(database.engine).has_table("alembic_version"):
        return None
    with database.engine.connect() as connection:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def table_counts(database: Database) -> dict[str, int]:
    present = set(inspect(database.engine).get_table_names())
    counts: dict[str, int] = {}
    with database.engine.connect() as connection:
        for table in COUNTED_TABLES:
            if table in present:
                counts[table] = int(
                    connection.execute(select(func.count()).select_from(text(table))).scalar_one()
                )
    return counts


def known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return {revision.revision for revision in script.walk_revisions()}


# --- backup ----------------------------------------------------------------------------------


def _sqlite_path(database: Database) -> Path:
    name = database.engine.url.database
    if not name or name == ":memory:":
        raise BackupError("an in-memory database cannot be backed up")
    return Path(name)


def _dump_sqlite(database: Database, target: Path) -> None:
    source = sqlite3.connect(f"file:{_sqlite_path(database)}?mode=ro", uri=True, timeout=30)
    try:
        destination = sqlite3.connect(target)
        try:
            source.backup(destination)  # one step: a consistent snapshot while others write
        finally:
            destination.close()
    finally:
        source.close()
    check = sqlite3.connect(target)
    try:
        if check.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise BackupError("the copy of the SQLite database failed its integrity check")
    finally:
        check.close()


def _dump_postgres(database: Database, target: Path) -> None:
    url, env = _libpq(database.url)
    result = subprocess.run(  # noqa: S603 - fixed program, arguments from our settings
        [_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-acl", "-f", str(target), url],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BackupError(f"pg_dump failed: {result.stderr.strip()}")


def _instance_files(settings: Settings) -> Iterator[tuple[str, Path]]:
    """(name in the archive, file) for the key store and uploads."""
    for folder, prefix in (
        (settings.keystore_path, "keystore"),
        (settings.uploads_path, "uploads"),
    ):
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_file() and ".tmp" not in path.suffix:
                yield f"{prefix}/{path.relative_to(folder).as_posix()}", path


def create_backup(
    settings: Settings, database: Database, output: Path, now: datetime
) -> BackupResult:
    """Write the instance to ``output`` (replaced only once the archive is complete)."""
    revision = schema_revision(database)
    if revision is None:
        raise BackupError("the database has no schema: there is nothing to back up")
    fernet = _fernet(existing_master_keys(settings))
    kind = database.engine.dialect.name
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".traceqr-backup-", dir=output.parent) as tmp:
        work = Path(tmp)
        members: list[tuple[str, Path]] = []
        if kind == "sqlite":
            _dump_sqlite(database, work / SQLITE_MEMBER)
            members.append((SQLITE_MEMBER, work / SQLITE_MEMBER))
        elif kind == "postgresql":
            _dump_postgres(database, work / PGDUMP_MEMBER)
            members.append((PGDUMP_MEMBER, work / PGDUMP_MEMBER))
        else:
            raise BackupError(f"backups of {kind} databases are not supported")
        counts = table_counts(database)

        secrets: dict[str, str] = {}
        for name in SECRET_FILES:
            path = settings.instance_path / name
            if path.exists():
                secrets[name] = path.read_text(encoding="ascii")
        (work / SECRETS_MEMBER).write_bytes(fernet.encrypt(json.dumps(secrets).encode()))
        members.append((SECRETS_MEMBER, work / SECRETS_MEMBER))
        members.extend(_instance_files(settings))

        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "created_at": now.isoformat(),
            "schema_revision": revision,
            "database": {"kind": kind, "member": members[0][0]},
            "counts": counts,
            "files": {
                name: {"sha256": _sha256(path), "size": path.stat().st_size}
                for name, path in members
            },
        }
        partial = work / "archive.tar.gz"
        with tarfile.open(partial, "w:gz") as archive:
            data = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(data), int(now.timestamp()), 0o600
            archive.addfile(info, io.BytesIO(data))
            for name, path in members:
                info = archive.gettarinfo(str(path), arcname=name)
                info.mode, info.uid, info.gid, info.uname, info.gname = 0o600, 0, 0, "", ""
                with open(path, "rb") as handle:
                    archive.addfile(info, handle)
        os.chmod(partial, 0o600)
        os.replace(partial, output)
    return BackupResult(output, manifest)


# --- restore ---------------------------------------------------------------------------------


def _safe_member(name: str) -> bool:
    path = PurePosixPath(name)
    return not path.is_absolute() and ".." not in path.parts and bool(path.parts)


def _unpack(archive_path: Path, work: Path) -> dict[str, Any]:
    """Read and check the archive into ``work``: every member named in the manifest, with
    its checksum, and nothing else."""
    try:
        archive = tarfile.open(archive_path, "r:*")  # noqa: SIM115 - closed below
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(f"{archive_path} is not a TraceQR backup: {exc}") from exc
    with archive:
        try:
            handle = archive.extractfile(MANIFEST)
            manifest = json.loads(handle.read()) if handle else None
        except (KeyError, ValueError, tarfile.TarError) as exc:
            raise BackupError(f"{archive_path} has no readable manifest") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise BackupError(f"{archive_path} is not a TraceQR backup")
        if manifest.get("version") != VERSION:
            raise BackupError(
                f"backup format version {manifest.get('version')} is not one this TraceQR reads"
            )
        expected: dict[str, dict[str, Any]] = manifest.get("files") or {}
        seen: set[str] = set()
        for member in archive:
            if member.name == MANIFEST:
                continue
            if member.name not in expected or not member.isfile() or not _safe_member(member.name):
                raise BackupError(f"unexpected member {member.name!r} in the backup")
            target = work / "files" / member.name
            target.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            assert source is not None
            digest = hashlib.sha256()
            with open(target, "wb") as out:
                while block := source.read(CHUNK):
                    digest.update(block)
                    out.write(block)
            if digest.hexdigest() != expected[member.name]["sha256"]:
                raise BackupError(f"{member.name} is damaged: its checksum does not match")
            seen.add(member.name)
        missing = sorted(set(expected) - seen)
        if missing:
            raise BackupError(f"the backup is incomplete: {', '.join(missing)} missing")
    return manifest


def _database_is_empty(database: Database) -> bool:
    if database.engine.dialect.name == "sqlite" and not _sqlite_path(database).exists():
        return True  # and connecting would create the file: a refused restore writes nothing
    present = set(inspect(database.engine).get_table_names())
    if "businesses" not in present:
        return True
    return not table_counts(database).get("businesses")


def _check_keys(files: Path, fernet: MultiFernet) -> list[Path]:
    keys = sorted((files / "keystore").rglob("*.json")) if (files / "keystore").is_dir() else []
    for path in keys:
        try:
            document = json.loads(path.read_text(encoding="ascii"))
        except ValueError as exc:
            raise BackupError(f"key file {path.name} in the backup is damaged") from exc
        if document.get("format") != KEY_FILE_FORMAT or "encrypted_seed" not in document:
            continue  # not a signing key file: restored as it is
        try:
            fernet.decrypt(document["encrypted_seed"].encode("ascii"))
        except InvalidToken as exc:
            raise BackupError(
                f"key {path.stem} cannot be decrypted with the configured master key: "
                "restore with the master key of the instance that made the backup"
            ) from exc
    return keys


def _restore_sqlite(database: Database, staged: Path) -> None:
    target = _sqlite_path(database)
    target.parent.mkdir(parents=True, exist_ok=True)
    database.dispose()
    source = sqlite3.connect(f"file:{staged}?mode=ro", uri=True)
    try:
        destination = sqlite3.connect(target, timeout=30)
        try:
            # Copies every page in one write transaction: the target is the old database or
            # the restored one, never a mix, and the WAL stays consistent.
            source.backup(destination)
        finally:
            destination.close()
    finally:
        source.close()


def _restore_postgres(database: Database, staged: Path, *, clean: bool) -> None:
    url, env = _libpq(database.url)
    command = [
        _pg_tool("pg_restore"),
        "--single-transaction",  # all or nothing
        "--exit-on-error",
        "--no-owner",
        "--no-acl",
        "-d",
        url,
    ]
    if clean:  # an empty schema from `traceqr init`, or data that --force replaces
        command[1:1] = ["--clean", "--if-exists"]
    database.dispose()
    result = subprocess.run(  # noqa: S603 - fixed program, arguments from our settings
        [*command, str(staged)], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BackupError(f"pg_restore failed, nothing was restored: {result.stderr.strip()}")


Installed = list[tuple[Path, Path | None]]  # (file written, the copy of what it replaced)


def _install_file(source: Path, target: Path, force: bool, installed: Installed) -> None:
    previous: Path | None = None
    if target.exists():
        if target.read_bytes() == source.read_bytes():
            return
        if not force:
            raise BackupError(f"{target} exists with other contents (use --force to replace it)")
        previous = target.with_name(f".{target.name}.before-restore")
        shutil.copy2(target, previous)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = target.with_name(f".{target.name}.restoring")
    shutil.copyfile(source, partial)
    os.chmod(partial, 0o600)
    os.replace(partial, target)
    installed.append((target, previous))


def _take_back(installed: Installed) -> None:
    for target, previous in reversed(installed):
        if previous is None:
            target.unlink(missing_ok=True)
        else:
            os.replace(previous, target)


def restore_backup(
    settings: Settings, database: Database, archive_path: Path, *, force: bool = False
) -> RestoreResult:
    """Restore ``archive_path`` into this instance, all or nothing. Refuses a database that
    has data unless ``force``; the service should be stopped meanwhile."""
    fernet = _fernet(existing_master_keys(settings))
    with tempfile.TemporaryDirectory(prefix=".traceqr-restore-", dir=settings.instance_path) as tmp:
        work = Path(tmp)
        manifest = _unpack(archive_path, work)
        files = work / "files"

        kind = database.engine.dialect.name
        backup_kind = manifest["database"]["kind"]
        if backup_kind != kind:
            raise BackupError(
                f"this backup holds a {backup_kind} database; this instance uses {kind}"
            )
        revision = manifest.get("schema_revision")
        if revision not in known_revisions():
            raise BackupError(
                f"the backup's schema revision {revision!r} is unknown to this TraceQR: "
                "restore it with the version that made it, or a newer one"
            )
        if not force and not _database_is_empty(database):
            raise BackupError(
                "the database already holds data: restore into an empty one, or use --force "
                "to replace it"
            )
        try:
            secrets = json.loads(fernet.decrypt((files / SECRETS_MEMBER).read_bytes()))
        except (InvalidToken, ValueError) as exc:
            raise BackupError(
                "the backup's secrets cannot be decrypted with the configured master key"
            ) from exc
        keys = _check_keys(files, fernet)
        staged_secrets = work / "secrets"
        staged_secrets.mkdir()
        for name, value in secrets.items():
            if name in SECRET_FILES:
                (staged_secrets / name).write_text(value, encoding="ascii")

        # Everything is checked: now write. Files first (new key files are harmless alone);
        # if the database cannot be restored, the files written are taken back.
        installed: Installed = []
        try:
            for name in sorted(secrets):
                if name in SECRET_FILES:
                    _install_file(
                        staged_secrets / name, settings.instance_path / name, force, installed
                    )
            restored_files: list[str] = []
            for member in sorted(manifest["files"]):
                if member.startswith(("keystore/", "uploads/")):
                    _install_file(files / member, settings.instance_path / member, force, installed)
                    restored_files.append(member)
            staged_db = files / manifest["database"]["member"]
            if kind == "sqlite":
                _restore_sqlite(database, staged_db)
            else:
                clean = bool(inspect(database.engine).get_table_names())
                _restore_postgres(database, staged_db, clean=clean)
        except BaseException:
            _take_back(installed)
            raise
        for _target, previous in installed:
            if previous is not None:
                previous.unlink(missing_ok=True)
    upgrade_schema(database)
    return RestoreResult(manifest, table_counts(database), len(keys), restored_files)
