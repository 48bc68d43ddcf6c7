"""initial schema: businesses, keys, products, batches, stamps, scans

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "businesses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "name", sa.String(length=200), nullable=False, comment="trading name shown to shoppers"
        ),
        sa.Column("legal_name", sa.String(length=300), nullable=True),
        sa.Column(
            "tax_code", sa.String(length=14), nullable=True, comment="mã số thuế, 10 or 13 digits"
        ),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("phone", sa.String(length=30), nullable=True),
        sa.Column("website", sa.String(length=300), nullable=True),
        sa.Column("address_street", sa.String(length=300), nullable=True),
        sa.Column(
            "address_commune",
            sa.String(length=120),
            nullable=True,
            comment="xã/phường/đặc khu since 1 July 2025",
        ),
        sa.Column(
            "province_code",
            sa.String(length=40),
            nullable=True,
            comment="slug of one of the 34 provinces (data/vn-provinces-2025.csv)",
        ),
        sa.Column(
            "cluster_name",
            sa.String(length=200),
            nullable=True,
            comment="industrial park or cluster it operates in",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_businesses")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column(
            "prefix",
            sa.String(length=16),
            nullable=False,
            comment="first characters, to recognise it",
        ),
        sa.Column(
            "key_hash",
            sa.LargeBinary(length=32),
            nullable=False,
            comment="SHA-256 of the whole key; the key is shown once",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["business_id"], ["businesses.id"], name=op.f("fk_api_keys_business_id_businesses")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_business_id"), ["business_id"], unique=False)

    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column(
            "gtin", sa.String(length=14), nullable=True, comment="GTIN-14, check digit verified"
        ),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("brand", sa.String(length=200), nullable=True),
        sa.Column("category", sa.String(length=200), nullable=True),
        sa.Column(
            "origin", sa.String(length=200), nullable=True, comment="xuất xứ, as on the label"
        ),
        sa.Column("standards", sa.Text(), nullable=True, comment="tiêu chuẩn áp dụng"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"], ["businesses.id"], name=op.f("fk_products_business_id_businesses")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
    )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_products_business_id"), ["business_id"], unique=False)
        batch_op.create_index(
            "uq_products_business_gtin",
            ["business_id", "gtin"],
            unique=True,
            sqlite_where=sa.text("gtin IS NOT NULL"),
            postgresql_where=sa.text("gtin IS NOT NULL"),
        )

    op.create_table(
        "signing_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column("kid", sa.LargeBinary(length=4), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column(
            "status",
            sa.String(length=16),
            nullable=False,
            comment="active (signs) or retired (verifies)",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["business_id"], ["businesses.id"], name=op.f("fk_signing_keys_business_id_businesses")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signing_keys")),
        sa.UniqueConstraint("kid", name=op.f("uq_signing_keys_kid")),
    )
    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_signing_keys_business_id"), ["business_id"], unique=False
        )

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False, comment="stored lower-case"),
        sa.Column(
            "password_hash",
            sa.String(length=200),
            nullable=True,
            comment="argon2id; NULL until the person sets a password",
        ),
        sa.Column("role", sa.String(length=16), nullable=False, comment="owner or staff"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["business_id"], ["businesses.id"], name=op.f("fk_users_business_id_businesses")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_business_id"), ["business_id"], unique=False)

    op.create_table(
        "batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "business_id",
            sa.Integer(),
            nullable=False,
            comment="copied from the product for tenancy",
        ),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column(
            "lot", sa.String(length=20), nullable=False, comment="GS1 AI (10): CSET 82, at most 20"
        ),
        sa.Column("production_date", sa.Date(), nullable=True, comment="NSX"),
        sa.Column("expiry_date", sa.Date(), nullable=True, comment="HSD"),
        sa.Column("quantity", sa.Integer(), nullable=True),
        sa.Column("facility", sa.String(length=300), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("recalled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recall_reason", sa.Text(), nullable=True, comment="shown to the public"),
        sa.Column("stamps_total", sa.Integer(), server_default="0", nullable=False),
        sa.Column("stamps_active", sa.Integer(), server_default="0", nullable=False),
        sa.Column("stamps_revoked", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"], ["businesses.id"], name=op.f("fk_batches_business_id_businesses")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_batches_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batches")),
        sa.UniqueConstraint("product_id", "lot", name="uq_batches_product_lot"),
    )
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_batches_business_id"), ["business_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_batches_product_id"), ["product_id"], unique=False)

    op.create_table(
        "stamps",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("signing_key_id", sa.Integer(), nullable=False),
        sa.Column(
            "seq", sa.Integer(), nullable=False, comment="1, 2, … in issue order within the batch"
        ),
        sa.Column("serial", sa.LargeBinary(length=10), nullable=False, comment="80 random bits"),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
        sa.Column("scan_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("first_scan_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_scan_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_stamps_batch_id_batches")
        ),
        sa.ForeignKeyConstraint(
            ["signing_key_id"],
            ["signing_keys.id"],
            name=op.f("fk_stamps_signing_key_id_signing_keys"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stamps")),
        sa.UniqueConstraint("batch_id", "seq", name="uq_stamps_batch_seq"),
        sa.UniqueConstraint("serial", name=op.f("uq_stamps_serial")),
    )
    op.create_table(
        "scans",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("stamp_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("business_id", sa.Integer(), nullable=True),
        sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "reasons", sa.String(length=200), nullable=False, comment="comma-separated reason codes"
        ),
        sa.Column("channel", sa.String(length=8), nullable=False, comment="page or api"),
        sa.Column(
            "kid", sa.LargeBinary(length=4), nullable=True, comment="for unregistered alarms"
        ),
        sa.Column("serial", sa.LargeBinary(length=10), nullable=True),
        sa.Column("province_code", sa.String(length=40), nullable=True),
        sa.Column(
            "ip_hash",
            sa.LargeBinary(length=16),
            nullable=True,
            comment="keyed hash of the client address, never the address",
        ),
        sa.Column("device", sa.String(length=16), nullable=True, comment="coarse device family"),
        sa.ForeignKeyConstraint(
            ["business_id"], ["businesses.id"], name=op.f("fk_scans_business_id_businesses")
        ),
        sa.ForeignKeyConstraint(["stamp_id"], ["stamps.id"], name=op.f("fk_scans_stamp_id_stamps")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scans")),
    )
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.create_index("ix_scans_business_time", ["business_id", "scanned_at"], unique=False)
        batch_op.create_index("ix_scans_stamp_time", ["stamp_id", "scanned_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_index("ix_scans_stamp_time")
        batch_op.drop_index("ix_scans_business_time")

    op.drop_table("scans")
    op.drop_table("stamps")
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_batches_product_id"))
        batch_op.drop_index(batch_op.f("ix_batches_business_id"))

    op.drop_table("batches")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_business_id"))

    op.drop_table("users")
    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signing_keys_business_id"))

    op.drop_table("signing_keys")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_products_business_gtin",
            sqlite_where=sa.text("gtin IS NOT NULL"),
            postgresql_where=sa.text("gtin IS NOT NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_products_business_id"))

    op.drop_table("products")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_business_id"))

    op.drop_table("api_keys")
    op.drop_table("businesses")
