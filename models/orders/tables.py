"""Tables of subscription orders (SO, PX-5), and the org facts the set-up wizard reads: user
activity (SO-5) and enterprise subdomains (SO-8). Verified/claimed domains are the
``org_domain`` rows of models/wholesale/tables.py (PX-4 reads the same facts)."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from models.common.types import WEBEX_ID_MAX


def _ts(nullable: bool = True, index: bool = False) -> sa.Column:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable, index=index)


def _json(nullable: bool = False) -> sa.Column:
    return sa.Column(JSONB, nullable=nullable)


class OrderRecord(SQLModel, table=True):
    """Read model of one order's lifecycle, written by its activities in the same
    transaction as each transition's effects."""

    __tablename__ = "subscription_order"

    id: str = Field(primary_key=True, max_length=64)  # the ordering system's order id
    workflow_id: str = Field(max_length=80, unique=True)
    submitted_by_org_id: str = Field(foreign_key="org.id", index=True, max_length=WEBEX_ID_MAX)
    offer: str = Field(max_length=16, index=True)
    lines: list[dict] = Field(sa_column=_json())
    customer_name: str | None = Field(default=None, max_length=200)
    requested_start_date: date
    start_at: datetime = Field(sa_column=_ts(nullable=False))
    contact_email: str = Field(max_length=254)
    contact_version: int = 0  # a set-up link names the version it was sent for
    account_rep_email: str = Field(max_length=254)
    trial_id: str | None = Field(default=None, max_length=40, index=True)
    confirm_new_org: bool = False
    through_distributor: bool = False
    state: str = Field(max_length=32, index=True)
    email_round: int = 0
    email_sent_at: datetime | None = Field(default=None, sa_column=_ts())
    rep_alerted_at: datetime | None = Field(default=None, sa_column=_ts())
    setup_started_at: datetime | None = Field(default=None, sa_column=_ts())
    close_at: datetime | None = Field(default=None, sa_column=_ts())
    setup_by: str | None = Field(default=None, max_length=16)  # SO-4: me | colleague | customer
    purpose: str | None = Field(default=None, max_length=16)  # SO-11
    partner_org_id: str | None = Field(default=None, max_length=WEBEX_ID_MAX, index=True)
    customer_org_id: str | None = Field(default=None, max_length=WEBEX_ID_MAX, index=True)
    partner_access: str | None = Field(default=None, max_length=32)  # SO-4, SO-7
    partner_password_hash: str | None = Field(default=None, max_length=200)  # SO-12
    full_admin_requested_at: datetime | None = Field(default=None, sa_column=_ts())  # SO-7
    subscription_status: str = Field(default="pending", max_length=16)  # pending | active
    trial_converted_at: datetime | None = Field(default=None, sa_column=_ts())
    mapped_at: datetime | None = Field(default=None, sa_column=_ts())
    provisioned_at: datetime | None = Field(default=None, sa_column=_ts())
    closed_at: datetime | None = Field(default=None, sa_column=_ts())
    cancelled_at: datetime | None = Field(default=None, sa_column=_ts())
    cancel_reason: str | None = Field(default=None, max_length=500)
    next_deadline_at: datetime | None = Field(default=None, sa_column=_ts())
    next_deadline_kind: str | None = Field(default=None, max_length=48)
    request_hash: str = Field(max_length=64)  # an idempotent create compares bodies
    created_at: datetime = Field(sa_column=_ts(nullable=False, index=True))
    updated_at: datetime = Field(sa_column=_ts(nullable=False))


class OrderService(SQLModel, table=True):
    """One purchased service of an order: set up now or later (SO-9, SO-13), billed from
    when it is provisioned (SO-10)."""

    __tablename__ = "order_service"

    order_id: str = Field(foreign_key="subscription_order.id", primary_key=True, max_length=64)
    service: str = Field(primary_key=True, max_length=16)
    quantity: int
    status: str = Field(default="pending", max_length=16)  # pending | deferred | provisioned
    settings: dict = Field(default_factory=dict, sa_column=_json())
    provisioned_at: datetime | None = Field(default=None, sa_column=_ts())
    billing_started_at: datetime | None = Field(default=None, sa_column=_ts())


class MeetingSiteRow(SQLModel, table=True):
    """SO-8: a Webex site; its URL name is unique across every org."""

    __tablename__ = "order_meeting_site"

    name: str = Field(primary_key=True, max_length=30)
    order_id: str = Field(foreign_key="subscription_order.id", index=True, max_length=64)
    org_id: str = Field(foreign_key="org.id", index=True, max_length=WEBEX_ID_MAX)
    timezone: str = Field(max_length=64)
    early_adopter: bool = False
    licenses: int


class OrgSubdomain(SQLModel, table=True):
    """SO-8: an org's enterprise subdomain; unique across every org."""

    __tablename__ = "org_subdomain"

    subdomain: str = Field(primary_key=True, max_length=63)
    org_id: str = Field(foreign_key="org.id", index=True, max_length=WEBEX_ID_MAX)
    order_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=_ts(nullable=False))


class OrgUserActivity(SQLModel, table=True):
    """SO-5: when a user was last active (active users, last user activity of an org)."""

    __tablename__ = "org_user_activity"

    email: str = Field(primary_key=True, max_length=254)
    last_active_at: datetime = Field(sa_column=_ts(nullable=False))


class OrderDocument(SQLModel, table=True):
    """SO-10: the downloadable order summary (PDF)."""

    __tablename__ = "order_document"

    order_id: str = Field(foreign_key="subscription_order.id", primary_key=True, max_length=64)
    filename: str = Field(max_length=120)
    media_type: str = Field(max_length=64)
    content: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))
    created_at: datetime = Field(sa_column=_ts(nullable=False))
