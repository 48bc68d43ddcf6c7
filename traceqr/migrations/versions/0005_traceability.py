"""traceability: facilities, trace events, inputs, shipments

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "facilities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("business_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind", sa.String(length=40), nullable=True, comment="farm, factory, warehouse, shop …"
        ),
        sa.Column("address", sa.String(length=300), nullable=True),
        sa.Column("province_code", sa.String(length=40), nullable=True),
        sa.Column("gln", sa.String(length=13), nullable=True, comment="GS1 Global Location Number"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["business_id"], ["businesses.id"], name=op.f("fk_facilities_business_id_businesses")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_facilities")),
    )
    with op.batch_alter_table("facilities", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_facilities_business_id"), ["business_id"], unique=False
        )

    op.create_table(
        "trace_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "event_uuid",
            sa.String(length=200),
            nullable=False,
            comment="urn:uuid:… (EPCIS eventID)",
        ),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("business_id", sa.Integer(), nullable=False, comment="who recorded it"),
        sa.Column(
            "kind",
            sa.String(length=24),
            nullable=False,
            comment="ObjectEvent or TransformationEvent",
        ),
        sa.Column("action", sa.String(length=8), nullable=True),
        sa.Column("biz_step", sa.String(length=40), nullable=False),
        sa.Column("disposition", sa.String(length=40), nullable=True),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "time_zone",
            sa.String(length=6),
            nullable=False,
            comment="the offset it happened at: +07:00",
        ),
        sa.Column("facility_id", sa.Integer(), nullable=True),
        sa.Column(
            "place_text", sa.String(length=300), nullable=True, comment="a place outside TraceQR"
        ),
        sa.Column("place_gln", sa.String(length=13), nullable=True),
        sa.Column("source_business_id", sa.Integer(), nullable=True),
        sa.Column(
            "source_text", sa.String(length=300), nullable=True, comment="a sender outside TraceQR"
        ),
        sa.Column("destination_business_id", sa.Integer(), nullable=True),
        sa.Column("destination_text", sa.String(length=300), nullable=True),
        sa.Column("quantity", sa.Float(), nullable=True),
        sa.Column("unit", sa.String(length=8), nullable=True, comment="UN/ECE Rec 20: KGM, EA …"),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column(
            "origin",
            sa.String(length=12),
            nullable=False,
            comment="portal, api, csv, epcis, shipment",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_trace_events_batch_id_batches")
        ),
        sa.ForeignKeyConstraint(
            ["business_id"], ["businesses.id"], name=op.f("fk_trace_events_business_id_businesses")
        ),
        sa.ForeignKeyConstraint(
            ["destination_business_id"],
            ["businesses.id"],
            name=op.f("fk_trace_events_destination_business_id_businesses"),
        ),
        sa.ForeignKeyConstraint(
            ["facility_id"], ["facilities.id"], name=op.f("fk_trace_events_facility_id_facilities")
        ),
        sa.ForeignKeyConstraint(
            ["source_business_id"],
            ["businesses.id"],
            name=op.f("fk_trace_events_source_business_id_businesses"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_events")),
        sa.UniqueConstraint("event_uuid", name=op.f("uq_trace_events_event_uuid")),
    )
    with op.batch_alter_table("trace_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_trace_events_batch_time", ["batch_id", "event_time"], unique=False
        )

    op.create_table(
        "shipments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("from_business_id", sa.Integer(), nullable=False),
        sa.Column("to_business_id", sa.Integer(), nullable=False),
        sa.Column(
            "status", sa.String(length=12), nullable=False, comment="sent, accepted, refused"
        ),
        sa.Column("quantity", sa.Float(), nullable=True),
        sa.Column("unit", sa.String(length=8), nullable=True),
        sa.Column("shipping_event_id", sa.Integer(), nullable=False),
        sa.Column("receiving_event_id", sa.Integer(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_shipments_batch_id_batches")
        ),
        sa.ForeignKeyConstraint(
            ["from_business_id"],
            ["businesses.id"],
            name=op.f("fk_shipments_from_business_id_businesses"),
        ),
        sa.ForeignKeyConstraint(
            ["receiving_event_id"],
            ["trace_events.id"],
            name=op.f("fk_shipments_receiving_event_id_trace_events"),
        ),
        sa.ForeignKeyConstraint(
            ["shipping_event_id"],
            ["trace_events.id"],
            name=op.f("fk_shipments_shipping_event_id_trace_events"),
        ),
        sa.ForeignKeyConstraint(
            ["to_business_id"],
            ["businesses.id"],
            name=op.f("fk_shipments_to_business_id_businesses"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipments")),
    )
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shipments_batch_id"), ["batch_id"], unique=False)
        batch_op.create_index("ix_shipments_to_status", ["to_business_id", "status"], unique=False)

    op.create_table(
        "trace_event_inputs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("gtin", sa.String(length=14), nullable=True),
        sa.Column("lot", sa.String(length=20), nullable=True),
        sa.Column("description", sa.String(length=300), nullable=True),
        sa.Column("quantity", sa.Float(), nullable=True),
        sa.Column("unit", sa.String(length=8), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_trace_event_inputs_batch_id_batches")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["trace_events.id"],
            name=op.f("fk_trace_event_inputs_event_id_trace_events"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trace_event_inputs")),
    )
    with op.batch_alter_table("trace_event_inputs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_trace_event_inputs_batch_id"), ["batch_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_trace_event_inputs_event_id"), ["event_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("trace_event_inputs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trace_event_inputs_event_id"))
        batch_op.drop_index(batch_op.f("ix_trace_event_inputs_batch_id"))

    op.drop_table("trace_event_inputs")
    with op.batch_alter_table("shipments", schema=None) as batch_op:
        batch_op.drop_index("ix_shipments_to_status")
        batch_op.drop_index(batch_op.f("ix_shipments_batch_id"))

    op.drop_table("shipments")
    with op.batch_alter_table("trace_events", schema=None) as batch_op:
        batch_op.drop_index("ix_trace_events_batch_time")

    op.drop_table("trace_events")
    with op.batch_alter_table("facilities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_facilities_business_id"))

    op.drop_table("facilities")
