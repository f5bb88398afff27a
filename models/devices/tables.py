"""The device lifecycle's read model (``device_trial``, ``device_shipment``, ``device``,
``device_extension``), written by its activities only (models/devices/store.py)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from models.common.tables import ts
from models.common.types import WEBEX_ID_MAX


class DeviceTrialRow(SQLModel, table=True):
    """One device lifecycle (``devices-<trial_id>``)."""

    __tablename__ = "device_trial"

    trial_id: str = Field(primary_key=True, foreign_key="trial.id", max_length=40)
    workflow_id: str = Field(max_length=80, unique=True)
    partner_org_id: str = Field(index=True, max_length=WEBEX_ID_MAX)
    customer_org_id: str = Field(index=True, max_length=WEBEX_ID_MAX)
    state: str = Field(max_length=24, index=True)
    trial_days: int
    first_shipped_at: datetime | None = Field(default=None, sa_column=ts())
    expires_at: datetime | None = Field(default=None, sa_column=ts())
    return_due_at: datetime | None = Field(default=None, sa_column=ts())
    converted_at: datetime | None = Field(default=None, sa_column=ts())
    cancelled_at: datetime | None = Field(default=None, sa_column=ts())
    overdue_at: datetime | None = Field(default=None, sa_column=ts())
    returned_at: datetime | None = Field(default=None, sa_column=ts())
    closed_reason: str | None = Field(default=None, max_length=200)
    next_deadline_at: datetime | None = Field(default=None, sa_column=ts())
    next_deadline_kind: str | None = Field(default=None, max_length=48)
    created_at: datetime = Field(sa_column=ts(nullable=False))
    updated_at: datetime = Field(sa_column=ts(nullable=False))


class DeviceShipment(SQLModel, table=True):
    """TR-S4: the unique constraint makes "one shipment per device type, ever" hold here too."""

    __tablename__ = "device_shipment"
    __table_args__ = (sa.UniqueConstraint("trial_id", "device_type"),)

    id: int | None = Field(default=None, primary_key=True)
    trial_id: str = Field(foreign_key="device_trial.trial_id", index=True, max_length=40)
    device_type: str = Field(max_length=16)
    model: str = Field(max_length=80)
    quantity: int
    country: str = Field(max_length=2)
    region: str = Field(max_length=8)
    carrier: str = Field(max_length=16)  # DV-3
    return_label_in_box: bool
    labels: list[str] = Field(sa_column=sa.Column(JSONB, nullable=False))  # DV-4
    shipped_at: datetime = Field(sa_column=ts(nullable=False))


class Device(SQLModel, table=True):
    """One shipped serial number and where it is (DV-2)."""

    __tablename__ = "device"

    trial_id: str = Field(foreign_key="device_trial.trial_id", primary_key=True, max_length=40)
    serial: str = Field(primary_key=True, max_length=64)
    device_type: str = Field(max_length=16)
    model: str = Field(max_length=80)
    state: str = Field(max_length=16, index=True)  # shipped | returned | overdue
    shipped_at: datetime = Field(sa_column=ts(nullable=False))
    returned_at: datetime | None = Field(default=None, sa_column=ts())
    return_carrier: str | None = Field(default=None, max_length=40)
    return_tracking: str | None = Field(default=None, max_length=80)


class DeviceExtension(SQLModel, table=True):
    """TR-D2: an extension request and the trials team's decision."""

    __tablename__ = "device_extension"

    trial_id: str = Field(foreign_key="device_trial.trial_id", primary_key=True, max_length=40)
    seq: int = Field(primary_key=True)
    days: int
    reason: str = Field(max_length=500)
    state: str = Field(max_length=16)  # pending | approved | rejected
    requested_at: datetime = Field(sa_column=ts(nullable=False))
    decided_at: datetime | None = Field(default=None, sa_column=ts())
    decided_by: str | None = Field(default=None, max_length=254)
    decision_reason: str | None = Field(default=None, max_length=500)
