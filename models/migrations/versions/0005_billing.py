"""billing: usage per day, closed days, id copies kept by triggers, charges, reports

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-24 10:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0003"
branch_labels = ("billing",)
depends_on = None


def _s(n: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=n)


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


# Billing keeps its own copy of the ids a report shows: a customer or subscriber removed
# mid-day (its wholesale rows deleted) still reports its org, subscription and user ids.
CUSTOMER_REF = """
CREATE FUNCTION billing_keep_customer_ref() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO billing_customer_ref AS r (customer_id, org_id, external_id, partner_org_id,
      sub_partner_org_id, subscription_id, updated_at)
  VALUES (NEW.id, NEW.org_id, NEW.external_id, NEW.partner_org_id, NEW.sub_partner_org_id,
      COALESCE(
        (SELECT sp.subscription_id FROM wholesale_sub_partner sp
          WHERE sp.org_id = NEW.sub_partner_org_id),
        (SELECT t.subscription_id FROM wholesale_template t WHERE t.id = NEW.provisioning_id)),
      now())
  ON CONFLICT (customer_id) DO UPDATE SET
    org_id = COALESCE(EXCLUDED.org_id, r.org_id),
    external_id = EXCLUDED.external_id,
    subscription_id = COALESCE(EXCLUDED.subscription_id, r.subscription_id),
    updated_at = EXCLUDED.updated_at
  WHERE r.org_id IS DISTINCT FROM COALESCE(EXCLUDED.org_id, r.org_id)
     OR r.external_id IS DISTINCT FROM EXCLUDED.external_id
     OR r.subscription_id IS DISTINCT FROM COALESCE(EXCLUDED.subscription_id, r.subscription_id);
  RETURN NULL;
END $$;
CREATE TRIGGER billing_customer_ref AFTER INSERT OR UPDATE ON wholesale_customer
  FOR EACH ROW EXECUTE FUNCTION billing_keep_customer_ref();
"""

SUBSCRIBER_REF = """
CREATE FUNCTION billing_keep_subscriber_ref() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO billing_subscriber_ref AS r (subscriber_id, customer_id, user_id, updated_at)
  VALUES (NEW.id, NEW.customer_id, NEW.person_id, now())
  ON CONFLICT (subscriber_id) DO UPDATE SET
    user_id = COALESCE(EXCLUDED.user_id, r.user_id), updated_at = EXCLUDED.updated_at
  WHERE r.user_id IS DISTINCT FROM COALESCE(EXCLUDED.user_id, r.user_id);
  RETURN NULL;
END $$;
CREATE TRIGGER billing_subscriber_ref AFTER INSERT OR UPDATE ON wholesale_subscriber
  FOR EACH ROW EXECUTE FUNCTION billing_keep_subscriber_ref();
"""

BACKFILL = """
INSERT INTO billing_customer_ref (customer_id, org_id, external_id, partner_org_id,
    sub_partner_org_id, subscription_id, updated_at)
SELECT c.id, c.org_id, c.external_id, c.partner_org_id, c.sub_partner_org_id,
    COALESCE(sp.subscription_id, t.subscription_id), now()
FROM wholesale_customer c
LEFT JOIN wholesale_sub_partner sp ON sp.org_id = c.sub_partner_org_id
LEFT JOIN wholesale_template t ON t.id = c.provisioning_id;
INSERT INTO billing_subscriber_ref (subscriber_id, customer_id, user_id, updated_at)
SELECT s.id, s.customer_id, s.person_id, now() FROM wholesale_subscriber s;
"""


def upgrade() -> None:
    op.create_table(
        "billing_usage",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("subscriber_id", _s(40), nullable=False),
        sa.Column("package", _s(32), nullable=False),
        sa.Column("partner_org_id", _s(40), nullable=False),
        sa.Column("sub_partner_org_id", _s(40), nullable=True),
        sa.Column("customer_id", _s(40), nullable=False),
        sa.Column("external_customer_id", _s(256), nullable=False),
        sa.Column("customer_org_id", _s(40), nullable=True),
        sa.Column("subscription_id", _s(80), nullable=True),
        sa.Column("user_id", _s(40), nullable=True),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.Column("day_seconds", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Numeric(9, 6), nullable=False),
        sa.PrimaryKeyConstraint("day", "subscriber_id", "package"),
    )
    op.create_index("ix_billing_usage_partner_day", "billing_usage", ["partner_org_id", "day"])
    op.create_index(
        "ix_billing_usage_sub_partner_day", "billing_usage", ["sub_partner_org_id", "day"]
    )
    op.create_table(
        "billing_usage_day",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("timezone", _s(64), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Numeric(16, 6), nullable=False),
        sa.Column("closed_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("day"),
    )
    op.create_table(
        "billing_customer_ref",
        sa.Column("customer_id", _s(40), nullable=False),
        sa.Column("org_id", _s(40), nullable=True),
        sa.Column("external_id", _s(256), nullable=False),
        sa.Column("partner_org_id", _s(40), nullable=False),
        sa.Column("sub_partner_org_id", _s(40), nullable=True),
        sa.Column("subscription_id", _s(80), nullable=True),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id"),
    )
    op.create_table(
        "billing_subscriber_ref",
        sa.Column("subscriber_id", _s(40), nullable=False),
        sa.Column("customer_id", _s(40), nullable=False),
        sa.Column("user_id", _s(40), nullable=True),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("subscriber_id"),
    )
    op.create_table(
        "billing_charge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_key", _s(200), nullable=False),
        sa.Column("partner_org_id", _s(40), nullable=False),
        sa.Column("sub_partner_org_id", _s(40), nullable=True),
        sa.Column("customer_id", _s(40), nullable=True),
        sa.Column("customer_org_id", _s(40), nullable=True),
        sa.Column("external_customer_id", _s(256), nullable=True),
        sa.Column("subscription_id", _s(80), nullable=True),
        sa.Column("service_name", _s(40), nullable=False),
        sa.Column("sku", _s(40), nullable=False),
        sa.Column("description", _s(200), nullable=False),
        sa.Column("quantity", sa.Numeric(12, 6), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_key"),
    )
    op.create_index("ix_billing_charge_partner_day", "billing_charge", ["partner_org_id", "day"])
    op.create_table(
        "billing_report",
        sa.Column("id", _s(120), nullable=False),
        sa.Column("partner_org_id", _s(40), nullable=False),
        sa.Column("sub_partner_org_id", _s(40), nullable=True),
        sa.Column("type", _s(8), nullable=False),
        sa.Column("category", _s(16), nullable=False),
        sa.Column("billing_start_date", sa.Date(), nullable=False),
        sa.Column("billing_end_date", sa.Date(), nullable=False),
        sa.Column("internal", sa.Boolean(), nullable=False),
        sa.Column("status", _s(16), nullable=False),
        sa.Column("errors", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("created_by", _s(80), nullable=False),
        sa.Column("completed_at", _ts(), nullable=True),
        sa.Column("file_name", _s(200), nullable=True),
        sa.Column("file_token", _s(64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_billing_report_partner_org_id", "billing_report", ["partner_org_id"])
    op.create_index(
        "ix_billing_report_sub_partner_org_id", "billing_report", ["sub_partner_org_id"]
    )
    op.create_index(
        "uq_billing_report_once",
        "billing_report",
        [
            "partner_org_id",
            sa.text("coalesce(sub_partner_org_id, '')"),
            "type",
            "billing_start_date",
            "billing_end_date",
        ],
        unique=True,
        postgresql_where=sa.text("status IN ('IN_PROGRESS', 'COMPLETED')"),
    )
    op.create_table(
        "billing_reconciliation_month",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("reports", sa.Integer(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("month"),
    )
    op.execute(CUSTOMER_REF)
    op.execute(SUBSCRIBER_REF)
    op.execute(BACKFILL)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS billing_subscriber_ref ON wholesale_subscriber")
    op.execute("DROP TRIGGER IF EXISTS billing_customer_ref ON wholesale_customer")
    op.execute("DROP FUNCTION IF EXISTS billing_keep_subscriber_ref()")
    op.execute("DROP FUNCTION IF EXISTS billing_keep_customer_ref()")
    for table in (
        "billing_reconciliation_month",
        "billing_report",
        "billing_charge",
        "billing_subscriber_ref",
        "billing_customer_ref",
        "billing_usage_day",
        "billing_usage",
    ):
        op.drop_table(table)
