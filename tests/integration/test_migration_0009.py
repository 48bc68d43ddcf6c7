"""Upgrading to 0009 (verified identities) on a database with a business and its printed
stamps: nobody becomes verified by the migration, printed stamps keep verifying, new
stamps are test stamps until the operator vouches, and then the old stamps name the
checked producer too."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select

from tests.conftest import PUBLIC_URL, Api
from tests.integration.test_migration_0008 import as_of_0007, blank_url, migrate
from traceqr import create_app
from traceqr.db import Database
from traceqr.domain.keys import StampSigner, generate_seed, public_key_from_seed
from traceqr.domain.stamp_format import stamp_url
from traceqr.models import Batch, Business, Product, SigningKey, Stamp
from traceqr.services import identity
from traceqr.services.businesses import create_api_key
from traceqr.state import AppState

__all__ = ["blank_url"]  # the fixture, shared with the 0008 test

KID = b"\x0a\x0b\x0c\x0d"
SERIAL = bytes(range(10))


def test_old_businesses_stay_unverified_and_their_printed_stamps_keep_verifying(
    blank_url: str, tmp_path: Path
) -> None:
    database = Database(blank_url)
    instance = tmp_path / "instance"
    instance.mkdir()
    app = create_app(
        {
            "instance_path": instance,
            "database_url": blank_url,
            "public_url": PUBLIC_URL,
            "rate_limits_enabled": False,
            "TESTING": True,
        }
    )
    state = AppState.of(app)
    try:
        migrate(database, "0008")
        seed = generate_seed()
        state.keystore.store(KID, seed)
        signer = StampSigner(KID, seed)
        t0 = datetime(2026, 1, 1, tzinfo=UTC)
        with database.engine.begin() as connection:
            businesses, keys = as_of_0007(Business), as_of_0007(SigningKey)
            business_id = connection.execute(
                insert(businesses)
                .values(
                    name="Gốm cũ",
                    legal_name="HTX Gốm cũ",
                    tax_code="0101234565",
                    email="cu@example.vn",
                    created_at=t0,
                )
                .returning(businesses.c.id)
            ).scalar_one()
            key_id = connection.execute(
                insert(keys)
                .values(
                    business_id=business_id,
                    kid=KID,
                    public_key=public_key_from_seed(seed),
                    status="active",
                    created_at=t0,
                )
                .returning(keys.c.id)
            ).scalar_one()
            product_id = connection.execute(
                insert(Product.__table__)
                .values(business_id=business_id, name="Bình", created_at=t0, updated_at=t0)
                .returning(Product.__table__.c.id)
            ).scalar_one()
            batch_id = connection.execute(
                insert(Batch.__table__)
                .values(
                    business_id=business_id,
                    product_id=product_id,
                    lot="OLD1",
                    created_at=t0,
                    stamps_total=1,
                )
                .returning(Batch.__table__.c.id)
            ).scalar_one()
            connection.execute(
                insert(as_of_0007(Stamp)).values(
                    batch_id=batch_id,
                    signing_key_id=key_id,
                    seq=1,
                    serial=SERIAL,
                    signature=signer.sign_serial(SERIAL),
                    active=True,
                    activated_at=t0,
                    issued_at=t0,
                )
            )
        migrate(database, "head")
        printed = stamp_url(PUBLIC_URL, signer.issue(SERIAL).code)

        with state.database.session() as session:
            business = session.get(Business, business_id)
            key = session.get(SigningKey, key_id)
            assert business is not None and key is not None
            assert business.verification_status == "unverified"
            assert key.purpose == "live"
            api_key = create_api_key(session, business_id, "erp", datetime.now(UTC))[1]
        api = Api(app.test_client(), api_key)

        # The printed stamp: still genuine, but no verified producer is claimed.
        answer = api.verify(printed)
        assert answer["status"] == "genuine" and answer["business"]["verified"] is None
        # New stamps of a business nobody verified are test stamps.
        assert api.issue(batch_id, 1)["test"] is True

        # The operator vouches: the old key is certified with the identity; the printed
        # stamp now names the checked producer, and new stamps are live.
        with state.database.session() as session:
            identity.vouch_for(
                session,
                state.keystore,
                business_id,
                identity.Reviewer.operator("tests", "Sở Công Thương Thành phố Hà Nội"),
                datetime.now(UTC),
            )
        state.verifier.forget_keys()
        answer = api.verify(printed)
        assert answer["status"] == "genuine"
        assert answer["business"]["verified"]["tax_code"] == "0101234565"
        assert answer["business"]["verified"]["legal_name"] == "HTX Gốm cũ"
        assert api.issue(batch_id, 1)["test"] is False
        with state.database.session() as session:
            live = session.scalars(select(SigningKey).where(SigningKey.status == "active")).all()
            assert [key.kid for key in live] == [KID]  # the old key signs on
    finally:
        state.database.dispose()
        database.dispose()
