"""copy detection: places, PINs, flags, policies, reports, inspectors, cases

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "officials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False, comment="inspector or authority"),
        sa.Column(
            "provinces",
            sa.String(length=400),
            nullable=True,
            comment="comma-separated province codes this person covers; empty: all",
        ),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("session_version", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_officials")),
        sa.UniqueConstraint("email", name=op.f("uq_officials_email")),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False, comment="open or closed"),
        sa.Column("opened_by", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["opened_by"], ["officials.id"], name=op.f("fk_cases_opened_by_officials")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
    )
    op.create_table(
        "case_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("official_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("photo", sa.String(length=80), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_notes_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["official_id"], ["officials.id"], name=op.f("fk_case_notes_official_id_officials")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_notes")),
    )
    with op.batch_alter_table("case_notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_notes_case_id"), ["case_id"], unique=False)

    op.create_table(
        "case_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("stamp_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_case_items_batch_id_batches")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_items_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["stamp_id"], ["stamps.id"], name=op.f("fk_case_items_stamp_id_stamps")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_items")),
        sa.UniqueConstraint("case_id", "stamp_id", "batch_id", name="uq_case_items"),
    )
    with op.batch_alter_table("case_items", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_items_case_id"), ["case_id"], unique=False)

    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stamp_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("business_id", sa.Integer(), nullable=True),
        sa.Column(
            "scanned_text",
            sa.String(length=300),
            nullable=True,
            comment="what was scanned, for codes that are not ours",
        ),
        sa.Column("status_at_report", sa.String(length=16), nullable=False),
        sa.Column("shop_name", sa.String(length=200), nullable=True),
        sa.Column("shop_address", sa.String(length=300), nullable=True),
        sa.Column("province_code", sa.String(length=40), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("photo", sa.String(length=80), nullable=True, comment="re-encoded, in uploads/"),
        sa.Column(
            "contact", sa.String(length=200), nullable=True, comment="only if the shopper gives one"
        ),
        sa.Column("ip_hash", sa.LargeBinary(length=16), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["business_id"], ["businesses.id"], name=op.f("fk_reports_business_id_businesses")
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_reports_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["stamp_id"], ["stamps.id"], name=op.f("fk_reports_stamp_id_stamps")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
    )
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reports_business_created", ["business_id", "created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_reports_stamp_id"), ["stamp_id"], unique=False)

    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "with_pin",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
                comment="stamps carry a scratch-off PIN",
            )
        )
        batch_op.add_column(
            sa.Column(
                "flagged_at",
                sa.DateTime(timezone=True),
                nullable=True,
                comment="blacklisted by an inspector: every stamp looks suspicious",
            )
        )
        batch_op.add_column(sa.Column("flag_reason", sa.Text(), nullable=True))

    with op.batch_alter_table("businesses", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "policy_max_scans",
                sa.Integer(),
                nullable=True,
                comment="copy detection: checks before a stamp looks copied (default 20)",
            )
        )
        batch_op.add_column(
            sa.Column(
                "policy_max_speed_kmh",
                sa.Integer(),
                nullable=True,
                comment="copy detection: fastest plausible travel between checks (default 300)",
            )
        )
        batch_op.add_column(
            sa.Column(
                "policy_max_clients",
                sa.Integer(),
                nullable=True,
                comment="copy detection: distinct clients before a stamp looks copied (default 10)",
            )
        )
        batch_op.add_column(
            sa.Column(
                "policy_after_claim",
                sa.Integer(),
                nullable=True,
                comment="copy detection: checks by others allowed after the PIN claim (default 2)",
            )
        )

    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "lat",
                sa.Float(),
                nullable=True,
                comment="latitude rounded to 0.1 degree, only with the shopper's consent",
            )
        )
        batch_op.add_column(sa.Column("lon", sa.Float(), nullable=True))

    with op.batch_alter_table("stamps", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "pin_hash",
                sa.LargeBinary(length=16),
                nullable=True,
                comment="keyed hash of the scratch-off PIN; the PIN itself is not stored",
            )
        )
        batch_op.add_column(
            sa.Column("pin_failures", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("pin_locked_until", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "claimed_at", sa.DateTime(timezone=True), nullable=True, comment="first buyer's PIN"
            )
        )
        batch_op.add_column(
            sa.Column(
                "claimed_by",
                sa.LargeBinary(length=16),
                nullable=True,
                comment="keyed hash of the claiming client's address",
            )
        )
        batch_op.add_column(
            sa.Column(
                "flagged_at",
                sa.DateTime(timezone=True),
                nullable=True,
                comment="inspector blacklist",
            )
        )
        batch_op.add_column(sa.Column("flag_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stamps", schema=None) as batch_op:
        batch_op.drop_column("flag_reason")
        batch_op.drop_column("flagged_at")
        batch_op.drop_column("claimed_by")
        batch_op.drop_column("claimed_at")
        batch_op.drop_column("pin_locked_until")
        batch_op.drop_column("pin_failures")
        batch_op.drop_column("pin_hash")

    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_column("lon")
        batch_op.drop_column("lat")

    with op.batch_alter_table("businesses", schema=None) as batch_op:
        batch_op.drop_column("policy_after_claim")
        batch_op.drop_column("policy_max_clients")
        batch_op.drop_column("policy_max_speed_kmh")
        batch_op.drop_column("policy_max_scans")

    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.drop_column("flag_reason")
        batch_op.drop_column("flagged_at")
        batch_op.drop_column("with_pin")

    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reports_stamp_id"))
        batch_op.drop_index("ix_reports_business_created")

    op.drop_table("reports")
    with op.batch_alter_table("case_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_items_case_id"))

    op.drop_table("case_items")
    with op.batch_alter_table("case_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_notes_case_id"))

    op.drop_table("case_notes")
    op.drop_table("cases")
    op.drop_table("officials")
