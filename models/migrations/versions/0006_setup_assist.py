"""setup assist: entitlements (A-Wholesale), projects (one per location)

Revision ID: 0006
Revises: 0003
Create Date: 2026-11-24 11:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0003"
branch_labels = ("setup_assist",)
depends_on = None


def _s(n: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=n)


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "setup_assist_entitlement",
        sa.Column("partner_org_id", _s(40), nullable=False),
        sa.Column("subscription_id", _s(80), nullable=False),
        sa.Column("sku", _s(40), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("ordered_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(["partner_org_id"], ["org.id"]),
        sa.PrimaryKeyConstraint("partner_org_id"),
    )
    op.create_table(
        "setup_assist_project",
        sa.Column("id", _s(40), nullable=False),
        sa.Column("location_id", _s(40), nullable=False),
        sa.Column("workflow_id", _s(80), nullable=False),
        sa.Column("partner_org_id", _s(40), nullable=False),
        sa.Column("sub_partner_org_id", _s(40), nullable=True),
        sa.Column("customer_id", _s(40), nullable=False),
        sa.Column("customer_org_id", _s(40), nullable=False),
        sa.Column("subscription_id", _s(80), nullable=False),
        sa.Column("flow", _s(16), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("country", _s(2), nullable=False),
        sa.Column("submitted_on", sa.Date(), nullable=False),
        sa.Column("completion_date", sa.Date(), nullable=False),
        sa.Column("requester_email", _s(254), nullable=True),
        sa.Column("request_hash", _s(64), nullable=False),
        sa.Column("state", _s(16), nullable=False),
        sa.Column("current_phase", sa.Integer(), nullable=True),
        sa.Column("owed_by", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("next_deadline_at", _ts(), nullable=True),
        sa.Column("next_deadline_kind", _s(48), nullable=True),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.ForeignKeyConstraint(["partner_org_id"], ["org.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("location_id"),
        sa.UniqueConstraint("workflow_id"),
    )
    for col in ("partner_org_id", "sub_partner_org_id", "customer_id", "customer_org_id", "state"):
        op.create_index(f"ix_setup_assist_project_{col}", "setup_assist_project", [col])


def downgrade() -> None:
    op.drop_table("setup_assist_project")
    op.drop_table("setup_assist_entitlement")
