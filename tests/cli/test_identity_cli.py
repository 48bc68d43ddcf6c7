"""The operator's identity commands (traceqr business create/verify/reject/withdraw) and
what `traceqr verify` says offline about test stamps, verified and withdrawn producers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from tests.cli.test_key_lifecycle_cli import batch_with_stamps, cli_env, ok, run, verify_json
from tests.conftest import PUBLIC_URL
from traceqr import create_app
from traceqr.models import Business, VerificationRequest
from traceqr.services import accounts, identity
from traceqr.state import AppState

__all__ = ["cli_env"]  # the fixture, shared with the key lifecycle tests

TAX_CODE = "0101234565"


def create(env: dict[str, str], name: str, email: str, *extra: str) -> Any:
    return run(env, "business", "create", "--name", name, "--email", email, "--json", *extra)


def app_state(env: dict[str, str]) -> AppState:
    app = create_app(
        {
            "instance_path": Path(env["TRACEQR_INSTANCE"]),
            "database_url": env["TRACEQR_DATABASE_URL"],
            "public_url": PUBLIC_URL,
            "rate_limits_enabled": False,
            "TESTING": True,
        }
    )
    return AppState.of(app)


def sign_up(
    env: dict[str, str], name: str, email: str, *, request: bool = False, tax_code: str = TAX_CODE
) -> int:
    """A business that signed up on its own (unverified), with a pending request if asked."""
    state = app_state(env)
    try:
        with state.database.session() as session:
            made = accounts.sign_up(
                session,
                state.keystore,
                business_name=name,
                email=email,
                password="correct horse battery",
                name=None,
                now=datetime.now(UTC),
            )
            session.flush()
            if request:
                identity.submit_request(
                    session,
                    made.business.id,
                    {
                        "name": name,
                        "legal_name": f"Công ty TNHH {name}",
                        "tax_code": tax_code,
                        "address_street": "Số 5 Giang Cao",
                        "province_code": "ha-noi",
                        "legal_representative": "Nguyễn Văn An",
                    },
                    identity.RequestDocuments(registration="c" * 32 + ".pdf"),
                    user_id=made.owner.id,
                    now=datetime.now(UTC),
                )
            return made.business.id
    finally:
        state.database.dispose()


def test_the_operator_vouches_and_a_verified_tax_code_is_refused(
    cli_env: dict[str, str],
) -> None:
    first = create(
        cli_env,
        "Gốm sứ Hưng Thịnh",
        "a@example.vn",
        "--tax-code",
        TAX_CODE,
        "--gs1-prefix",
        "8934588",
    )
    assert first.exit_code == 0, first.output
    made = json.loads(first.stdout)
    assert made["verification_status"] == "verified" and made["tax_code"] == TAX_CODE
    assert made["api_key"].startswith("tqr_")

    second = create(cli_env, "Gốm Hưng Thịnh 2", "b@example.vn", "--tax-code", TAX_CODE)
    assert second.exit_code == 1 and second.stdout == ""
    assert "already belongs to verified business" in second.stderr
    state = app_state(cli_env)
    try:
        with state.database.session() as session:  # nothing half-written
            assert session.scalar(select(func.count()).select_from(Business)) == 1
    finally:
        state.database.dispose()
    bad = create(cli_env, "X", "c@example.vn", "--gs1-prefix", "12ab")
    assert bad.exit_code == 1 and "GS1 company prefix" in bad.stderr


def test_verify_approves_a_pending_request_and_reject_says_why(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    pending = sign_up(cli_env, "Trà Tân Cương", "tra@example.vn", request=True)
    lone = sign_up(cli_env, "Nước mắm Cát Hải", "nm@example.vn")

    done = ok(cli_env, "business", "verify", str(pending), "--by", "Sở Công Thương Thái Nguyên")
    assert f"Verified business {pending}: Công ty TNHH Trà Tân Cương, MST {TAX_CODE}" in (
        done.stderr
    )
    again = run(cli_env, "business", "verify", str(pending))
    assert again.exit_code == 1 and "already verified" in again.stderr
    # Without a request, verify vouches for the profile as it stands.
    ok(cli_env, "business", "verify", str(lone))

    rejected = sign_up(cli_env, "Gốm giả", "fake@example.vn", request=True, tax_code="0100000028")
    missing = run(cli_env, "business", "reject", str(lone), "--reason", "x")
    assert missing.exit_code == 1 and "no pending verification request" in missing.stderr
    ok(cli_env, "business", "reject", str(rejected), "--reason", "Giấy phép không khớp")
    state = app_state(cli_env)
    try:
        with state.database.session() as session:
            request = session.scalars(
                select(VerificationRequest).where(VerificationRequest.business_id == rejected)
            ).one()
            assert (request.status, request.decision_reason) == ("rejected", "Giấy phép không khớp")
            assert session.get(Business, pending).verified_by == "Sở Công Thương Thái Nguyên"  # type: ignore[union-attr]
    finally:
        state.database.dispose()


def test_offline_a_test_stamp_is_not_valid_and_a_verified_one_names_its_producer(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    verified = json.loads(
        create(cli_env, "Gốm Chu Đậu", "cd@example.vn", "--tax-code", TAX_CODE).stdout
    )
    live = batch_with_stamps(cli_env, verified["api_key"])[0]
    signed_up = sign_up(cli_env, "Gốm Chu Đậu", "clone@example.vn")
    state = app_state(cli_env)
    try:
        with state.database.session() as session:
            from traceqr.services.businesses import create_api_key

            key = create_api_key(session, signed_up, "erp", datetime.now(UTC))[1]
    finally:
        state.database.dispose()
    test = batch_with_stamps(cli_env, key)[0]
    jwks = tmp_path / "jwks.json"
    ok(cli_env, "keys", "export", "-o", str(jwks))

    code, answer = verify_json({}, test, "--keys", str(jwks))
    assert code == 1 and answer["reason"] == "test_stamp" and answer["test"] is True
    assert "business_name" not in answer
    human = run({}, "verify", test, "--keys", str(jwks))
    assert "NOT VALID: TEST STAMP" in human.stdout and "TEM THỬ" in human.stdout

    code, answer = verify_json({}, live, "--keys", str(jwks))
    assert code == 0 and answer["producer"]["tax_code"] == TAX_CODE
    human = run({}, "verify", live, "--keys", str(jwks))
    assert f"Nhà sản xuất đã xác minh: Gốm Chu Đậu, MST {TAX_CODE}, xác minh ngày" in human.stdout


def test_withdraw_at_t_online_and_offline(cli_env: dict[str, str], tmp_path: Path) -> None:
    made = json.loads(create(cli_env, "Gốm Phù Lãng", "pl@example.vn").stdout)
    before = batch_with_stamps(cli_env, made["api_key"])[0]
    t = datetime.now(UTC)
    after = batch_with_stamps(cli_env, made["api_key"])[0]
    bare = run(cli_env, "business", "withdraw", str(made["id"]), "--reason", "x", "--at", "2026")
    assert bare.exit_code == 2
    ok(
        cli_env,
        "business",
        "withdraw",
        str(made["id"]),
        "--reason",
        "Giả mạo giấy phép",
        "--at",
        t.isoformat(),
    )
    # With the registry, the issue time decides.
    code, answer = verify_json(cli_env, before)
    assert code == 0 and answer["producer_withdrawn_at"] == t.isoformat()
    code, answer = verify_json(cli_env, after)
    assert code == 1 and answer["reason"] == "verification_withdrawn"
    # Offline there is no issue time: uncertain, check online.
    jwks = tmp_path / "jwks.json"
    ok(cli_env, "keys", "export", "-o", str(jwks))
    for url in (before, after):
        code, answer = verify_json({}, url, "--keys", str(jwks))
        assert code == 1 and answer["reason"] == "verification_withdrawn"
        assert answer["uncertain"] is True
    # The business signs test stamps from now on.
    code, answer = verify_json(cli_env, batch_with_stamps(cli_env, made["api_key"])[0])
    assert code == 1 and answer["reason"] == "test_stamp"


def test_alarms_list_forged_signatures_under_a_known_key(cli_env: dict[str, str]) -> None:
    """A forged code is recorded with no business (it is not the business's check), yet
    the operator's alarms still name the business whose key id it carries."""
    made = json.loads(create(cli_env, "Gốm Phù Lãng", "pl2@example.vn").stdout)
    url = batch_with_stamps(cli_env, made["api_key"])[0]
    forged = url[:-3] + ("A" if url[-3] != "A" else "B") + url[-2:]
    state = app_state(cli_env)
    try:
        from traceqr.services.verification import ClientFacts

        result = state.verifier.verify(
            forged, now=datetime.now(UTC), channel="api", client=ClientFacts(address="10.0.0.9")
        )
        assert result.status.value == "invalid"
    finally:
        state.database.dispose()
    alarms = json.loads(ok(cli_env, "scans", "alarms", "--json").stdout)
    assert [(a["status"], a["business"]) for a in alarms] == [("invalid", "Gốm Phù Lãng")]
    assert "bad_signature" in alarms[0]["reasons"]
