"""independent checks, forged codes kept apart

The copy rules count a client's repeated checks of a stamp within 10 minutes once: each
stamp keeps that count beside ``scan_count`` (which stays the number of verifications).
Stamps checked before this migration start from their scan count: what was counted stays
counted.

A forged code (a bad signature) is no longer the check of the business its key id names:
its scan keeps ``business_id`` empty and names that business in ``claimed_business_id``,
and it is counted per day in ``forged_daily``, never in ``scan_daily``. Forged codes
recorded before this migration stay where they were counted.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stamps") as batch:
        batch.add_column(
            sa.Column(
                "independent_checks",
                sa.Integer(),
                server_default="0",
                nullable=False,
                comment="checks the copy rules count: a client's repeats within 10 minutes once",
            )
        )
    op.execute("UPDATE stamps SET independent_checks = scan_count WHERE scan_count > 0")
    with op.batch_alter_table("scans") as batch:
        batch.add_column(
            sa.Column(
                "claimed_business_id",
                sa.Integer(),
                nullable=True,
                comment="a forged code (bad signature): the business its key id names; "
                "business_id stays empty, it is not that business's check",
            )
        )
        batch.create_foreign_key(
            batch.f("fk_scans_claimed_business_id_businesses"),
            "businesses",
            ["claimed_business_id"],
            ["id"],
        )
    op.create_table(
        "forged_daily",
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column(
            "province_code",
            sa.String(length=40),
            nullable=False,
            comment="empty when the shopper gave no place",
        ),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"], ["businesses.id"], name=op.f("fk_forged_daily_business_id_businesses")
        ),
        sa.PrimaryKeyConstraint(
            "business_id", "day", "province_code", name=op.f("pk_forged_daily")
        ),
    )


def downgrade() -> None:
    op.drop_table("forged_daily")
    with op.batch_alter_table("scans") as batch:
        batch.drop_constraint("fk_scans_claimed_business_id_businesses", type_="foreignkey")
        batch.drop_column("claimed_business_id")
    with op.batch_alter_table("stamps") as batch:
        batch.drop_column("independent_checks")
