"""stamp format per batch: 1 (TraceQR URL) or 2 (GS1 Digital Link)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.add_column(
            sa.Column(
                "stamp_format",
                sa.Integer(),
                server_default="1",
                nullable=False,
                comment="stamp format version of the batch's stamps: 1, or 2 (GS1 Digital Link)",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("stamp_format")
