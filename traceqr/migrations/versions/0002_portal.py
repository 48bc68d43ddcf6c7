"""portal: staff, images, certifications, jobs, daily scan counts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scan_daily",
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "province_code",
            sa.String(length=40),
            nullable=False,
            comment="empty when the shopper gave no place",
        ),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"], ["businesses.id"], name=op.f("fk_scan_daily_business_id_businesses")
        ),
        sa.PrimaryKeyConstraint(
            "business_id", "day", "status", "province_code", name=op.f("pk_scan_daily")
        ),
    )
    op.create_table(
        "certifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("number", sa.String(length=100), nullable=True, comment="certificate number"),
        sa.Column("issuer", sa.String(length=200), nullable=True),
        sa.Column("grade", sa.String(length=20), nullable=True, comment="e.g. OCOP stars"),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_certifications_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certifications")),
    )
    with op.batch_alter_table("certifications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_certifications_product_id"), ["product_id"], unique=False
        )

    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column(
            "status", sa.String(length=16), nullable=False, comment="queued, running, done, failed"
        ),
        sa.Column("done", sa.Integer(), server_default="0", nullable=False),
        sa.Column("total", sa.Integer(), server_default="0", nullable=False),
        sa.Column("params", sa.Text(), nullable=False, comment="JSON"),
        sa.Column("result", sa.Text(), nullable=True, comment="JSON"),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["business_id"], ["businesses.id"], name=op.f("fk_jobs_business_id_businesses")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_jobs_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_jobs_business_created", ["business_id", "created_at"], unique=False
        )

    op.create_table(
        "product_images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column(
            "filename", sa.String(length=80), nullable=False, comment="random name in uploads/"
        ),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_product_images_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_images")),
        sa.UniqueConstraint("filename", name=op.f("uq_product_images_filename")),
    )
    with op.batch_alter_table("product_images", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_product_images_product_id"), ["product_id"], unique=False
        )

    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "requires_activation",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
                comment="new stamps start inactive, so stolen blank stamps verify as inactive",
            )
        )

    with op.batch_alter_table("businesses", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("logo", sa.String(length=80), nullable=True, comment="file name in uploads/")
        )

    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.create_index(
            "ix_scans_business_warnings",
            ["business_id", "id"],
            unique=False,
            sqlite_where=sa.text("status <> 'genuine'"),
            postgresql_where=sa.text("status <> 'genuine'"),
        )

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name", sa.String(length=120), nullable=True))
        batch_op.add_column(
            sa.Column(
                "session_version",
                sa.Integer(),
                server_default="0",
                nullable=False,
                comment="bumped to sign out every session",
            )
        )
        batch_op.add_column(sa.Column("invited_by", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_users_invited_by_users"), "users", ["invited_by"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_users_invited_by_users"), type_="foreignkey")
        batch_op.drop_column("removed_at")
        batch_op.drop_column("invited_by")
        batch_op.drop_column("session_version")
        batch_op.drop_column("name")

    with op.batch_alter_table("scans", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_scans_business_warnings",
            sqlite_where=sa.text("status <> 'genuine'"),
            postgresql_where=sa.text("status <> 'genuine'"),
        )

    with op.batch_alter_table("businesses", schema=None) as batch_op:
        batch_op.drop_column("logo")

    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.drop_column("requires_activation")

    with op.batch_alter_table("product_images", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_product_images_product_id"))

    op.drop_table("product_images")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_business_created")

    op.drop_table("jobs")
    with op.batch_alter_table("certifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_certifications_product_id"))

    op.drop_table("certifications")
    op.drop_table("scan_daily")
