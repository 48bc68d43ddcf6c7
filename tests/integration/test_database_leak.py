"""What a stolen copy of the database gives away: no password, API key, PIN, private key,
client address or User-Agent, in any column of any table. The private keys live in the
key store, encrypted under the master key, which is not in the database either."""

from __future__ import annotations

import base64
import csv
import io

from flask import Flask
from sqlalchemy import select

from tests.conftest import Api
from traceqr.models import Base, SigningKey
from traceqr.services.businesses import create_business
from traceqr.services.identity import Reviewer
from traceqr.state import AppState, utcnow

PASSWORD = "mật khẩu rất riêng 2026"
ADDRESS = "203.0.113.199"
USER_AGENT = "Mozilla/5.0 (Linux; Android 14; SM-S918B Build/SecretBuild42) Chrome/130"


def database_dump(state: AppState) -> str:
    """Every value of every row, as text (bytes as hex, base64 and raw)."""
    parts: list[str] = []
    with state.database.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(select(table)):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        raw = bytes(value)
                        parts += [raw.hex(), base64.b64encode(raw).decode(), repr(raw)]
                    else:
                        parts.append(str(value))
    return "\n".join(parts)


def test_a_stolen_database_holds_no_secret(app: Flask) -> None:
    state = AppState.of(app)
    with state.database.session() as session:
        made = create_business(
            session,
            state.keystore,
            name="Cơ sở bị lộ",
            email="owner@leak.example.vn",
            password=PASSWORD,
            now=utcnow(),
            profile={},
            vouched_by=Reviewer.operator("tests"),
        )
    assert made.api_key is not None
    client = app.test_client()
    api = Api(client, made.api_key)
    batch = api.batch(with_pin=True)
    api.issue(batch["id"], 3)
    rows = list(
        csv.DictReader(
            io.StringIO(api.get(f"/batches/{batch['id']}/stamps.csv").get_data(as_text=True))
        )
    )
    for row in rows:  # checks from a shopper's phone
        response = client.get(
            "/api/v1/verify",
            query_string={"q": row["url"]},
            headers={"User-Agent": USER_AGENT},
            environ_base={"REMOTE_ADDR": ADDRESS},
        )
        assert response.status_code == 200
    with state.database.session() as session:
        kid, public = session.execute(
            select(SigningKey.kid, SigningKey.public_key).where(
                SigningKey.business_id == made.business.id
            )
        ).one()
    seed = state.keystore.load_signer(kid, public)._secret[:32]

    dump = database_dump(state)
    assert "owner@leak.example.vn" in dump  # the dump is real: it holds what it should
    secrets = {
        "password": PASSWORD,
        "API key": made.api_key,
        "API key body": made.api_key.removeprefix("tqr_"),
        "client address": ADDRESS,
        "User-Agent": USER_AGENT,
        "Android build": "SecretBuild42",
        "private key (hex)": seed.hex(),
        "private key (base64)": base64.b64encode(seed).decode(),
        **{f"PIN of stamp {row['seq']}": row["pin"] for row in rows},
    }
    found = [name for name, secret in secrets.items() if secret in dump]
    assert found == []

    # The key store holds the private key only encrypted.
    files = list(state.keystore.directory.glob("*.json"))
    assert files
    for path in files:
        text = path.read_text(encoding="ascii")
        assert seed.hex() not in text and base64.b64encode(seed).decode() not in text
        assert path.stat().st_mode & 0o077 == 0  # readable by the service's user only


def test_the_secrets_are_kept_as_one_way_hashes(app: Flask) -> None:
    """Passwords as argon2id, API keys as SHA-256: what the database holds checks a secret
    and cannot give it back."""
    from traceqr.models import ApiKey, User

    state = AppState.of(app)
    with state.database.session() as session:
        made = create_business(
            session,
            state.keystore,
            name="Cơ sở",
            email="hash@example.vn",
            password=PASSWORD,
            now=utcnow(),
            profile={},
            vouched_by=Reviewer.operator("tests"),
        )
        user = session.get(User, made.owner.id)
        key = session.scalar(select(ApiKey).where(ApiKey.business_id == made.business.id))
        assert user is not None and key is not None
        assert user.password_hash.startswith("$argon2id$")
        assert len(key.key_hash) == 32
