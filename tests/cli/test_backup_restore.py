"""`traceqr backup` and `traceqr restore`: the demo instance survives a round trip into a
fresh instance (same stamps, same verdicts, same scan counts, keys that decrypt), and a
restore that cannot be complete writes nothing."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, make_url, select, text

from tests.conftest import PG_URL, PUBLIC_URL, empty_database
from traceqr import create_app
from traceqr.cli import main
from traceqr.config import load_settings
from traceqr.db import Database
from traceqr.keystore import KeyStore
from traceqr.models import Scan, SigningKey, Stamp
from traceqr.state import AppState

pytestmark = pytest.mark.slow


def run(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def source_env(database_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {
        "TRACEQR_INSTANCE": str(tmp_path / "source"),
        "TRACEQR_DATABASE_URL": database_url,
        "TRACEQR_PUBLIC_URL": PUBLIC_URL,
        "TRACEQR_MASTER_KEYS": "",
    }
    yield env
    empty_database(database_url)


@pytest.fixture
def target_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A fresh instance on a fresh database of the same kind as the test database."""
    instance = tmp_path / "target"
    instance.mkdir()
    env = {
        "TRACEQR_INSTANCE": str(instance),
        "TRACEQR_PUBLIC_URL": PUBLIC_URL,
        "TRACEQR_MASTER_KEYS": "",
    }
    if not PG_URL:
        env["TRACEQR_DATABASE_URL"] = f"sqlite:///{instance / 'traceqr.sqlite3'}"
        yield env
        return
    admin_url = make_url(PG_URL)
    name = f"traceqr_restore_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    env["TRACEQR_DATABASE_URL"] = admin_url.set(database=name).render_as_string(hide_password=False)
    try:
        yield env
    finally:
        with admin.connect() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def snapshot(database_url: str) -> dict[str, Any]:
    """What must survive: every stamp with its scan count, every scan, every key."""
    database = Database(database_url)
    try:
        with database.session() as session:
            stamps = {
                row.serial: (row.seq, row.scan_count, row.signature, row.active)
                for row in session.execute(
                    select(Stamp.serial, Stamp.seq, Stamp.scan_count, Stamp.signature, Stamp.active)
                )
            }
            scans = sorted(
                (row.stamp_id or 0, row.status, row.scanned_at.isoformat())
                for row in session.execute(select(Scan.stamp_id, Scan.status, Scan.scanned_at))
            )
            keys = {row.kid: row.public_key for row in session.scalars(select(SigningKey))}
    finally:
        database.dispose()
    return {"stamps": stamps, "scans": scans, "keys": keys}


def verify_api(env: dict[str, str], url: str) -> dict[str, Any]:
    app = create_app(
        {
            "instance_path": env["TRACEQR_INSTANCE"],
            "database_url": env["TRACEQR_DATABASE_URL"],
            "public_url": PUBLIC_URL,
            "rate_limits_enabled": False,
        }
    )
    try:
        response = app.test_client().get("/api/v1/verify", query_string={"q": url})
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()
    finally:
        AppState.of(app).database.dispose()


def make_backup(source_env: dict[str, str], tmp_path: Path) -> tuple[Path, str]:
    demo = run(source_env, "demo")
    assert demo.exit_code == 0, demo.output
    stamp_url = next(
        line.split(": ", 1)[1] for line in demo.stdout.splitlines() if line.startswith("Demo stamp")
    )
    archive = tmp_path / "backups" / "traceqr.tar.gz"
    result = run(source_env, "backup", str(archive))
    assert result.exit_code == 0, result.output
    assert "Keep the master key apart" in result.stderr
    return archive, stamp_url


def test_backup_then_restore_into_a_fresh_instance(
    source_env: dict[str, str], target_env: dict[str, str], tmp_path: Path
) -> None:
    archive, stamp_url = make_backup(source_env, tmp_path)
    source = Path(source_env["TRACEQR_INSTANCE"])
    target = Path(target_env["TRACEQR_INSTANCE"])

    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        packed = {n: tar.extractfile(n).read() for n in names if n != "manifest.json"}  # type: ignore[union-attr]
    assert "master.key" not in " ".join(names), "the master key never goes into a backup"
    assert manifest["format"] == "traceqr-backup" and manifest["version"] == 1
    assert manifest["database"]["kind"] == ("postgresql" if PG_URL else "sqlite")
    assert manifest["counts"]["stamps"] > 0 and manifest["counts"]["scans"] > 0
    key_files = sorted(p.name for p in (source / "keystore").glob("*.json"))
    assert sorted(n.split("/")[1] for n in names if n.startswith("keystore/")) == key_files
    for name, content in packed.items():  # nothing decrypted lies in the archive
        for secret in ("pin.key", "secret.key"):
            assert (source / secret).read_bytes().strip() not in content, name

    before = snapshot(source_env["TRACEQR_DATABASE_URL"])
    verdict_before = verify_api(source_env, stamp_url)
    assert verdict_before["signature_valid"] and verdict_before["scans"]["count"] >= 1

    shutil.copy(source / "master.key", target / "master.key")  # kept apart, brought back
    restored = run(target_env, "restore", str(archive))
    assert restored.exit_code == 0, restored.output
    assert "Restored the backup" in restored.stderr

    after = snapshot(target_env["TRACEQR_DATABASE_URL"])
    assert after["stamps"] == before["stamps"]
    assert after["scans"] == before["scans"]
    assert after["keys"] == before["keys"]
    for secret in ("pin.key", "secret.key"):
        assert (target / secret).read_bytes() == (source / secret).read_bytes()

    verdict_after = verify_api(target_env, stamp_url)
    assert verdict_after["status"] == verdict_before["status"]
    # Both are the first check after the backup: the same count on either side.
    assert verdict_after["scans"]["count"] == verdict_before["scans"]["count"]

    settings = load_settings(
        {"instance_path": target, "database_url": target_env["TRACEQR_DATABASE_URL"]}
    )
    keystore = KeyStore.from_settings(settings)
    for kid, public_key in after["keys"].items():
        assert keystore.load_signer(kid, public_key).public_key == public_key

    again = run(target_env, "restore", str(archive))
    assert again.exit_code == 1
    assert "already holds data" in again.stderr
    assert run(target_env, "restore", "--force", str(archive)).exit_code == 0
    assert snapshot(target_env["TRACEQR_DATABASE_URL"])["stamps"] == before["stamps"]


def test_a_damaged_backup_or_the_wrong_master_key_restores_nothing(
    source_env: dict[str, str], target_env: dict[str, str], tmp_path: Path
) -> None:
    archive, _ = make_backup(source_env, tmp_path)
    source = Path(source_env["TRACEQR_INSTANCE"])
    target = Path(target_env["TRACEQR_INSTANCE"])

    # One byte of the database changed, the manifest left as it was.
    damaged = tmp_path / "damaged.tar.gz"
    with tarfile.open(archive) as tar, tarfile.open(damaged, "w:gz") as out:
        for member in tar.getmembers():
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
            if member.name.startswith("database."):
                data = data[:-100] + bytes([data[-100] ^ 1]) + data[-99:]
            out.addfile(member, io.BytesIO(data))

    shutil.copy(source / "master.key", target / "master.key")
    result = run(target_env, "restore", str(damaged))
    assert result.exit_code == 1
    assert "checksum does not match" in result.stderr
    assert sorted(p.name for p in target.iterdir()) == ["master.key"], "nothing written"

    (target / "master.key").write_text(Fernet.generate_key().decode() + "\n")
    result = run(target_env, "restore", str(archive))
    assert result.exit_code == 1
    assert "cannot be decrypted with the configured master key" in result.stderr
    assert not (target / "keystore").exists() and not (target / "pin.key").exists()

    (target / "master.key").unlink()
    result = run(target_env, "restore", str(archive))
    assert result.exit_code == 1
    assert "no master key" in result.stderr
    assert not (target / "master.key").exists(), "a restore never invents a master key"

    # Made by a newer TraceQR: a schema revision this one does not know.
    future = tmp_path / "future.tar.gz"
    with tarfile.open(archive) as tar, tarfile.open(future, "w:gz") as out:
        for member in tar.getmembers():
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "manifest.json":
                manifest = json.loads(data)
                manifest["schema_revision"] = "0999_from_the_future"
                data = json.dumps(manifest).encode()
                member.size = len(data)
            out.addfile(member, io.BytesIO(data))
    shutil.copy(source / "master.key", target / "master.key")
    result = run(target_env, "restore", str(future))
    assert result.exit_code == 1
    assert "schema revision '0999_from_the_future' is unknown" in result.stderr
    assert sorted(p.name for p in target.iterdir()) == ["master.key"], "nothing written"

    not_a_backup = tmp_path / "notes.tar.gz"
    with tarfile.open(not_a_backup, "w:gz") as tar:
        tar.add(source / "keystore", arcname="keystore")
    result = run(target_env, "restore", str(not_a_backup))
    assert result.exit_code == 1 and "no readable manifest" in result.stderr
