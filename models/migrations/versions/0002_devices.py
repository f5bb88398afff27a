"""trial devices: device trials, shipments, serials, extension requests

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 12:00:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_trial",
        sa.Column("trial_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("workflow_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("partner_org_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("customer_org_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("trial_days", sa.Integer(), nullable=False),
        sa.Column("first_shipped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("return_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("converted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("overdue_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("returned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("next_deadline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_deadline_kind", sqlmodel.sql.sqltypes.AutoString(length=48), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["trial_id"], ["trial.id"]),
        sa.PrimaryKeyConstraint("trial_id"),
        sa.UniqueConstraint("workflow_id"),
    )
    op.create_index(
        op.f("ix_device_trial_customer_org_id"), "device_trial", ["customer_org_id"], unique=False
    )
    op.create_index(
        op.f("ix_device_trial_partner_org_id"), "device_trial", ["partner_org_id"], unique=False
    )
    op.create_index(op.f("ix_device_trial_state"), "device_trial", ["state"], unique=False)
    op.create_table(
        "device",
        sa.Column("trial_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("serial", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("device_type", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("returned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("return_carrier", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("return_tracking", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.ForeignKeyConstraint(["trial_id"], ["device_trial.trial_id"]),
        sa.PrimaryKeyConstraint("trial_id", "serial"),
    )
    op.create_index(op.f("ix_device_state"), "device", ["state"], unique=False)
    op.create_table(
        "device_extension",
        sa.Column("trial_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True),
        sa.Column("decision_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.ForeignKeyConstraint(["trial_id"], ["device_trial.trial_id"]),
        sa.PrimaryKeyConstraint("trial_id", "seq"),
    )
    op.create_table(
        "device_shipment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trial_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("device_type", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("model", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("country", sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
        sa.Column("region", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("carrier", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("return_label_in_box", sa.Boolean(), nullable=False),
        sa.Column("labels", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["trial_id"], ["device_trial.trial_id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("trial_id", "device_type"),
    )
    op.create_index(
        op.f("ix_device_shipment_trial_id"), "device_shipment", ["trial_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_device_shipment_trial_id"), table_name="device_shipment")
    op.drop_table("device_shipment")
    op.drop_table("device_extension")
    op.drop_index(op.f("ix_device_state"), table_name="device")
    op.drop_table("device")
    op.drop_index(op.f("ix_device_trial_state"), table_name="device_trial")
    op.drop_index(op.f("ix_device_trial_partner_org_id"), table_name="device_trial")
    op.drop_index(op.f("ix_device_trial_customer_org_id"), table_name="device_trial")
    op.drop_table("device_trial")
