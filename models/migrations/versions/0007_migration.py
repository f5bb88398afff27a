"""migration: BroadWorks migrations (WH-M1, PX-8), their users, locations, numbers, devices,
soft clients

Revision ID: 0007
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0003"
branch_labels = ("migration",)
depends_on = None


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "migration",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("workflow_id", sa.String(200), nullable=False, index=True),
        sa.Column("partner_org_id", sa.String(40), sa.ForeignKey("org.id"), nullable=False),
        sa.Column("sub_partner_org_id", sa.String(40), nullable=True),
        sa.Column("external_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("admin_email", sa.String(254), nullable=False),
        sa.Column("address", sa.JSON(), nullable=False),
        sa.Column("provisioning_id", sa.String(64), nullable=False),
        sa.Column("started_by", sa.String(254), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("customer_id", sa.String(40), nullable=True),
        sa.Column("org_id", sa.String(40), nullable=True),
        sa.Column("total_users", sa.Integer(), nullable=False),
        sa.Column("users_done", sa.Integer(), nullable=False),
        sa.Column("users_failed", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=False),
        sa.Column("approved_by", sa.String(254), nullable=True),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
    )
    op.create_index("ix_migration_partner_org_id", "migration", ["partner_org_id"])
    op.create_index(
        "uq_migration_open",
        "migration",
        ["partner_org_id", "external_id"],
        unique=True,
        postgresql_where=sa.text("state <> 'rolled_back'"),
    )
    op.create_table(
        "migration_user",
        sa.Column("migration_id", sa.String(40), sa.ForeignKey("migration.id"), primary_key=True),
        sa.Column("idx", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("first_name", sa.String(120), nullable=False),
        sa.Column("last_name", sa.String(120), nullable=False),
        sa.Column("package", sa.String(32), nullable=False),
        sa.Column("extension", sa.String(16), nullable=True),
        sa.Column("number", sa.String(24), nullable=True),
        sa.Column("location_id", sa.String(64), nullable=True),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=False),
        sa.Column("subscriber_id", sa.String(40), nullable=True),
        sa.Column("created_user_id", sa.String(40), nullable=True),
        sa.Column("previous_org_id", sa.String(40), nullable=True),
        sa.Column("client", sa.String(16), nullable=True),
        sa.Column("notice_key", sa.String(300), nullable=True),
        _ts("updated_at"),
    )
    op.create_table(
        "migration_location",
        sa.Column("migration_id", sa.String(40), sa.ForeignKey("migration.id"), primary_key=True),
        sa.Column("location_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("address", sa.JSON(), nullable=False),
        sa.Column("webex_location_id", sa.String(64), nullable=True),
    )
    op.create_table(
        "migration_number",
        sa.Column("migration_id", sa.String(40), sa.ForeignKey("migration.id"), primary_key=True),
        sa.Column("number", sa.String(24), primary_key=True),
        sa.Column("location_id", sa.String(64), nullable=False),
        sa.Column("created", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "migration_device",
        sa.Column("migration_id", sa.String(40), sa.ForeignKey("migration.id"), primary_key=True),
        sa.Column("mac", sa.String(12), primary_key=True),
        sa.Column("model", sa.String(80), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False, index=True),
        sa.Column("state", sa.String(16), nullable=False),
        _ts("moved_at"),
    )
    op.create_table(
        "migration_soft_client",
        sa.Column("migration_id", sa.String(40), sa.ForeignKey("migration.id"), primary_key=True),
        sa.Column("owner", sa.String(64), primary_key=True),
        sa.Column("platform", sa.String(16), primary_key=True),
        sa.Column("client", sa.String(16), nullable=False),
        _ts("upgraded_at"),
    )


def downgrade() -> None:
    for table in (
        "migration_soft_client",
        "migration_device",
        "migration_number",
        "migration_location",
        "migration_user",
    ):
        op.drop_table(table)
    op.drop_index("uq_migration_open", table_name="migration")
    op.drop_index("ix_migration_partner_org_id", table_name="migration")
    op.drop_table("migration")
