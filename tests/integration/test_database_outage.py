"""The database goes away and comes back: shoppers get a clear 503, nothing crashes, and
the same running app serves again once the database is back, with no restart.

The test runs its own PostgreSQL server (never the shared one) and stops it with
`pg_ctl stop -m fast`, as a failover or a restart would.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from tests.conftest import PUBLIC_URL, Api
from tests.private_postgres import PrivatePostgres
from tests.servers import Server, descendants, service_env
from tests.web.portal_client import PortalClient
from traceqr import create_app
from traceqr.db import upgrade_schema
from traceqr.services.businesses import NewBusiness, create_business
from traceqr.services.identity import Reviewer
from traceqr.state import AppState

pytestmark = pytest.mark.slow


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture
def outage_app(postgres: PrivatePostgres, tmp_path: Path) -> Iterator[Flask]:
    app = create_app(
        {
            "instance_path": tmp_path / "instance",
            "database_url": postgres.url,
            "public_url": PUBLIC_URL,
            "rate_limits_enabled": False,
            "TESTING": True,  # an unhandled error raises here instead of becoming a 500
        }
    )
    state = AppState.of(app)
    upgrade_schema(state.database)
    yield app
    state.database.dispose()


def register(state: AppState, name: str, email: str, password: str | None = None) -> NewBusiness:
    """A business with its API key, straight through the service."""
    with state.database.session() as session:
        return create_business(
            session,
            state.keystore,
            name=name,
            email=email,
            password=password,
            now=datetime.now(UTC),
            profile={},
            vouched_by=Reviewer.operator("tests"),
        )


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def check_everything(
    client: FlaskClient, api: Api, portal: PortalClient, stamp_path: str, batch_id: int
) -> dict[str, Any]:
    """One request of each kind a shopper, an inspector's scanner and a business send."""
    return {
        "portal": portal.get("/portal/").response,
        "page": client.get(stamp_path),
        "page_en": client.get(stamp_path + "?lang=en"),
        "verify": client.get("/api/v1/verify", query_string={"q": PUBLIC_URL + stamp_path}),
        "batch": api.get(f"/batches/{batch_id}"),
        "healthz": client.get("/healthz"),
        "jwks": client.get("/.well-known/jwks.json"),
    }


def test_the_database_stopping_and_starting_again(
    outage_app: Flask, postgres: PrivatePostgres, caplog: pytest.LogCaptureFixture
) -> None:
    state = AppState.of(outage_app)
    owner = register(
        state, "Hợp tác xã chè Tân Cương", "che@example.vn", password="correct horse battery"
    )
    client = outage_app.test_client()
    api = Api(client, owner.api_key)
    batch = api.batch()
    api.issue(batch["id"], 3)
    stamp_path = path_of(api.stamp_urls(batch["id"])[0])
    portal = PortalClient(outage_app.test_client())
    assert portal.login("che@example.vn").status == 200

    before = check_everything(client, api, portal, stamp_path, batch["id"])
    assert {name: r.status_code for name, r in before.items()} == dict.fromkeys(before, 200)
    assert before["verify"].get_json()["scans"]["count"] == 3  # page, page_en, verify

    postgres.stop()
    caplog.clear()
    with caplog.at_level(logging.INFO):
        down = [check_everything(client, api, portal, stamp_path, batch["id"]) for _ in range(2)]
    for answers in down:
        statuses = {name: r.status_code for name, r in answers.items()}
        assert statuses == dict.fromkeys(answers, 503), statuses
        for response in answers.values():
            assert "Traceback" not in response.get_data(as_text=True)

        page = answers["page"].get_data(as_text=True)
        assert '<html lang="vi"' in page
        assert "Dịch vụ tạm thời không kết nối được cơ sở dữ liệu" in page
        assert answers["page"].headers["Retry-After"] == "30"
        assert "cannot reach its database" in answers["page_en"].get_data(as_text=True)

        for name in ("verify", "batch"):
            error = answers[name].get_json()["error"]
            assert error["code"] == "unavailable", error
            assert answers[name].headers["Retry-After"] == "30"
        assert answers["healthz"].get_json()["status"] == "unavailable"
    assert not [r for r in caplog.records if r.exc_info], "no tracebacks in the log"

    postgres.start()
    after = check_everything(client, api, portal, stamp_path, batch["id"])
    statuses = {name: r.status_code for name, r in after.items()}
    assert statuses == dict.fromkeys(after, 200), statuses
    assert after["healthz"].get_json() == {"status": "ok", "database": "ok"}
    # Checks answered 503 were never counted: 3 before, then page, page_en and this one.
    verified: dict[str, Any] = after["verify"].get_json()
    assert verified["status"] == "genuine"
    assert verified["scans"]["count"] == 6
    assert api.issue(batch["id"], 2)["first_seq"] == 4


def test_gunicorn_workers_survive_an_outage_and_serve_again(
    outage_app: Flask, postgres: PrivatePostgres, tmp_path: Path
) -> None:
    """The same, through a real gunicorn with two workers: no worker dies, no 500."""
    state = AppState.of(outage_app)
    owner = register(state, "Cơ sở nước mắm", "nuocmam@example.vn")
    api = Api(outage_app.test_client(), owner.api_key)
    batch = api.batch()
    api.issue(batch["id"], 2)
    stamp_path = path_of(api.stamp_urls(batch["id"])[0])
    state.database.dispose()

    env = service_env(postgres.url, state.settings.instance_path)
    server = Server(env, tmp_path / "gunicorn.log", workers=2)
    try:
        workers_before = sorted(descendants(server.popen.pid))
        verify = f"/api/v1/verify?q={quote(PUBLIC_URL + stamp_path, safe='')}"
        assert server.request("GET", stamp_path)[0] == 200

        postgres.stop()
        for _ in range(3):
            assert server.request("GET", stamp_path)[0] == 503
            status, body = server.request("GET", verify)
            assert (status, body["error"]["code"]) == (503, "unavailable")
            status, body = server.request("GET", "/healthz")
            assert (status, body["status"]) == (503, "unavailable")

        postgres.start()
        status, body = server.request("GET", verify)
        assert status == 200 and body["status"] == "genuine"
        assert body["scans"]["count"] == 2  # the page before the outage, and this one
        assert server.request("GET", stamp_path)[0] == 200
        assert server.request("GET", "/healthz") == (200, {"status": "ok", "database": "ok"})
        assert sorted(descendants(server.popen.pid)) == workers_before, "no worker restarted"
    finally:
        server.stop()
    log = server.log()
    assert "Traceback" not in log and "WORKER TIMEOUT" not in log, log


def test_a_database_host_that_never_answers_gets_a_503_not_a_hung_request(
    tmp_path: Path,
) -> None:
    """A host that accepts the connection and says nothing (a failover half-way) must not
    hold the request for ever: the connection attempt gives up and the shopper gets 503."""
    import socket
    import threading

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # the kernel completes the handshake; nobody ever speaks
    port = silent.getsockname()[1]
    app = create_app(
        {
            "instance_path": tmp_path / "instance",
            "database_url": f"postgresql+psycopg://postgres@127.0.0.1:{port}/traceqr",
            "public_url": PUBLIC_URL,
            "rate_limits_enabled": False,
            "TESTING": True,
        }
    )
    answers: dict[str, Any] = {}

    def ask() -> None:
        client = app.test_client()
        answers["verify"] = client.get("/api/v1/verify", query_string={"q": "ABC"})
        answers["healthz"] = client.get("/healthz")

    try:
        asking = threading.Thread(target=ask, daemon=True)
        asking.start()
        asking.join(timeout=120)  # a guard: without a connect timeout this never ends
        assert not asking.is_alive(), "the request hung on a database that never answers"
    finally:
        silent.close()
        AppState.of(app).database.dispose()
    assert answers["verify"].status_code == 503
    assert answers["verify"].get_json()["error"]["code"] == "unavailable"
    assert answers["healthz"].status_code == 503


def test_a_pooled_connection_that_died_while_idle_is_replaced_before_use(
    outage_app: Flask, postgres: PrivatePostgres
) -> None:
    """A pooled connection the server dropped while it sat idle (a restart, a failover, a
    firewall's idle timeout) must be replaced before a shopper's check uses it, not fail
    the check."""
    state = AppState.of(outage_app)
    owner = register(state, "Cơ sở mật ong", "matong@example.vn")
    client = outage_app.test_client()
    api = Api(client, owner.api_key)
    batch = api.batch()
    api.issue(batch["id"], 1)
    verify = {"q": api.stamp_urls(batch["id"])[0]}
    assert client.get("/api/v1/verify", query_string=verify).status_code == 200

    # Every connection the app's pool holds is cut by the server, as a failover would.
    admin_engine = create_engine(postgres.url, isolation_level="AUTOCOMMIT")
    try:
        with admin_engine.connect() as admin:
            cut = admin.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
    finally:
        admin_engine.dispose()
    assert cut >= 1
    time.sleep(1.2)  # the pool's connections sat idle

    answers = [client.get("/api/v1/verify", query_string=verify) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert [answer.get_json()["scans"]["count"] for answer in answers] == [2, 3, 4]
    assert client.get("/healthz").get_json() == {"status": "ok", "database": "ok"}
