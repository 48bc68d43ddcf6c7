"""The operator's key lifecycle and audit commands, and offline checks through the root."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet

from tests.conftest import PUBLIC_URL, empty_database
from traceqr.cli import main
from traceqr.config import load_settings
from traceqr.keystore import KeyStore


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
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def ok(env: dict[str, str], *args: str) -> Any:
    result = run(env, *args)
    assert result.exit_code == 0, result.output
    return result


def business(env: dict[str, str], name: str = "Gốm Chu Đậu") -> dict[str, Any]:
    email = f"{abs(hash(name)) % 10**8}@example.vn"
    return json.loads(
        ok(env, "business", "create", "--name", name, "--email", email, "--json").stdout
    )


def batch_with_stamps(env: dict[str, str], api_key: str, count: int = 1) -> list[str]:
    """A batch of ``count`` stamps issued now, through the API of an app on the same
    database and instance."""
    from traceqr import create_app

    config: dict[str, Any] = {
        "instance_path": Path(env["TRACEQR_INSTANCE"]),
        "database_url": env["TRACEQR_DATABASE_URL"],
        "public_url": PUBLIC_URL,
        "rate_limits_enabled": False,
        "TESTING": True,
    }
    if env.get("TRACEQR_MASTER_KEYS"):
        config["master_keys"] = tuple(env["TRACEQR_MASTER_KEYS"].split(","))
    app = create_app(config)
    from tests.conftest import Api

    api = Api(app.test_client(), api_key)
    batch = api.batch()
    api.issue(batch["id"], count)
    urls = api.stamp_urls(batch["id"])
    from traceqr.state import AppState

    AppState.of(app).database.dispose()
    return urls


def write(path: Path, document: Any) -> str:
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


def verify_json(env: dict[str, str], url: str, *args: str) -> tuple[int, dict[str, Any]]:
    result = run(env, "verify", url, "--json", *args)
    return result.exit_code, json.loads(result.stdout)


# --- compromise ---------------------------------------------------------------------------------


def test_compromise_at_t_online_and_offline(cli_env: dict[str, str], tmp_path: Path) -> None:
    created = business(cli_env)
    before = batch_with_stamps(cli_env, created["api_key"])[0]
    t = datetime.now(UTC)
    after = batch_with_stamps(cli_env, created["api_key"])[0]
    compromised = ok(
        cli_env,
        "keys",
        "compromise",
        "--kid",
        created["kid"].upper(),
        "--at",
        t.isoformat(),
        "--reason",
        "Lộ khóa ở xưởng in",
    )
    assert compromised.stdout.strip() == created["kid"]
    assert "new key" in compromised.stderr

    # With the instance's registry: the issue time decides.
    code, answer = verify_json(cli_env, before)
    assert code == 0 and answer["valid"] and answer["key_status"] == "compromised"
    code, answer = verify_json(cli_env, after)
    assert code == 1 and answer["reason"] == "key_compromised" and answer["signature_valid"]

    # Offline there is no issue time: not valid, and said to be uncertain.
    jwks = tmp_path / "jwks.json"
    ok(cli_env, "keys", "export", "-o", str(jwks))
    for url in (before, after):
        code, answer = verify_json({}, url, "--keys", str(jwks))
        assert code == 1
        assert answer["reason"] == "key_compromised" and answer["uncertain"] is True
        assert answer["key_compromised_at"] == t.isoformat()
    human = run({}, "verify", after, "--keys", str(jwks))
    assert "compromised" in human.stdout and "check this one online" in human.stdout

    # Refused: a later time, an unknown key, a time without offset.
    later = run(
        cli_env,
        "keys",
        "compromise",
        "--kid",
        created["kid"],
        "--at",
        datetime.now(UTC).isoformat(),
        "--reason",
        "x",
    )
    assert later.exit_code == 1 and "never later" in later.stderr
    assert (
        run(
            cli_env,
            "keys",
            "compromise",
            "--kid",
            "00000000",
            "--at",
            t.isoformat(),
            "--reason",
            "x",
        ).exit_code
        == 1
    )
    assert (
        run(
            cli_env,
            "keys",
            "compromise",
            "--kid",
            created["kid"],
            "--at",
            "2026-11-20T08:00",
            "--reason",
            "x",
        ).exit_code
        == 2
    )


# --- offline key sets through the root -----------------------------------------------------


@pytest.fixture
def signed_world(cli_env: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    created = business(cli_env)
    url = batch_with_stamps(cli_env, created["api_key"])[0]
    jwks_path = tmp_path / "jwks.json"
    ok(cli_env, "keys", "export", "-o", str(jwks_path))
    root_path = tmp_path / "root.json"
    root_path.write_text(ok(cli_env, "keys", "root", "--json").stdout)
    pin = ok(cli_env, "keys", "root").stdout.strip()
    return {
        "url": url,
        "kid": created["kid"],
        "jwks": json.loads(jwks_path.read_text()),
        "jwks_path": str(jwks_path),
        "root_path": str(root_path),
        "pin": pin,
    }


def test_a_key_set_verifies_through_a_pinned_root(signed_world: dict[str, Any]) -> None:
    w = signed_world
    for extra in ([], ["--root", w["root_path"]], ["--root", w["pin"]]):
        code, answer = verify_json({}, w["url"], "--keys", w["jwks_path"], *extra)
        assert code == 0 and answer["valid"], (extra, answer)
    # A business key's id is no root pin.
    assert run({}, "verify", w["url"], "--keys", w["jwks_path"], "--root", w["kid"]).exit_code == 2
    unpinned = run({}, "verify", w["url"], "--keys", w["jwks_path"])
    assert "Root not pinned" in unpinned.stderr


def test_a_key_without_a_valid_certificate_is_rejected(
    signed_world: dict[str, Any], tmp_path: Path
) -> None:
    w = signed_world
    jwks = w["jwks"]
    key = next(k for k in jwks["keys"] if k["kid"] == w["kid"])
    for spoil in ("drop", "other-cert"):
        spoiled = json.loads(json.dumps(jwks))
        target = next(k for k in spoiled["keys"] if k["kid"] == w["kid"])
        if spoil == "drop":
            del target["traceqr_cert"]
        else:  # a certificate of another key pasted in
            others = [k for k in spoiled["keys"] if k.get("traceqr_cert") and k is not target]
            target["traceqr_cert"] = others[0]["traceqr_cert"] if others else "a.b.c"
        path = write(tmp_path / f"{spoil}.json", spoiled)
        code, answer = verify_json({}, w["url"], "--keys", path, "--root", w["root_path"])
        assert code == 1 and answer["reason"] == "uncertified_key", answer
    assert key["traceqr_cert"].count(".") == 2


def test_a_forged_key_set_fails_against_the_pinned_root(
    signed_world: dict[str, Any], tmp_path: Path
) -> None:
    """A forger's key set is consistent (its own root certifies its own key) but only
    until the real root is pinned."""
    from traceqr.domain.key_certs import certify, root_jwk
    from traceqr.domain.keys import PublicKey, StampSigner

    w = signed_world
    fake_root = StampSigner(bytes.fromhex("f0f0f0f0"), bytes(range(32)))
    real = next(k for k in w["jwks"]["keys"] if k["kid"] == w["kid"])
    stolen = PublicKey.from_jwk(real)
    forged_jwk = {**real, "traceqr_cert": certify(stolen, fake_root, certified_at="2026-11-28")}
    forged = {
        "keys": [forged_jwk],
        "traceqr_root": {"keys": [root_jwk(fake_root.kid, fake_root.public_key)]},
    }
    path = write(tmp_path / "forged.json", forged)
    assert verify_json({}, w["url"], "--keys", path)[0] == 0  # unpinned: consistent, no more
    code, answer = verify_json({}, w["url"], "--keys", path, "--root", w["root_path"])
    assert code == 1 and answer["reason"] == "uncertified_key"
    assert run({}, "verify", w["url"], "--keys", path, "--root", w["pin"]).exit_code == 2


def test_a_plain_key_set_still_verifies_with_a_warning(
    signed_world: dict[str, Any], tmp_path: Path
) -> None:
    """A JWKS of plain keys (the contract's format, or one saved before roots existed)
    keeps verifying stamps, with a warning that nothing was checked; pinned, it is checked."""
    w = signed_world
    bare = {
        "keys": [{k: v for k, v in key.items() if k != "traceqr_cert"} for key in w["jwks"]["keys"]]
    }
    path = write(tmp_path / "bare.json", bare)
    result = run({}, "verify", w["url"], "--keys", path)
    assert result.exit_code == 0 and "--root" in result.stderr and "unchecked" in result.stderr
    code, answer = verify_json({}, w["url"], "--keys", path, "--root", w["root_path"])
    assert code == 1 and answer["reason"] == "uncertified_key"
    bare = {"keys": w["jwks"]["keys"]}
    path = write(tmp_path / "bare-certified.json", bare)
    assert verify_json({}, w["url"], "--keys", path, "--root", w["root_path"])[0] == 0
    unsafe = run({}, "verify", w["url"], "--keys", path, "--insecure-no-root")
    assert unsafe.exit_code == 0 and "unchecked" in unsafe.stderr


# --- master key rotation -------------------------------------------------------------------


def test_master_key_rotation_round_trip(cli_env: dict[str, str], monkeypatch: Any) -> None:
    created = business(cli_env)
    for name, value in cli_env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    master_file = settings.instance_path / "master.key"
    old_key = master_file.read_text().strip()
    running = KeyStore.from_settings(settings)  # a web process started before the rotation
    kid = bytes.fromhex(created["kid"])
    public = json.loads((settings.keystore_path / f"{created['kid']}.json").read_text())

    import base64

    public_key = base64.b64decode(public["public_key"])
    assert running.load_signer(kid, public_key).public_key == public_key

    result = ok(cli_env, "keys", "rotate-master")
    assert "Re-encrypted" in result.stderr
    lines = master_file.read_text().split()
    assert len(lines) == 2 and lines[1] == old_key and lines[0] != old_key
    assert master_file.stat().st_mode & 0o077 == 0
    store = KeyStore(settings.keystore_path, [lines[0]])
    assert store.files_not_under(lines[0]) == []
    # The process that still held only the old master key follows the file by itself.
    assert running.load_signer(kid, public_key).public_key == public_key
    # Stamps keep being issued throughout.
    batch_with_stamps(cli_env, created["api_key"])

    ok(cli_env, "keys", "rotate-master", "--retire-old")
    final = master_file.read_text().split()
    assert len(final) == 1 and old_key not in final and lines[0] not in final
    assert KeyStore(settings.keystore_path, final).load_signer(kid, public_key)
    with pytest.raises(Exception, match="cannot be decrypted"):
        KeyStore(settings.keystore_path, [old_key]).load_signer(kid, public_key)


def test_master_keys_from_the_environment_rotate_in_two_steps(
    cli_env: dict[str, str],
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    env = {**cli_env, "TRACEQR_MASTER_KEYS": old}
    created = business(env)
    # Step 1: the new key first, the old one still there; step 2: re-encrypt.
    ok({**env, "TRACEQR_MASTER_KEYS": f"{new},{old}"}, "keys", "rotate-master")
    only_new = {**env, "TRACEQR_MASTER_KEYS": new}
    assert batch_with_stamps(only_new, created["api_key"])  # signs with the new master key only
    refused = run(
        {**env, "TRACEQR_MASTER_KEYS": f"{new},{old}"}, "keys", "rotate-master", "--retire-old"
    )
    assert refused.exit_code == 2


# --- audit ------------------------------------------------------------------------------------


def test_audit_export_and_verify_catch_tampering(cli_env: dict[str, str], tmp_path: Path) -> None:
    created = business(cli_env)
    batch_with_stamps(cli_env, created["api_key"], 2)
    ok(cli_env, "keys", "rotate", "--business", str(created["id"]))
    export = tmp_path / "audit.jsonl"
    ok(cli_env, "audit", "export", "-o", str(export))
    head = tmp_path / "head.json"
    head.write_text(ok(cli_env, "audit", "head").stdout)
    root = tmp_path / "root.json"
    root.write_text(ok(cli_env, "keys", "root", "--json").stdout)
    lines = export.read_text().splitlines()
    assert len(lines) >= 4
    entries = [json.loads(line) for line in lines]
    assert [e["seq"] for e in entries] == list(range(1, len(lines) + 1))
    assert {"business.create", "stamps.issue", "key.rotate"} <= {e["action"] for e in entries}
    assert all(e["actor"]["kind"] in ("operator", "api_key") for e in entries)

    def check(path: Path, *extra: str) -> Any:
        return run({}, "audit", "verify", "--file", str(path), *extra)

    good = check(export, "--head", str(head), "--root", str(root))
    assert good.exit_code == 0 and f"up to seq {len(lines)}" in good.stdout
    assert ok(cli_env, "audit", "verify").stdout.startswith("OK")
    assert ok(cli_env, "audit", "verify", "--head", str(head)).stdout.startswith("OK")

    edited = list(lines)
    edited[1] = (
        edited[1].replace('"seq":2', '"seq":2,"note":"x"').replace("business", "busyness", 1)
    )
    changed = tmp_path / "changed.jsonl"
    changed.write_text("\n".join(edited) + "\n")
    result = check(changed)
    assert result.exit_code == 1 and "BROKEN at seq 2" in result.stdout

    removed = tmp_path / "removed.jsonl"
    removed.write_text("\n".join(lines[:2] + lines[3:]) + "\n")
    result = check(removed)
    assert result.exit_code == 1 and "BROKEN at seq 3" in result.stdout

    reordered = tmp_path / "reordered.jsonl"
    reordered.write_text("\n".join([lines[1], lines[0], *lines[2:]]) + "\n")
    assert "BROKEN at seq 1" in check(reordered).stdout

    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[:-1]) + "\n")
    assert check(cut).exit_code == 0  # alone, a shorter log is a consistent one
    result = check(cut, "--head", str(head), "--root", str(root))
    assert result.exit_code == 1 and f"BROKEN at seq {len(lines)}" in result.stdout

    forged_head = json.loads(head.read_text())
    forged_head["seq"] -= 1
    forged_head["hash"] = entries[-2]["hash"]
    fake = tmp_path / "fake-head.json"
    fake.write_text(json.dumps(forged_head))
    result = check(cut, "--head", str(fake), "--root", str(root))
    assert result.exit_code == 1 and "signature" in result.stdout

    assert check(export, "--head", str(head)).exit_code == 2  # which root?
    assert run({}, "audit", "verify", "--file", str(tmp_path / "missing.jsonl")).exit_code == 2
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("not json\n")
    assert check(garbage).exit_code == 1
