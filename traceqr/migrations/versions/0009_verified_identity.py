"""verified identity: verification requests, frozen identity, test keys, GTIN ownership

A business's identity is checked by a reviewer before it issues live stamps. Existing
businesses stay ``unverified`` until the operator vouches for them (``traceqr business
verify ID``): this migration verifies nobody. Their existing keys keep signing as before
(``purpose`` live) and their printed stamps keep verifying; new stamps of a business that
is not verified are test stamps, signed by a test key made when first needed.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

VERIFIED = sa.text("verification_status = 'verified'")


def upgrade() -> None:
    with op.batch_alter_table("businesses") as batch:
        batch.add_column(
            sa.Column(
                "legal_representative",
                sa.String(length=120),
                nullable=True,
                comment="người đại diện theo pháp luật",
            )
        )
        batch.add_column(
            sa.Column(
                "verification_status",
                sa.String(length=12),
                server_default="unverified",
                nullable=False,
                comment="unverified (test stamps only), verified (live stamps) or withdrawn",
            )
        )
        batch.add_column(sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column(
                "verified_by",
                sa.String(length=200),
                nullable=True,
                comment="the reviewing body, e.g. Sở Công Thương Thành phố Hà Nội",
            )
        )
        batch.add_column(
            sa.Column(
                "withdrawn_at",
                sa.DateTime(timezone=True),
                nullable=True,
                comment="verification withdrawn: its stamps issued from then on are invalid",
            )
        )
        batch.add_column(sa.Column("withdrawal_reason", sa.Text(), nullable=True))
    op.create_index(
        "uq_businesses_verified_tax_code",
        "businesses",
        ["tax_code"],
        unique=True,
        sqlite_where=VERIFIED,
        postgresql_where=VERIFIED,
    )

    with op.batch_alter_table("signing_keys") as batch:
        batch.add_column(
            sa.Column(
                "purpose",
                sa.String(length=8),
                server_default="live",
                nullable=False,
                comment="live (stamps for goods) or test (an unverified business's test stamps)",
            )
        )
        batch.add_column(
            sa.Column(
                "withdrawn_at",
                sa.DateTime(timezone=True),
                nullable=True,
                comment="its business's verification withdrawn from this time on",
            )
        )
        batch.add_column(sa.Column("withdrawal_reason", sa.Text(), nullable=True))

    op.create_table(
        "verification_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.String(length=12),
            nullable=False,
            comment="pending, approved, rejected or cancelled (a newer request)",
        ),
        sa.Column(
            "name", sa.String(length=200), nullable=False, comment="the name shown to shoppers"
        ),
        sa.Column("legal_name", sa.String(length=300), nullable=False),
        sa.Column("tax_code", sa.String(length=14), nullable=False),
        sa.Column(
            "address_street", sa.String(length=300), nullable=False, comment="registered address"
        ),
        sa.Column("address_commune", sa.String(length=120), nullable=True),
        sa.Column("province_code", sa.String(length=40), nullable=False),
        sa.Column("legal_representative", sa.String(length=120), nullable=False),
        sa.Column(
            "gs1_prefixes",
            sa.String(length=400),
            nullable=True,
            comment="comma-separated GS1 company prefixes claimed",
        ),
        sa.Column(
            "registration_document",
            sa.String(length=80),
            nullable=False,
            comment="private upload: the business registration certificate (GCN ĐKDN)",
        ),
        sa.Column(
            "gs1_document",
            sa.String(length=80),
            nullable=True,
            comment="private upload: the GS1 Vietnam membership certificate",
        ),
        sa.Column("submitted_by", sa.Integer(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "decided_by",
            sa.String(length=200),
            nullable=True,
            comment="who decided: official:<id> or operator:<login>",
        ),
        sa.Column("decision_reason", sa.Text(), nullable=True, comment="shown to the business"),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["businesses.id"],
            name=op.f("fk_verification_requests_business_id_businesses"),
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by"], ["users.id"], name=op.f("fk_verification_requests_submitted_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_requests")),
    )
    op.create_index(
        op.f("ix_verification_requests_business_id"), "verification_requests", ["business_id"]
    )
    op.create_index(
        "ix_verification_requests_status", "verification_requests", ["status", "submitted_at"]
    )

    op.create_table(
        "gs1_prefixes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False, comment="6 to 12 digits"),
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"], ["businesses.id"], name=op.f("fk_gs1_prefixes_business_id_businesses")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gs1_prefixes")),
        sa.UniqueConstraint("prefix", name=op.f("uq_gs1_prefixes_prefix")),
    )
    op.create_index(op.f("ix_gs1_prefixes_business_id"), "gs1_prefixes", ["business_id"])

    op.create_table(
        "gtin_owners",
        sa.Column("gtin", sa.String(length=14), nullable=False, comment="GTIN-14"),
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"], ["businesses.id"], name=op.f("fk_gtin_owners_business_id_businesses")
        ),
        sa.PrimaryKeyConstraint("gtin", name=op.f("pk_gtin_owners")),
    )
    op.create_index(op.f("ix_gtin_owners_business_id"), "gtin_owners", ["business_id"])

    op.create_table(
        "identity_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.String(length=24),
            nullable=False,
            comment="tax_code_taken, gtin_taken, gtin_outside_prefixes, prefix_taken",
        ),
        sa.Column(
            "business_id",
            sa.Integer(),
            nullable=False,
            comment="the business that made the claim",
        ),
        sa.Column(
            "other_business_id", sa.Integer(), nullable=True, comment="whose identity it claimed"
        ),
        sa.Column(
            "detail",
            sa.String(length=300),
            nullable=False,
            comment="the tax code, GTIN or prefix",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["business_id"],
            ["businesses.id"],
            name=op.f("fk_identity_alerts_business_id_businesses"),
        ),
        sa.ForeignKeyConstraint(
            ["other_business_id"],
            ["businesses.id"],
            name=op.f("fk_identity_alerts_other_business_id_businesses"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_alerts")),
    )
    op.create_index(op.f("ix_identity_alerts_business_id"), "identity_alerts", ["business_id"])
    op.create_index("ix_identity_alerts_open", "identity_alerts", ["resolved_at", "created_at"])


def downgrade() -> None:
    for index, table in (
        ("ix_identity_alerts_open", "identity_alerts"),
        ("ix_identity_alerts_business_id", "identity_alerts"),
        ("ix_gtin_owners_business_id", "gtin_owners"),
        ("ix_gs1_prefixes_business_id", "gs1_prefixes"),
        ("ix_verification_requests_status", "verification_requests"),
        ("ix_verification_requests_business_id", "verification_requests"),
    ):
        op.drop_index(index, table_name=table)
    for table in ("identity_alerts", "gtin_owners", "gs1_prefixes", "verification_requests"):
        op.drop_table(table)
    with op.batch_alter_table("signing_keys") as batch:
        for column in ("withdrawal_reason", "withdrawn_at", "purpose"):
            batch.drop_column(column)
    op.drop_index("uq_businesses_verified_tax_code", table_name="businesses")
    with op.batch_alter_table("businesses") as batch:
        for column in (
            "withdrawal_reason",
            "withdrawn_at",
            "verified_by",
            "verified_at",
            "verification_status",
            "legal_representative",
        ):
            batch.drop_column(column)
