"""wholesale ids: a customer's externalId is unique per owner (the partner, or the
sub-partner that provisioned it), so a sub-partner posting a sibling's externalId is answered
as for an unknown one (issue 9: no existence oracle across sub-partners)

Webex-shaped ids (base64 of ciscospark://us/ORGANIZATION/<uuid>, about 88 characters) are
accepted by the API; no wholesale column has to grow for them: every id a wholesale row
stores is one of this system's own (org ids of the ``org`` table, generated customer,
subscriber and location ids), and a longer id is simply unknown.

Revision ID: 0008
Revises: 0003
Create Date: 2026-11-22 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0003"
branch_labels = ("wholesale_ids",)
depends_on = None

OWNER_EXTERNAL_ID = "uq_wholesale_customer_owner_external_id"


def upgrade() -> None:
    op.drop_constraint(
        "wholesale_customer_partner_org_id_external_id_key", "wholesale_customer", type_="unique"
    )
    op.create_index(
        OWNER_EXTERNAL_ID,
        "wholesale_customer",
        ["partner_org_id", sa.text("coalesce(sub_partner_org_id, '')"), "external_id"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index(OWNER_EXTERNAL_ID, table_name="wholesale_customer")
    op.create_unique_constraint(
        "wholesale_customer_partner_org_id_external_id_key",
        "wholesale_customer",
        ["partner_org_id", "external_id"],
    )
