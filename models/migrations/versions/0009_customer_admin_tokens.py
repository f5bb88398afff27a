"""customer admin tokens: a wholesale API token is a partner admin's (``kind`` ``partner``,
every token so far) or a customer admin's (``customer_admin``), scoped to one wholesale
customer (``customer_id``); WH-C6's restricted-by-partner mode refuses such a token what the
rule lists while the customer's partner keeps it on (issue 13)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 10:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "wholesale_api_token",
        sa.Column(
            "kind",
            sqlmodel.sql.sqltypes.AutoString(length=16),
            nullable=False,
            server_default="partner",
        ),
    )
    op.add_column(
        "wholesale_api_token",
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    )
    op.create_index(
        op.f("ix_wholesale_api_token_customer_id"),
        "wholesale_api_token",
        ["customer_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_wholesale_api_token_customer_id"), table_name="wholesale_api_token")
    op.drop_column("wholesale_api_token", "customer_id")
    op.drop_column("wholesale_api_token", "kind")
