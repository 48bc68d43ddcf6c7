"""Shared fixtures: a real database (SQLite by default, PostgreSQL when
TRACEQR_TEST_DATABASE_URL names a server), migrated once per run, emptied after each test.

On PostgreSQL a run creates its own database and drops it at the end, so runs never see
each other's data even on a shared server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from sqlalchemy import create_engine, make_url, text

from traceqr import create_app
from traceqr.db import Database, upgrade_schema
from traceqr.models import Base
from traceqr.services.businesses import NewBusiness, create_business
from traceqr.services.identity import Reviewer
from traceqr.state import AppState

settings.register_profile(
    "traceqr", deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
settings.load_profile("traceqr")

PUBLIC_URL = "https://traceqr.example.vn"
PG_URL = os.environ.get("TRACEQR_TEST_DATABASE_URL")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not PG_URL:
        path = tmp_path_factory.mktemp("db") / "traceqr-test.sqlite3"
        url = f"sqlite:///{path}"
        database = Database(url)
        upgrade_schema(database)
        database.dispose()
        yield url
        return

    admin_url = make_url(PG_URL)
    name = f"traceqr_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    database = Database(url)
    upgrade_schema(database)
    database.dispose()
    try:
        yield url
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


def empty_database(url: str) -> None:
    database = Database(url)
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    with database.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))
    database.dispose()


@pytest.fixture
def instance_path(tmp_path: Path) -> Path:
    path = tmp_path / "instance"
    path.mkdir()
    return path


@pytest.fixture
def make_app(database_url: str, instance_path: Path) -> Iterator[Any]:
    """Build apps on the test database; everything they wrote is removed afterwards."""
    apps: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        config: dict[str, Any] = {
            "instance_path": instance_path,
            "database_url": database_url,
            "public_url": PUBLIC_URL,
            "rate_limits_enabled": False,
            "TESTING": True,
        }
        config.update(overrides)
        app = create_app(config)
        apps.append(app)
        return app

    yield build
    for app in apps:
        AppState.of(app).database.dispose()
    empty_database(database_url)


@pytest.fixture
def app(make_app: Any) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def state(app: Flask) -> AppState:
    return AppState.of(app)


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 11, 12, 3, 0, tzinfo=UTC)


@pytest.fixture
def make_business(state: AppState) -> Any:
    counter = iter(range(1, 10_000))

    def create(
        name: str | None = None,
        password: str | None = None,
        *,
        verified: bool = True,
        **profile: Any,
    ) -> NewBusiness:
        """A business; without ``password`` its owner cannot sign in (and no argon2 cost).
        ``verified`` (the default): created as the operator creates one it vouches for,
        issuing live stamps; otherwise as a sign-up, issuing test stamps."""
        n = next(counter)
        with state.database.session() as session:
            return create_business(
                session,
                state.keystore,
                name=name or f"Business {n}",
                email=f"owner{n}-{uuid.uuid4().hex[:6]}@example.vn",
                password=password,
                now=datetime.now(UTC),
                profile=profile,
                vouched_by=Reviewer.operator("tests") if verified else None,
            )

    return create


class Api:
    """A test client speaking the JSON API with one business's key."""

    def __init__(self, client: FlaskClient, api_key: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {api_key}"}

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get("/api/v1" + path, headers=self.headers, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        return self.client.post("/api/v1" + path, json=json, headers=self.headers, **kwargs)

    def product(self, **fields: Any) -> dict[str, Any]:
        response = self.post("/products", {"name": "Nước mắm Phú Quốc", **fields})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def batch(self, product_id: int | None = None, **fields: Any) -> dict[str, Any]:
        if product_id is None:
            product_id = self.product()["id"]
        body = {"lot": f"L{uuid.uuid4().hex[:8].upper()}", **fields}
        response = self.post(f"/products/{product_id}/batches", body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def issue(self, batch_id: int, count: int, **fields: Any) -> dict[str, Any]:
        response = self.post(f"/batches/{batch_id}/stamps", {"count": count, **fields})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def stamp_urls(self, batch_id: int) -> list[str]:
        import csv
        import io

        response = self.get(f"/batches/{batch_id}/stamps.csv")
        assert response.status_code == 200
        return [row["url"] for row in csv.DictReader(io.StringIO(response.get_data(as_text=True)))]

    def verify(self, text: str, **params: Any) -> dict[str, Any]:
        response = self.client.get("/api/v1/verify", query_string={"q": text, **params})
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()


@pytest.fixture
def business(make_business: Any) -> NewBusiness:
    return make_business(
        "Gốm sứ Bát Tràng Test",
        address_street="Số 1 Giang Cao",
        address_commune="Xã Bát Tràng",
        province_code="ha-noi",
        cluster_name="Cụm công nghiệp làng nghề Bát Tràng",
    )


@pytest.fixture
def api(client: FlaskClient, business: NewBusiness) -> Api:
    return Api(client, business.api_key)


@pytest.fixture
def other_api(client: FlaskClient, make_business: Any) -> Api:
    return Api(client, make_business("Another Business").api_key)
