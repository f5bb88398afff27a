"""Billing tables (WH-B1..B8, PX-6, PX-7, WH-A5), created by migration 0005.

- ``billing_usage``: one row per subscriber, package and billing day: the day's prorated
  quantity, computed in SQL from ``wholesale_package_assignment`` when the day is closed.
- ``billing_usage_day``: which days are closed (and in which time zone).
- ``billing_customer_ref`` / ``billing_subscriber_ref``: billing's own copy of the ids a
  report shows (customer org id, subscription, user id), kept by triggers on the wholesale
  tables, so a customer or subscriber removed mid-day still reports them.
- ``billing_charge``: one-off billing lines such as Setup Assist charges (WH-A5); see
  ``models.billing.store.add_charge``.
- ``billing_report``: the reports (PX-6) and the stored file of a completed one.
- ``billing_reconciliation_month``: the months whose PARTNER reports were made (PX-7).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from models.wholesale.contract import WEBEX_ID_MAX  # the wholesale ids these copy


def _ts(nullable: bool = True) -> sa.Column:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


class BillingUsage(SQLModel, table=True):
    __tablename__ = "billing_usage"
    __table_args__ = (
        sa.Index("ix_billing_usage_partner_day", "partner_org_id", "day"),
        sa.Index("ix_billing_usage_sub_partner_day", "sub_partner_org_id", "day"),
    )

    day: date = Field(primary_key=True)
    subscriber_id: str = Field(primary_key=True, max_length=WEBEX_ID_MAX)
    package: str = Field(primary_key=True, max_length=32)
    partner_org_id: str = Field(max_length=WEBEX_ID_MAX)
    sub_partner_org_id: str | None = Field(default=None, max_length=WEBEX_ID_MAX)
    customer_id: str = Field(max_length=WEBEX_ID_MAX)
    external_customer_id: str = Field(max_length=256)
    customer_org_id: str | None = Field(default=None, max_length=WEBEX_ID_MAX)
    subscription_id: str | None = Field(default=None, max_length=80)
    user_id: str | None = Field(default=None, max_length=WEBEX_ID_MAX)
    seconds: int  # assigned seconds of the day (informative)
    day_seconds: int  # the day's length: 86400, or 82800/90000 on a daylight-saving change
    quantity: Decimal = Field(sa_column=sa.Column(sa.Numeric(9, 6), nullable=False))


class BillingUsageDay(SQLModel, table=True):
    __tablename__ = "billing_usage_day"

    day: date = Field(primary_key=True)
    timezone: str = Field(max_length=64)
    lines: int
    quantity: Decimal = Field(sa_column=sa.Column(sa.Numeric(16, 6), nullable=False))
    closed_at: datetime = Field(sa_column=_ts(nullable=False))


class BillingCustomerRef(SQLModel, table=True):
    __tablename__ = "billing_customer_ref"

    customer_id: str = Field(primary_key=True, max_length=WEBEX_ID_MAX)
    org_id: str | None = Field(default=None, max_length=WEBEX_ID_MAX)
    external_id: str = Field(max_length=256)
    partner_org_id: str = Field(max_length=WEBEX_ID_MAX)
    sub_partner_org_id: str | None = Field(default=None, max_length=WEBEX_ID_MAX)
    subscription_id: str | None = Field(default=None, max_length=80)
    updated_at: datetime = Field(sa_column=_ts(nullable=False))


class BillingSubscriberRef(SQLModel, table=True):
    __tablename__ = "billing_subscriber_ref"

    subscriber_id: str = Field(primary_key=True, max_length=WEBEX_ID_MAX)
    customer_id: str = Field(max_length=WEBEX_ID_MAX)
    user_id: str | None = Field(default=None, max_length=WEBEX_ID_MAX)
    updated_at: datetime = Field(sa_column=_ts(nullable=False))


class BillingCharge(SQLModel, table=True):
    """A one-off billing line (WH-A5: a Setup Assist charge), reported beside usage."""

    __tablename__ = "billing_charge"
    __table_args__ = (sa.Index("ix_billing_charge_partner_day", "partner_org_id", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    source_key: str = Field(unique=True, max_length=200)  # idempotency: one line per key
    partner_org_id: str = Field(max_length=WEBEX_ID_MAX)
    sub_partner_org_id: str | None = Field(default=None, max_length=WEBEX_ID_MAX)
    customer_id: str | None = Field(default=None, max_length=WEBEX_ID_MAX)
    customer_org_id: str | None = Field(default=None, max_length=WEBEX_ID_MAX)
    external_customer_id: str | None = Field(default=None, max_length=256)
    subscription_id: str | None = Field(default=None, max_length=80)
    service_name: str = Field(max_length=40)
    sku: str = Field(max_length=40)
    description: str = Field(max_length=200)
    quantity: Decimal = Field(sa_column=sa.Column(sa.Numeric(12, 6), nullable=False))
    day: date  # the consumption date
    created_at: datetime = Field(sa_column=_ts(nullable=False))


class BillingReport(SQLModel, table=True):
    """PX-6. WH-B4: one COMPLETED or IN_PROGRESS report per partner, sub-partner, type and
    period (a FAILED one does not count); deleting removes the row, its file and with them
    every URL signed for it."""

    __tablename__ = "billing_report"
    __table_args__ = (
        sa.Index(
            "uq_billing_report_once",
            "partner_org_id",
            sa.text("coalesce(sub_partner_org_id, '')"),
            "type",
            "billing_start_date",
            "billing_end_date",
            unique=True,
            postgresql_where=sa.text("status IN ('IN_PROGRESS', 'COMPLETED')"),
        ),
    )

    id: str = Field(primary_key=True, max_length=120)
    partner_org_id: str = Field(index=True, max_length=WEBEX_ID_MAX)
    sub_partner_org_id: str | None = Field(default=None, index=True, max_length=WEBEX_ID_MAX)
    type: str = Field(max_length=8)
    category: str = Field(default="RECONCILIATION", max_length=16)
    billing_start_date: date
    billing_end_date: date
    internal: bool = False
    status: str = Field(max_length=16)
    errors: list[dict] = Field(default_factory=list, sa_column=sa.Column(JSONB, nullable=False))
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    created_by: str = Field(max_length=80)
    completed_at: datetime | None = Field(default=None, sa_column=_ts())
    file_name: str | None = Field(default=None, max_length=200)
    file_token: str = Field(max_length=64)  # a secret every download URL is signed with
    rows: int = 0
    bytes: int = 0


class BillingReconciliationMonth(SQLModel, table=True):
    __tablename__ = "billing_reconciliation_month"

    month: date = Field(primary_key=True)  # its first day
    reports: int
    created_at: datetime = Field(sa_column=_ts(nullable=False))
