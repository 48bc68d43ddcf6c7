"""hash-chained audit log; key lifecycle (compromise, certification)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade() -> None:
    with op.batch_alter_table("signing_keys") as batch:
        batch.add_column(
            sa.Column(
                "compromised_at",
                sa.DateTime(timezone=True),
                nullable=True,
                comment="stamps it signed from this time on verify as invalid",
            )
        )
        batch.add_column(sa.Column("compromise_reason", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column(
                "certificate",
                sa.Text(),
                nullable=True,
                comment="JWS by the operator's root key over this key's facts (docs/keys.md)",
            )
        )
    with op.batch_alter_table("stamps") as batch:
        batch.add_column(
            sa.Column(
                "issued_at",
                sa.DateTime(timezone=True),
                nullable=True,
                comment="when it was signed (stamps from before 0008: an upper bound); "
                "decides which stamps a compromised key leaves valid",
            )
        )
    # Stamps issued before this migration have no recorded issue time. Each was signed no
    # later than its activation, and all of them before now: the earliest of the two is an
    # upper bound, which errs towards "signed after" when a key is declared compromised.
    now = datetime.now(UTC)
    bind = op.get_bind()
    stamps = sa.table(
        "stamps",
        sa.column("issued_at", sa.DateTime(timezone=True)),
        sa.column("activated_at", sa.DateTime(timezone=True)),
    )
    value = now.replace(tzinfo=None) if bind.dialect.name == "sqlite" else now
    when = sa.bindparam("now", value, type_=sa.DateTime(timezone=True))
    bind.execute(
        stamps.update().values(
            issued_at=sa.case(
                (stamps.c.activated_at.is_(None), when),
                (stamps.c.activated_at < when, stamps.c.activated_at),
                else_=when,
            )
        )
    )

    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False, comment="1, 2, … without gaps"),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "actor_kind",
            sa.String(length=16),
            nullable=False,
            comment="user, official, api_key, operator (CLI) or system",
        ),
        sa.Column("actor_id", sa.String(length=64), nullable=True),
        sa.Column(
            "action",
            sa.String(length=40),
            nullable=False,
            comment="e.g. stamps.issue, key.compromise",
        ),
        sa.Column(
            "subject", sa.String(length=120), nullable=False, comment="kind:id, e.g. batch:12"
        ),
        sa.Column("details", sa.Text(), nullable=False, comment="canonical JSON"),
        sa.Column(
            "prev_hash", sa.String(length=64), nullable=False, comment="hex; 64 zeros for seq 1"
        ),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
        sa.UniqueConstraint("seq", name=op.f("uq_audit_log_seq")),
    )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    head = sa.table(
        "audit_head", sa.column("id", sa.Integer()), sa.column("seq"), sa.column("hash")
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS}])


def downgrade() -> None:
    op.drop_table("audit_head")
    op.drop_table("audit_log")
    with op.batch_alter_table("stamps") as batch:
        batch.drop_column("issued_at")
    with op.batch_alter_table("signing_keys") as batch:
        batch.drop_column("certificate")
        batch.drop_column("compromise_reason")
        batch.drop_column("compromised_at")
