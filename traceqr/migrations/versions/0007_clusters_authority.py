"""industrial parks and clusters register; authority officials

The register of parks and clusters (the authority keeps it, businesses pick theirs from it);
each business may point to its entry, while the free-text ``cluster_name`` stays, so
existing profiles and stamp pages read as before. Authority officials live in ``officials``
(role ``authority``), which needs no change. Checks no business is behind get a small
partial index for the authority's hot spots.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

WARNINGS = "status IN ('suspicious', 'invalid', 'unregistered')"


def upgrade() -> None:
    op.create_table(
        "clusters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "name", sa.String(length=200), nullable=False, comment="e.g. Cụm công nghiệp Phú Thị"
        ),
        sa.Column(
            "kind",
            sa.String(length=8),
            nullable=False,
            comment="park (khu công nghiệp) or cluster (cụm công nghiệp)",
        ),
        sa.Column("province_code", sa.String(length=40), nullable=False),
        sa.Column(
            "commune",
            sa.String(length=120),
            nullable=True,
            comment="xã/phường it lies in, since 1 July 2025",
        ),
        sa.Column("area_ha", sa.Float(), nullable=True, comment="planned area in hectares"),
        sa.Column(
            "status", sa.String(length=12), nullable=False, comment="founded, building or operating"
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clusters")),
        sa.UniqueConstraint("province_code", "name", name="uq_clusters_province_name"),
    )
    with op.batch_alter_table("clusters", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_clusters_province_code"), ["province_code"], unique=False
        )

    with op.batch_alter_table("businesses", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "cluster_id",
                sa.Integer(),
                nullable=True,
                comment="its park or cluster in the register; cluster_name then repeats its name",
            )
        )
        batch_op.create_index(batch_op.f("ix_businesses_cluster_id"), ["cluster_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_businesses_cluster_id_clusters"), "clusters", ["cluster_id"], ["id"]
        )

    with op.batch_alter_table("scan_daily", schema=None) as batch_op:
        batch_op.create_index("ix_scan_daily_day", ["day"], unique=False)

    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.create_index(
            "ix_scans_unattributed_time",
            ["scanned_at"],
            unique=False,
            sqlite_where=sa.text("business_id IS NULL"),
            postgresql_where=sa.text("business_id IS NULL"),
        )
        batch_op.create_index(
            "ix_scans_warnings_time",
            ["scanned_at"],
            unique=False,
            sqlite_where=sa.text(WARNINGS),
            postgresql_where=sa.text(WARNINGS),
        )


def downgrade() -> None:
    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_scans_warnings_time",
            sqlite_where=sa.text(WARNINGS),
            postgresql_where=sa.text(WARNINGS),
        )
        batch_op.drop_index(
            "ix_scans_unattributed_time",
            sqlite_where=sa.text("business_id IS NULL"),
            postgresql_where=sa.text("business_id IS NULL"),
        )
    with op.batch_alter_table("scan_daily", schema=None) as batch_op:
        batch_op.drop_index("ix_scan_daily_day")
    with op.batch_alter_table("businesses", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_businesses_cluster_id_clusters"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_businesses_cluster_id"))
        batch_op.drop_column("cluster_id")
    with op.batch_alter_table("clusters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_clusters_province_code"))
    op.drop_table("clusters")
