"""inspectors: service keys, flags

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kid", sa.LargeBinary(length=4), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column(
            "purpose",
            sa.String(length=32),
            nullable=False,
            comment="documents: case files, reports",
        ),
        sa.Column("status", sa.String(length=16), nullable=False, comment="active or retired"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_keys")),
        sa.UniqueConstraint("kid", name=op.f("uq_service_keys_kid")),
    )
    op.create_table(
        "flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("stamp_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("official_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_flags_batch_id_batches")
        ),
        sa.ForeignKeyConstraint(
            ["lifted_by"], ["officials.id"], name=op.f("fk_flags_lifted_by_officials")
        ),
        sa.ForeignKeyConstraint(
            ["official_id"], ["officials.id"], name=op.f("fk_flags_official_id_officials")
        ),
        sa.ForeignKeyConstraint(["stamp_id"], ["stamps.id"], name=op.f("fk_flags_stamp_id_stamps")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flags")),
    )
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_flags_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_flags_stamp_id"), ["stamp_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flags_stamp_id"))
        batch_op.drop_index(batch_op.f("ix_flags_batch_id"))

    op.drop_table("flags")
    op.drop_table("service_keys")
