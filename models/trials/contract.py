"""The trial lifecycle's JSON contract: input, policy, signals, updates, query results.

Plain pydantic models (never SQLModel tables), so any app can send them as JSON with
``temporal workflow signal --input '{...}'``. Unknown fields are refused, so a typo in a
field name is an error naming that field rather than a silently ignored value.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.common.contract import ActivityRef, RejectedMessage
from models.common.outbox import NoticeView

Service = Literal["messaging", "meetings", "calling", "devices"]
SERVICES: tuple[Service, ...] = ("messaging", "meetings", "calling", "devices")
Setup = Literal["now", "later"]
TrialState = Literal[
    "pending_consent",
    "awaiting_provisioning",
    "active",
    "grace",
    "converted",
    "cancelled",
    "consent_expired",
    "migrated_to_free_org",
    "expired",
]
# States after which nothing but the release of retained numbers can happen.
ENDED_STATES: frozenset[str] = frozenset(
    {"converted", "cancelled", "consent_expired", "migrated_to_free_org", "expired"}
)
OPEN_STATES: frozenset[str] = frozenset(
    {"pending_consent", "awaiting_provisioning", "active", "grace"}
)
PartnerAdminLevel = Literal["full_admin", "provisioning_admin"]


def trial_workflow_id(trial_id: str) -> str:
    return f"trial-{trial_id}"


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DevicePolicy(Contract):
    """The device calendar, snapshotted when the device lifecycle starts."""

    day_seconds: float = 86400.0
    return_days: int = 14  # DV-1
    max_days: int = 120  # TR-D2
    reminder_days: list[int] = Field(default_factory=lambda: [7, 1])  # before the due date
    trials_team_email: str = "trials-team@localhost"

    def days(self, n: float) -> timedelta:
        return timedelta(seconds=n * self.day_seconds)

    def in_days(self, delta: timedelta) -> float:
        return delta.total_seconds() / self.day_seconds


class TrialPolicy(Contract):
    """Every duration and offset of a trial, copied from settings when it starts."""

    day_seconds: float = 86400.0
    consent_days: int = 30
    expiry_notice_days: int = 7
    grace_days: int = 30
    user_notice_days: int = 30
    number_retention_days: int = 15
    max_days: int = 90
    buy_url: str = "https://admin.example.com/subscriptions/buy"
    devices: DevicePolicy = Field(
        default_factory=DevicePolicy, description="The device calendar (TR-D2, DV-1)."
    )

    @model_validator(mode="after")
    def _user_notice_within_grace(self) -> TrialPolicy:
        """TR-E3's user notice comes at the latest when grace ends."""
        self.user_notice_days = min(self.user_notice_days, self.grace_days)
        return self

    def days(self, n: float) -> timedelta:
        return timedelta(seconds=n * self.day_seconds)


class NewCustomer(Contract):
    """TR-S2: what a new-customer trial needs. All optional here so the rule check can name
    every missing field at once with its rule ID."""

    company_name: str | None = None
    admin_email: str | None = None
    vertical: str | None = None
    country: str | None = None
    site_url: str | None = None
    timezone: str | None = None
    numbers: list[str] = Field(default_factory=list)


class TrialRequest(Contract):
    """A request to start a trial, as the CLI or another app sends it."""

    partner_org_id: str
    started_by: str = Field(description="Email of the partner admin starting the trial (TR-S1).")
    org_id: str | None = Field(None, description="Existing customer org, or None for a new one.")
    admin_email: str | None = Field(None, description="Customer admin (consent recipient, TR-C1).")
    customer: NewCustomer | None = None
    services: list[Service] = Field(default_factory=list)
    license_count: int | None = None
    days: int | None = None
    setup: Setup = "later"
    site_url: str | None = None
    timezone: str | None = None


class TrialInput(Contract):
    """The workflow's input: the request as resolved against the store, plus the policy."""

    trial_id: str
    partner_org_id: str
    partner_tier: int
    customer_org_id: str
    new_customer: bool
    needs_consent: bool
    paying_customer: bool
    customer_admin_email: str
    started_by: str
    services: list[Service]
    license_count: int
    days: int
    setup: Setup
    site_url: str | None = None
    timezone: str | None = None
    customer: NewCustomer | None = None
    policy: TrialPolicy


# --- updates (the caller gets an answer or a refusal) -------------------------------------


class ExtendRequest(Contract):
    days: int = Field(gt=0)
    force: bool = False


class ChangeServicesRequest(Contract):
    add: list[Service] = Field(default_factory=list)
    remove: list[Service] = Field(default_factory=list)
    license_count: int | None = Field(None, gt=0)
    site_url: str | None = None
    timezone: str | None = None


class ProvisionRequest(Contract):
    by: str | None = None


class ConvertRequest(Contract):
    order_id: str = Field(min_length=1)
    provisioning_contact_email: str = Field(min_length=3)
    confirm_new_org: bool = Field(False, description="TR-V3: accept a different contact email.")
    through_distributor: bool = Field(False, description="TR-V2: tier-2 partners convert so.")


class UpdateResult(Contract):
    state: TrialState
    ends_at: datetime | None = None
    message: str = ""


# --- signals ------------------------------------------------------------------------------


class AcceptConsent(Contract):
    accepted_by: str
    grant_full_admin: bool = False


class ResendConsent(Contract):
    pass


class CancelRequest(Contract):
    by: Literal["partner", "customer"]
    reason: str = ""


# --- query --------------------------------------------------------------------------------


class TrialStatus(Contract):
    trial_id: str
    state: TrialState
    partner_org_id: str
    customer_org_id: str
    services: list[Service]
    license_count: int
    days: int
    partner_admin_level: PartnerAdminLevel | None = None
    consent_deadline_at: datetime | None = None
    activated_at: datetime | None = None
    ends_at: datetime | None = None
    grace_ends_at: datetime | None = None
    numbers_release_at: datetime | None = None
    numbers_released_at: datetime | None = None
    converted_at: datetime | None = None
    order_id: str | None = None
    cancelled_at: datetime | None = None
    cancelled_by: str | None = None
    free_org_id: str | None = None
    next_deadline_at: datetime | None = None
    next_deadline_kind: str | None = None
    waiting_for: str = ""
    notices: list[NoticeView] = Field(default_factory=list)
    rejected: list[RejectedMessage] = Field(
        default_factory=list, description="signals refused lately, for operators"
    )


# --- activity payloads --------------------------------------------------------------------


class NoticeBatch(Contract):
    """Ask the outbox to send one kind of notice of a trial to everyone it is owed to."""

    trial_id: str
    kind: str
    due_at: datetime
    round: int = 0
    context: dict[str, str] = Field(default_factory=dict)


class ProvisionPlan(Contract):
    trial_id: str
    services: list[Service]
    license_count: int
    site_url: str | None = None
    timezone: str | None = None


class EndServices(Contract):
    trial_id: str
    at: datetime
    numbers_release_at: datetime | None = None


class Conversion(Contract):
    trial_id: str
    order_id: str
    at: datetime


class TrialActivity:
    """The activities of this lifecycle, by name and result (activities/ implements them)."""

    open_trial = ActivityRef[None]("open_trial")
    record_trial = ActivityRef[None]("record_trial")
    check_full_admin = ActivityRef[bool]("check_full_admin", bool)
    check_services_available = ActivityRef[None]("check_services_available")
    record_consent = ActivityRef[None]("record_consent")
    provision_trial = ActivityRef[None]("provision_trial")
    send_notices = ActivityRef[list[NoticeView]]("send_notices", list[NoticeView])
    # How many numbers were retained (0: nothing to release; None in older histories).
    end_trial_services = ActivityRef[int | None]("end_trial_services", int | None)
    migrate_to_free_org = ActivityRef[str]("migrate_to_free_org", str)
    release_numbers = ActivityRef[int]("release_numbers", int)
    convert_trial = ActivityRef[None]("convert_trial")
    remove_pending_customer = ActivityRef[None]("remove_pending_customer")
