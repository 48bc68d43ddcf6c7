"""Verification against a real database: counts, records, keys, alarms."""

from __future__ import annotations

import multiprocessing
import os
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from tests.conftest import PUBLIC_URL, Api
from traceqr.config import load_settings
from traceqr.models import Scan, Stamp
from traceqr.services.businesses import NewBusiness, rotate_signing_key
from traceqr.services.verification import ClientFacts
from traceqr.state import AppState


def issue_one(api: Api, count: int = 1) -> list[str]:
    batch = api.batch()
    api.issue(batch["id"], count)
    return api.stamp_urls(batch["id"])


def test_every_verification_is_recorded_with_coarse_client_facts(api: Api, state: AppState) -> None:
    url = issue_one(api)[0]
    first = state.verifier.verify(
        url,
        now=datetime(2026, 11, 12, 1, 0, tzinfo=UTC),
        channel="page",
        client=ClientFacts(address="203.0.113.7", user_agent="Mozilla/5.0 (Linux; Android 14)"),
    )
    second = state.verifier.verify(url, now=datetime(2026, 11, 13, 1, 0, tzinfo=UTC), channel="api")
    assert (first.scan_count, second.scan_count) == (1, 2)
    assert second.first_scan_at == datetime(2026, 11, 12, 1, 0, tzinfo=UTC)
    with state.database.session() as session:
        scans = session.scalars(select(Scan).order_by(Scan.id)).all()
    assert [s.status for s in scans] == ["genuine", "genuine"]
    assert scans[0].device == "android"
    assert scans[0].ip_hash is not None and b"203.0.113.7" not in scans[0].ip_hash
    assert scans[0].stamp_id is not None and scans[0].business_id is not None


def test_invalid_scans_are_recorded_too(api: Api, state: AppState) -> None:
    api.verify("not a stamp at all")
    with state.database.session() as session:
        scan = session.scalars(select(Scan)).one()
    assert scan.status == "invalid" and scan.reasons == "malformed_code" and scan.stamp_id is None


def test_concurrent_scans_of_one_stamp_lose_no_count(api: Api, state: AppState) -> None:
    url = issue_one(api)[0]
    threads, per_thread = 8, 10
    seen: list[int] = []
    lock = threading.Lock()

    def scan_many() -> None:
        for _ in range(per_thread):
            result = state.verifier.verify(url, now=datetime.now(UTC), channel="api")
            with lock:
                seen.append(result.scan_count)

    workers = [threading.Thread(target=scan_many) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    total = threads * per_thread
    assert sorted(seen) == list(range(1, total + 1))  # every scan got its own number
    with state.database.session() as session:
        assert session.scalar(select(Stamp.scan_count)) == total
        assert len(session.scalars(select(Scan.id)).all()) == total


def test_the_api_answers_scan_count_and_first_time(api: Api) -> None:
    url = issue_one(api)[0]
    first = api.verify(url)
    second = api.verify(url.lower())
    assert first["scans"]["count"] == 1
    assert second["scans"]["count"] == 2
    assert second["scans"]["first_at"] == first["scans"]["first_at"]
    assert first["scans"]["first_at"].endswith("+07:00")
    assert first["signature_valid"] is True


def test_a_valid_signature_with_no_record_is_an_unregistered_alarm(
    api: Api, business: NewBusiness, state: AppState
) -> None:
    signer = state.keystore.load_signer(business.signing_key.kid, business.signing_key.public_key)
    ghost = signer.issue(os.urandom(10)).url(PUBLIC_URL)
    verdict = api.verify(ghost)
    assert verdict["status"] == "unregistered"
    assert verdict["signature_valid"] is True
    assert verdict["reasons"] == ["no_record"]
    assert verdict["business"]["name"] == business.business.name
    with state.database.session() as session:
        scan = session.scalars(select(Scan)).one()
    assert scan.business_id == business.business.id  # the business sees the alarm


def test_a_tampered_code_is_invalid(api: Api) -> None:
    url = issue_one(api)[0]
    index = len(url) - 20
    tampered = url[:index] + ("B" if url[index] != "B" else "C") + url[index + 1 :]
    verdict = api.verify(tampered)
    assert verdict["status"] == "invalid"
    assert verdict["signature_valid"] is False
    assert verdict["reasons"] == ["bad_signature"]
    assert verdict["scans"] == {"count": 0, "first_at": None}


def test_stamps_signed_before_a_key_rotation_still_verify(
    api: Api, business: NewBusiness, state: AppState, client: object
) -> None:
    old_url = issue_one(api)[0]
    with state.database.session() as session:
        new_key, retired = rotate_signing_key(
            session, state.keystore, business.business.id, datetime.now(UTC) + timedelta(seconds=1)
        )
    assert [k.kid for k in retired] == [business.signing_key.kid]
    new_url = issue_one(api)[0]
    old, new = api.verify(old_url), api.verify(new_url)
    assert (old["status"], new["status"]) == ("genuine", "genuine")
    assert old["stamp"]["kid"] == business.signing_key.kid.hex()
    assert new["stamp"]["kid"] == new_key.kid.hex()
    jwks = api.client.get("/.well-known/jwks.json").get_json(force=True)
    statuses = {key["kid"]: key["traceqr_status"] for key in jwks["keys"]}
    assert statuses == {business.signing_key.kid.hex(): "retired", new_key.kid.hex(): "active"}


def test_a_stamp_checked_far_too_often_turns_suspicious(api: Api, state: AppState) -> None:
    url = issue_one(api)[0]
    start = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)

    def check(n: int) -> Any:  # five shoppers taking turns, an hour apart: no one's repeats
        client = ClientFacts(f"198.51.100.{n % 5}", "Mozilla/5.0 (Android)")
        return state.verifier.verify(
            url, now=start + timedelta(hours=n), channel="api", client=client
        )

    statuses = [check(n).status.value for n in range(21)]
    assert statuses[:20] == ["genuine"] * 20
    assert statuses[20] == "suspicious"
    result = check(21)
    assert [r.value for r in result.verdict.reasons] == ["scan_count_high"]
    assert result.verdict.signature_valid is True
    assert result.scan_count == 22


def check_from_another_process(overrides: dict[str, Any], url: str, checks: int, out: Any) -> None:
    """A gunicorn worker's share of the checks: its own app state, engine and connections."""
    state = AppState.create(load_settings(overrides))
    try:
        out.put(
            [
                state.verifier.verify(url, now=datetime.now(UTC), channel="api").scan_count
                for _ in range(checks)
            ]
        )
    except BaseException as error:
        out.put(repr(error))
    finally:
        state.database.dispose()


def test_checks_from_several_processes_lose_no_count(api: Api, state: AppState) -> None:
    # Gunicorn's workers are processes: on SQLite they queue on the file's writer lock,
    # on PostgreSQL on the stamp's row lock. Every check must count, none may fail.
    url = issue_one(api)[0]
    settings = state.settings
    overrides = {
        "instance_path": settings.instance_path,
        "database_url": state.database.url,
        "public_url": settings.public_url,
        "rate_limits_enabled": False,
    }
    processes, per_process = 3, 40
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    workers = [
        context.Process(target=check_from_another_process, args=(overrides, url, per_process, out))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    answers = [out.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(30)
    assert all(isinstance(answer, list) for answer in answers), answers
    total = processes * per_process
    assert sorted(count for answer in answers for count in answer) == list(range(1, total + 1))
    with state.database.session() as session:
        assert session.scalar(select(Stamp.scan_count)) == total
        assert len(session.scalars(select(Scan.id)).all()) == total
