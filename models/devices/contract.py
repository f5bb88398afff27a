"""Trial devices (TR-S4, TR-D2, TR-V4, DV-1..DV-5): the JSON contract of the ``DeviceTrial``
workflow (its read-model tables are models/devices/tables.py).

Commands are what the warehouse, the carriers' integrations, the trials team and the parent
``TrialLifecycle`` send (``temporal workflow update execute --input '{...}'``); they refuse
unknown fields. Stored payloads (input, status, activity arguments) ignore them, so running
lifecycles replay across releases. Every field is bounded to what its column holds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator

from models.common.contract import ActivityRef, Command, RejectedMessage, StepFailure, Stored
from models.common.countries import COUNTRIES, Carrier
from models.common.outbox import NoticeView
from models.common.types import CountryCode, WebexId
from models.trials.contract import ID_MAX, MAX_DAYS, DevicePolicy

DeviceState = Literal["shipping", "in_trial", "awaiting_return", "overdue", "returned", "error"]
DeviceType = Literal["phone", "headset", "desk", "room", "board", "camera"]
SerialState = Literal["shipped", "returned", "overdue"]
ExtensionState = Literal["pending", "approved", "rejected"]


# Bounds: what the ``device_*`` columns hold (models/devices/tables.py), and a sane shipment.
MAX_SHIPMENT = 1000  # devices in one shipment of one type (TR-S4: one shipment per type, ever)
SERIAL_MAX = 64  # device.serial
Serial = Annotated[str, StringConstraints(strip_whitespace=True, max_length=SERIAL_MAX)]
Serials = Annotated[list[Serial], Field(min_length=1, max_length=MAX_SHIPMENT)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=ID_MAX)]


def device_workflow_id(trial_id: str) -> str:
    return f"devices-{trial_id}"


def _utc(v: datetime | None) -> datetime | None:
    """Naive datetimes are UTC (a workflow must never compare naive with aware)."""
    if v is not None and v.tzinfo is None:
        return v.replace(tzinfo=UTC)
    return v


# --- DV-3: the return carrier by region --------------------------------------------------


class CarrierRule(BaseModel):
    region: str
    carrier: Carrier
    return_label_in_box: bool
    instructions: str


def carrier_for(country: str) -> CarrierRule | None:
    """DV-3: US → a return label in each box, the customer calls UPS; Canada and EMEAR → DHL;
    Australia → Expeditors. Elsewhere there is no return carrier (None). The region is the
    country's, from the one country table (EMEAR: Europe, Russia, the Middle East, Africa)."""
    known = COUNTRIES.get(country.strip().upper())
    region = known.device_region if known else None
    if region == "US":
        return CarrierRule(
            region="US",
            carrier="UPS",
            return_label_in_box=True,
            instructions="A prepaid UPS return label is in each box: attach it and call UPS "
            "to schedule the pickup.",
        )
    if region == "AU":
        return CarrierRule(
            region="AU",
            carrier="Expeditors",
            return_label_in_box=False,
            instructions="Returns go by Expeditors: contact Expeditors to arrange the pickup.",
        )
    if region in ("CA", "EMEAR"):
        return CarrierRule(
            region=region,
            carrier="DHL",
            return_label_in_box=False,
            instructions="Returns go by DHL: contact DHL to book the pickup and the label.",
        )
    return None


# --- input and policy ---------------------------------------------------------------------


class DeviceTrialInput(Stored):
    trial_id: Id
    partner_org_id: WebexId
    customer_org_id: WebexId
    trial_days: int = Field(
        gt=0, le=MAX_DAYS, description="Device trial length from the first shipment."
    )
    policy: DevicePolicy


# --- updates ------------------------------------------------------------------------------


class ShipmentRequest(Command):
    """From the warehouse: one shipment of one device type (TR-S4)."""

    device_type: DeviceType
    model: str = Field(min_length=1, max_length=80)
    quantity: int = Field(ge=1, le=MAX_SHIPMENT)
    serials: list[Serial] = Field(max_length=MAX_SHIPMENT)
    ship_date: datetime | None = Field(None, description="Default: now. Never in the future.")
    country: CountryCode = Field(description="Destination, ISO 3166 two letters (DV-3 carrier).")

    @field_validator("ship_date")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        return _utc(v)


class ReturnRequest(Command):
    """From the warehouse: serials received back (DV-2)."""

    serials: Serials
    carrier: str = Field(min_length=1, max_length=40)
    tracking: str = Field(min_length=1, max_length=80)


class ExtensionRequest(Command):
    days: int = Field(gt=0, le=MAX_DAYS)
    reason: str = Field(min_length=1, max_length=500)


class ApproveExtension(Command):
    approved_by: str = Field(min_length=1, max_length=254)


class RejectExtension(Command):
    rejected_by: str = Field(min_length=1, max_length=254)
    reason: str = Field("", max_length=500)


class LabelRequest(Command):
    """DV-4: a lost US return label. Without ``device_type``: every shipment with devices out."""

    device_type: DeviceType | None = None


# --- signals (from the parent TrialLifecycle) ----------------------------------------------


class TrialConverted(Command):
    """TR-V4: the trial converted; every device must still be returned."""

    trial_run_id: str | None = Field(default=None, max_length=64)  # the parent's run: sender


class TrialCancelled(Command):
    """The trial was cancelled at ``at``: returns are due two weeks after it."""

    at: datetime
    trial_run_id: str | None = Field(default=None, max_length=64)  # the parent's run: sender

    @field_validator("at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        return _utc(v)  # type: ignore[return-value]  # v is not None, so neither is _utc(v)


# --- query --------------------------------------------------------------------------------


class ShipmentView(Stored):
    device_type: DeviceType
    model: str
    quantity: int
    serials: list[str]
    country: str
    region: str
    carrier: Carrier
    return_label_in_box: bool
    return_instructions: str
    shipped_at: datetime
    labels: list[str] = Field(default_factory=list)  # DV-4 re-requested label ids


class DeviceView(Stored):
    serial: str
    device_type: DeviceType
    model: str
    state: SerialState
    shipped_at: datetime
    returned_at: datetime | None = None
    return_carrier: str | None = None
    return_tracking: str | None = None


class ExtensionView(Stored):
    seq: int
    days: int
    reason: str
    state: ExtensionState
    requested_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None
    decision_reason: str | None = None


class DeviceUpdateResult(Stored):
    state: DeviceState
    expires_at: datetime | None = None
    return_due_at: datetime | None = None
    outstanding: list[str] = Field(default_factory=list)
    extension: ExtensionView | None = None
    message: str = ""


# --- activity payloads --------------------------------------------------------------------


class DeviceNoticeBatch(Stored):
    """One kind of device notice to everyone it is owed to; ``tag`` makes it unique."""

    trial_id: Id
    kind: str = Field(max_length=48)
    tag: str = Field(max_length=120)
    due_at: datetime
    trials_team_email: str = Field(max_length=254)
    context: dict[str, str] = Field(default_factory=dict)


class DeviceTrialRecord(Stored):
    """The ``device_trial`` row's columns that the workflow owns (a fixed, small set)."""

    state: DeviceState
    partner_org_id: str
    customer_org_id: str
    trial_days: int
    first_shipped_at: datetime | None = None
    expires_at: datetime | None = None
    return_due_at: datetime | None = None
    converted_at: datetime | None = None
    cancelled_at: datetime | None = None
    overdue_at: datetime | None = None
    returned_at: datetime | None = None
    closed_reason: str | None = None
    next_deadline_at: datetime | None = None
    next_deadline_kind: str | None = None


class DeviceStatus(DeviceTrialRecord):
    """The ``status`` query: the read model's columns (``DeviceTrialRecord``) and what only
    the workflow holds."""

    trial_id: str
    max_days: int
    shipments: list[ShipmentView] = Field(default_factory=list)
    devices: list[DeviceView] = Field(default_factory=list)
    extensions: list[ExtensionView] = Field(default_factory=list)
    outstanding: list[str] = Field(default_factory=list)
    waiting_for: str = ""
    notices: list[NoticeView] = Field(default_factory=list)
    rejected: list[RejectedMessage] = Field(
        default_factory=list, description="signals refused lately, for operators"
    )
    failure: StepFailure | None = Field(
        default=None, description="the step that failed for good (state error); see `retry`"
    )


class ShipmentRecord(Stored):
    """A ``device_shipment`` row: the shipment without its serials (each is a ``device``
    row) and its instructions (derived from the carrier)."""

    device_type: DeviceType
    model: str
    quantity: int
    country: str
    region: str
    carrier: Carrier
    return_label_in_box: bool
    labels: list[str] = Field(default_factory=list)
    shipped_at: datetime


class DeviceChanges(Stored):
    """What changed in a device lifecycle since the read model last recorded it: the trial
    row when one of its columns changed, and only the shipments, serials and extension
    requests that are new or changed. So the history holds a returned serial, not the
    thousand still out (issue 8: history stays small)."""

    trial_id: Id
    trial: DeviceTrialRecord | None = None
    shipments: list[ShipmentRecord] = Field(default_factory=list)
    devices: list[DeviceView] = Field(default_factory=list)
    extensions: list[ExtensionView] = Field(default_factory=list)

    def empty(self) -> bool:
        return not (self.trial or self.shipments or self.devices or self.extensions)


class DeviceActivity:
    """The activities of this lifecycle, by name and result (activities/ implements them)."""

    device_policy = ActivityRef[DevicePolicy]("device_policy", DevicePolicy)
    # The whole status: kept for lifecycles recorded before `devices_record_changes`.
    record_devices = ActivityRef[None]("record_devices")
    devices_record_changes = ActivityRef[None]("devices_record_changes")
    send_device_notices = ActivityRef[list[NoticeView]]("send_device_notices", list[NoticeView])
