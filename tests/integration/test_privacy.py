"""Personal data in scan records: keyed hashes, rotation, retention, and operator alarms."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests.conftest import PUBLIC_URL, Api
from traceqr.cli import main
from traceqr.domain.clients import hash_client_address, salt_period
from traceqr.models import Scan
from traceqr.services.retention import purge_personal_data
from traceqr.services.verification import ClientFacts, VerificationService
from traceqr.state import AppState

DAY = datetime(2026, 11, 20, 3, tzinfo=UTC)


def test_address_hashes_link_within_a_period_and_not_across_when_rotated() -> None:
    salt = os.urandom(32)
    same = hash_client_address("203.0.113.5", salt, salt_period("daily", DAY.date()))
    assert same == hash_client_address("203.0.113.5", salt, salt_period("daily", DAY.date()))
    next_day = hash_client_address(
        "203.0.113.5", salt, salt_period("daily", (DAY + timedelta(days=1)).date())
    )
    assert next_day != same
    assert salt_period("never", DAY.date()) == ""
    assert salt_period("monthly", DAY.date()) == "2026-11"
    assert b"203.0.113.5" not in (same or b"")


def test_old_checks_lose_their_client_details_but_keep_their_verdict(
    api: Api, state: AppState
) -> None:
    batch = api.batch()
    api.issue(batch["id"], 1)
    url = api.stamp_urls(batch["id"])[0]
    client = ClientFacts("203.0.113.5", "Mozilla/5.0 (iPhone)", "ha-noi", 21.0, 105.8)
    state.verifier.verify(url, now=DAY - timedelta(days=200), channel="page", client=client)
    state.verifier.verify(url, now=DAY, channel="page", client=client)
    with state.database.session() as session:
        result = purge_personal_data(session, DAY, retention_days=180)
    assert result.scans == 1
    with state.database.session() as session:
        old, new = session.scalars(select(Scan).order_by(Scan.scanned_at)).all()
    assert (old.ip_hash, old.device, old.lat, old.lon) == (None, None, None, None)
    assert (old.status, old.province_code, old.stamp_id) == ("genuine", "ha-noi", new.stamp_id)
    assert new.ip_hash is not None and new.device == "ios"


def test_unregistered_stamps_raise_an_operator_alarm(
    api: Api, business: Any, state: AppState, caplog: pytest.LogCaptureFixture, database_url: str
) -> None:
    signer = state.keystore.load_signer(business.signing_key.kid, business.signing_key.public_key)
    ghost = signer.issue(os.urandom(10)).url(PUBLIC_URL)
    with caplog.at_level(logging.WARNING, logger="traceqr.alarms"):
        assert api.verify(ghost)["status"] == "unregistered"
    assert "ALARM unregistered stamp" in caplog.text
    env = {
        "TRACEQR_INSTANCE": str(state.settings.instance_path),
        "TRACEQR_DATABASE_URL": database_url,
    }
    result = CliRunner().invoke(main, ["scans", "alarms", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert '"status": "unregistered"' in result.stdout and business.business.name in result.stdout


def test_rotation_is_configurable(database_url: str, tmp_path: Any) -> None:
    from traceqr.config import load_settings
    from traceqr.errors import ConfigError

    settings = load_settings(
        {"instance_path": tmp_path, "database_url": database_url},
        environ={"TRACEQR_ADDRESS_HASH_ROTATION": "daily", "TRACEQR_SCAN_RETENTION_DAYS": "30"},
    )
    assert (settings.address_hash_rotation, settings.scan_retention_days) == ("daily", 30)
    with pytest.raises(ConfigError, match="ROTATION"):
        load_settings(
            {"instance_path": tmp_path}, environ={"TRACEQR_ADDRESS_HASH_ROTATION": "hourly"}
        )
    with pytest.raises(ConfigError, match="RETENTION"):
        load_settings({"instance_path": tmp_path}, environ={"TRACEQR_SCAN_RETENTION_DAYS": "0"})
    assert isinstance(VerificationService, type)
