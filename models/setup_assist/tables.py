"""Setup Assist tables (WH-A1..WH-A7). Created by migration 0006 only.

- ``setup_assist_entitlement``: the partner's one A-Wholesale order (WH-A1), on which
  subscription.
- ``setup_assist_project``: the read model of one ``SetupAssistProject`` workflow; the
  location is unique (WH-A7). ``status`` is the workflow's last published status (phases,
  tasks, information requests), what the API and the CLI show.
The project's charge (WH-A5) is a line of billing's ``billing_charge`` (models/billing).
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from models.common.types import WEBEX_ID_MAX


def _ts(nullable: bool = True) -> sa.Column:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable)


class SetupAssistEntitlement(SQLModel, table=True):
    """WH-A1: A-Wholesale, quantity 1, ordered once per partner."""

    __tablename__ = "setup_assist_entitlement"

    partner_org_id: str = Field(foreign_key="org.id", primary_key=True, max_length=WEBEX_ID_MAX)
    subscription_id: str = Field(max_length=80)
    sku: str = Field(default="A-Wholesale", max_length=40)
    quantity: int = 1
    ordered_at: datetime = Field(sa_column=_ts(nullable=False))


class SetupAssistProject(SQLModel, table=True):
    __tablename__ = "setup_assist_project"

    id: str = Field(primary_key=True, max_length=WEBEX_ID_MAX)  # the location id (WH-A7)
    location_id: str = Field(unique=True, max_length=WEBEX_ID_MAX)
    workflow_id: str = Field(unique=True, max_length=300)  # "setup-assist-" + a location id
    partner_org_id: str = Field(foreign_key="org.id", index=True, max_length=WEBEX_ID_MAX)
    sub_partner_org_id: str | None = Field(default=None, index=True, max_length=WEBEX_ID_MAX)
    customer_id: str = Field(index=True, max_length=WEBEX_ID_MAX)
    customer_org_id: str = Field(index=True, max_length=WEBEX_ID_MAX)
    subscription_id: str = Field(max_length=80)
    flow: str = Field(max_length=16)
    seats: int
    country: str = Field(max_length=2)
    submitted_on: date
    completion_date: date
    requester_email: str | None = Field(default=None, max_length=254)
    request_hash: str = Field(max_length=64)
    state: str = Field(max_length=16, index=True)  # submitted, then the workflow's states
    current_phase: int | None = None
    owed_by: list[str] = Field(default_factory=list, sa_column=sa.Column(JSONB, nullable=False))
    status: dict | None = Field(default=None, sa_column=sa.Column(JSONB, nullable=True))
    next_deadline_at: datetime | None = Field(default=None, sa_column=_ts())
    next_deadline_kind: str | None = Field(default=None, max_length=48)
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    updated_at: datetime = Field(sa_column=_ts(nullable=False))
