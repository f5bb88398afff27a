"""PostgreSQL tables (SQLModel). Created by Alembic migrations only (``models/migrations``).

One ``org`` table holds partner, customer and free orgs, so a rule such as TR-S8 ("a partner
cannot trial for itself") is a look at one row's kind. Users and admins share ``org_user``:
an email belongs to exactly one org at a time (SO-6), and an admin is a user with a role.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.common.types import WEBEX_ID_MAX


def ts(nullable: bool = True, index: bool = False) -> sa.Column:
    """A timestamp with time zone column (every lifecycle's tables use it)."""
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable, index=index)


class Org(SQLModel, table=True):
    __tablename__ = "org"

    id: str = Field(primary_key=True, max_length=WEBEX_ID_MAX)
    kind: str = Field(max_length=16, index=True)  # partner | customer | free
    name: str = Field(max_length=200)
    tier: int | None = None  # partners only: 1 or 2 (TR-V2)
    country: str | None = Field(default=None, max_length=2)
    region: str | None = Field(default=None, max_length=16)  # data residency (TR-S2)
    vertical: str | None = Field(default=None, max_length=80)
    site_url: str | None = Field(default=None, max_length=200)
    timezone: str | None = Field(default=None, max_length=64)
    calling_enabled: bool = False
    created_at: datetime = Field(sa_column=ts(nullable=False))


class OrgUser(SQLModel, table=True):
    __tablename__ = "org_user"

    id: str = Field(primary_key=True, max_length=40)
    org_id: str = Field(foreign_key="org.id", index=True, max_length=WEBEX_ID_MAX)
    email: str = Field(unique=True, max_length=254)  # SO-6: one org at a time
    admin_role: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(sa_column=ts(nullable=False))


class PartnerCustomer(SQLModel, table=True):
    """A row of a partner's customer list (TR-C2 status, TR-C4 partner admin level)."""

    __tablename__ = "partner_customer"

    partner_org_id: str = Field(foreign_key="org.id", primary_key=True, max_length=WEBEX_ID_MAX)
    customer_org_id: str = Field(foreign_key="org.id", primary_key=True, max_length=WEBEX_ID_MAX)
    status: str = Field(max_length=48)
    partner_admin_level: str | None = Field(default=None, max_length=32)
    since: datetime = Field(sa_column=ts(nullable=False))


class License(SQLModel, table=True):
    __tablename__ = "license"
    __table_args__ = (sa.UniqueConstraint("org_id", "service", "source", "trial_id"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: str = Field(foreign_key="org.id", index=True, max_length=WEBEX_ID_MAX)
    service: str = Field(max_length=32)
    quantity: int
    source: str = Field(max_length=8)  # trial | paid
    trial_id: str | None = Field(default=None, max_length=40, index=True)
    created_at: datetime = Field(sa_column=ts(nullable=False))


class Notice(SQLModel, table=True):
    """Outbox of emails. ``key`` is unique: a retried or replayed activity never sends twice."""

    __tablename__ = "notice"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, max_length=300)
    kind: str = Field(max_length=48, index=True)
    recipient: str = Field(max_length=254)
    trial_id: str | None = Field(default=None, max_length=40, index=True)
    workflow_id: str | None = Field(default=None, max_length=80)
    subject: str = Field(max_length=300)
    body: str
    due_at: datetime = Field(sa_column=ts(nullable=False))
    created_at: datetime = Field(sa_column=ts(nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=ts(index=True))
    transport: str | None = Field(default=None, max_length=16)  # smtp | outbox


class PhoneNumber(SQLModel, table=True):
    """A phone number. ``retained`` numbers are reserved: no one else may be given them."""

    __tablename__ = "phone_number"

    number: str = Field(primary_key=True, max_length=20)  # E.164
    org_id: str | None = Field(
        default=None, foreign_key="org.id", index=True, max_length=WEBEX_ID_MAX
    )
    state: str = Field(max_length=16)  # assigned | retained | released
    trial_id: str | None = Field(default=None, max_length=40)
    retained_until: datetime | None = Field(default=None, sa_column=ts())
    released_at: datetime | None = Field(default=None, sa_column=ts())
