"""The trial lifecycle's read model (``trial``), kept by its activities (models/trials/store.py)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from models.common.tables import ts
from models.common.types import WEBEX_ID_MAX


class Trial(SQLModel, table=True):
    """Read model of one trial lifecycle, kept by its activities."""

    __tablename__ = "trial"

    id: str = Field(primary_key=True, max_length=40)
    workflow_id: str = Field(max_length=80, unique=True)
    partner_org_id: str = Field(foreign_key="org.id", index=True, max_length=WEBEX_ID_MAX)
    customer_org_id: str = Field(foreign_key="org.id", index=True, max_length=WEBEX_ID_MAX)
    started_by: str = Field(max_length=254)
    customer_admin_email: str = Field(max_length=254)
    new_customer: bool
    services: list[str] = Field(sa_column=sa.Column(JSONB, nullable=False))
    license_count: int
    days: int
    state: str = Field(max_length=32, index=True)
    partner_admin_level: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(sa_column=ts(nullable=False))
    consent_deadline_at: datetime | None = Field(default=None, sa_column=ts())
    activated_at: datetime | None = Field(default=None, sa_column=ts())
    ends_at: datetime | None = Field(default=None, sa_column=ts())
    grace_ends_at: datetime | None = Field(default=None, sa_column=ts())
    numbers_release_at: datetime | None = Field(default=None, sa_column=ts())
    numbers_released_at: datetime | None = Field(default=None, sa_column=ts())
    converted_at: datetime | None = Field(default=None, sa_column=ts())
    order_id: str | None = Field(default=None, max_length=80)
    cancelled_at: datetime | None = Field(default=None, sa_column=ts())
    cancelled_by: str | None = Field(default=None, max_length=16)
    cancel_reason: str | None = Field(default=None, max_length=500)
    free_org_id: str | None = Field(default=None, max_length=WEBEX_ID_MAX)
    next_deadline_at: datetime | None = Field(default=None, sa_column=ts())
    next_deadline_kind: str | None = Field(default=None, max_length=48)
    updated_at: datetime = Field(sa_column=ts(nullable=False))
