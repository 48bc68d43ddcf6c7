"""The traceqr command as an operator and an inspector use it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import PUBLIC_URL, empty_database
from traceqr.cli import main


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {
        "TRACEQR_INSTANCE": str(tmp_path / "instance"),
        "TRACEQR_DATABASE_URL": database_url,
        "TRACEQR_PUBLIC_URL": PUBLIC_URL,
    }
    yield env
    empty_database(database_url)


def run(env: dict[str, str], *args: str) -> Any:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result


def test_init_is_idempotent(cli_env: dict[str, str]) -> None:
    for _ in range(2):
        result = run(cli_env, "init")
        assert result.exit_code == 0, result.output
    instance = Path(cli_env["TRACEQR_INSTANCE"])
    assert (instance / "master.key").stat().st_mode & 0o077 == 0  # owner-only


def test_business_create_prints_one_json_object(cli_env: dict[str, str]) -> None:
    result = run(
        cli_env,
        "business",
        "create",
        "--name",
        "Gốm Chu Đậu",
        "--email",
        "Owner@Example.vn",
        "--json",
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert isinstance(created["id"], int)
    assert created["api_key"].startswith("tqr_")
    assert created["email"] == "owner@example.vn"
    # The private key is on disk, encrypted: the seed is not there in clear.
    key_file = Path(cli_env["TRACEQR_INSTANCE"]) / "keystore" / f"{created['kid']}.json"
    stored = json.loads(key_file.read_text())
    assert "encrypted_seed" in stored and "seed" not in stored
    assert key_file.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    "args",
    [
        ["--name", "", "--email", "a@b.vn"],
        ["--name", "X", "--email", "not-an-email"],
        ["--name", "X", "--email", "a@b.vn", "--password", "short"],
        ["--name", "X", "--email", "a@b.vn", "--province", "atlantis"],
    ],
)
def test_business_create_refuses_bad_input_and_writes_nothing(
    cli_env: dict[str, str], args: list[str]
) -> None:
    result = run(cli_env, "business", "create", *args, "--json")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "error:" in result.stderr


def test_the_same_email_cannot_own_two_businesses(cli_env: dict[str, str]) -> None:
    assert (
        run(cli_env, "business", "create", "--name", "A", "--email", "a@b.vn", "--json").exit_code
        == 0
    )
    again = run(cli_env, "business", "create", "--name", "B", "--email", "A@B.VN", "--json")
    assert again.exit_code == 1
    assert "already exists" in again.stderr


def test_keys_rotate_keeps_old_key_published(cli_env: dict[str, str]) -> None:
    created = json.loads(
        run(cli_env, "business", "create", "--name", "A", "--email", "k@b.vn", "--json").stdout
    )
    rotated = run(cli_env, "keys", "rotate", "--business", str(created["id"]))
    assert rotated.exit_code == 0, rotated.output
    new_kid = rotated.stdout.strip()
    assert new_kid != created["kid"]
    exported = json.loads(run(cli_env, "keys", "export").stdout)
    assert {k["kid"]: k["traceqr_status"] for k in exported["keys"]} == {
        created["kid"]: "retired",
        new_kid: "active",
    }
    assert run(cli_env, "keys", "rotate", "--business", "999999").exit_code == 1


def test_demo_prints_a_stamp_url_that_verifies_and_an_api_key(cli_env: dict[str, str]) -> None:
    first = run(cli_env, "demo")
    assert first.exit_code == 0, first.output
    lines = dict(line.split(": ", 1) for line in first.stdout.strip().splitlines())
    assert lines["Demo stamp"].startswith("HTTPS://TRACEQR.EXAMPLE.VN/S/")
    assert lines["Demo API key"].startswith("tqr_")
    assert lines["Demo login"] == "gomsu@battrang.demo.traceqr.vn / demo-password-2026"
    assert run(cli_env, "demo").stdout == first.stdout  # idempotent
    assert run(cli_env, "verify", lines["Demo stamp"]).exit_code == 0
    assert run(cli_env, "verify", lines["Demo stamp with a supply chain"]).exit_code == 0
    # The demo's producers are verified; its stamp names the checked identity, and one
    # business that signed up waits in the Department's queue with its certificate.
    human = run(cli_env, "verify", lines["Demo stamp"]).stdout
    assert "Nhà sản xuất đã xác minh: Hợp tác xã Gốm sứ Hưng Thịnh Bát Tràng" in human
    from sqlalchemy import select

    from traceqr.db import Database
    from traceqr.models import VerificationRequest
    from traceqr.services.uploads import private_folder, stored_private_upload

    database = Database(cli_env["TRACEQR_DATABASE_URL"])
    try:
        with database.session() as session:
            pending = session.scalars(select(VerificationRequest)).one()
            assert pending.status == "pending" and pending.tax_code == "0100000010"
    finally:
        database.dispose()
    uploads = Path(cli_env["TRACEQR_INSTANCE"]) / "uploads"
    document = stored_private_upload(uploads, pending.registration_document)
    assert document is not None and document.parent == private_folder(uploads)
    assert document.read_bytes().startswith(b"%PDF")


@pytest.fixture
def demo_jwks(cli_env: dict[str, str], tmp_path: Path) -> tuple[str, Path]:
    lines = dict(line.split(": ", 1) for line in run(cli_env, "demo").stdout.strip().splitlines())
    jwks = tmp_path / "jwks.json"
    assert run(cli_env, "keys", "export", "-o", str(jwks)).exit_code == 0
    return lines["Demo stamp"], jwks


def offline_verify(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A separate process with no TRACEQR_* settings and no instance folder around."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACEQR_")}
    env["TRACEQR_DATABASE_URL"] = "postgresql+psycopg://nobody@127.0.0.1:1/unreachable"
    return subprocess.run(
        [sys.executable, "-m", "traceqr", "verify", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
        check=False,
    )


def test_offline_verify_needs_only_the_key_file(
    demo_jwks: tuple[str, Path], tmp_path: Path
) -> None:
    url, jwks = demo_jwks
    workdir = tmp_path / "offline"
    workdir.mkdir()
    valid = offline_verify(url, "--keys", str(jwks), cwd=workdir)
    assert valid.returncode == 0, valid.stderr
    assert "VALID" in valid.stdout and "Gốm sứ Hưng Thịnh Bát Tràng" in valid.stdout
    assert list(workdir.iterdir()) == []  # no instance folder was created

    tampered = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBA")
    invalid = offline_verify(tampered, "--keys", str(jwks), "--json", cwd=workdir)
    assert invalid.returncode == 1
    assert json.loads(invalid.stdout)["valid"] is False

    unreadable = offline_verify(url, "--keys", str(tmp_path / "missing.json"), cwd=workdir)
    assert unreadable.returncode == 2
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    assert offline_verify(url, "--keys", str(garbage), cwd=workdir).returncode == 2
    assert offline_verify(cwd=workdir).returncode == 2  # no TEXT: usage error


def test_stamps_issue_and_sheet_from_the_command_line(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    from sqlalchemy import select

    from tests.sheet_reading import read_sheet
    from traceqr.db import Database
    from traceqr.domain.sheet import SheetLayout
    from traceqr.models import Batch

    assert run(cli_env, "demo").exit_code == 0
    database = Database(cli_env["TRACEQR_DATABASE_URL"])
    with database.session() as session:
        batch = session.scalars(select(Batch).where(Batch.lot == "BT-2610-C")).one()
        batch_id, before = batch.id, batch.stamps_total
    database.dispose()

    issued = run(cli_env, "stamps", "issue", "--batch", str(batch_id), "--count", "5", "--json")
    assert issued.exit_code == 0, issued.output
    answer = json.loads(issued.stdout)
    assert (answer["count"], answer["first_seq"], answer["last_seq"]) == (5, before + 1, before + 5)
    assert "Issuing" in issued.stderr  # the progress bar goes to stderr, JSON alone on stdout

    sheet = tmp_path / "sheet.pdf"
    written = run(cli_env, "stamps", "sheet", "--batch", str(batch_id), "-o", str(sheet))
    assert written.exit_code == 0, written.output
    cells = read_sheet(sheet.read_bytes(), SheetLayout())
    assert len(cells) == before + 5 and all(len(texts) == 1 for texts in cells)
    assert len({texts[0] for texts in cells}) == before + 5
    assert run(cli_env, "verify", cells[-1][0]).exit_code == 0

    # Bad input: a clear message, exit 1, nothing written.
    assert run(cli_env, "stamps", "issue", "--batch", "999999", "--count", "5").exit_code == 1
    zero = run(cli_env, "stamps", "issue", "--batch", str(batch_id), "--count", "0")
    assert zero.exit_code == 1 and "count" in zero.stderr
    too_small = run(
        cli_env,
        "stamps",
        "sheet",
        "--batch",
        str(batch_id),
        "-o",
        str(tmp_path / "x.pdf"),
        "--stamp-mm",
        "10",
    )
    assert too_small.exit_code == 1 and "stamp_mm" in too_small.stderr
    assert not (tmp_path / "x.pdf").exists() and not (tmp_path / "x.pdf.part").exists()
