"""migration into an existing customer: ``migration.existing_customer`` is true when the
users were migrated into a wholesale customer that existed before (a customer admin's own
customer, WH-M3, or one its partner named); a rollback then keeps that customer, its
workflow and its other users (issue 13)

Revision ID: 0010
Revises: 0007
Create Date: 2026-11-22 10:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "migration",
        sa.Column("existing_customer", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("migration", "existing_customer")
