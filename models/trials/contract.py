"""The trial lifecycle's JSON contract: input, policy, signals, updates, query results.

Plain pydantic models (never SQLModel tables), so any app can send them as JSON with
``temporal workflow update execute --input '{...}'``. Commands (what callers send) refuse
unknown fields; stored payloads (input, policy, activity arguments and results, the status)
ignore them, so a later release can add or drop a field and running lifecycles still replay.
Every field is bounded to what its PostgreSQL column holds.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from models.common.contract import ActivityRef, Command, RejectedMessage, StepFailure, Stored
from models.common.outbox import NoticeView
from models.common.types import WEBEX_ID_MAX, TimeZone, WebexId

Service = Literal["messaging", "meetings", "calling", "devices"]
SERVICES: tuple[Service, ...] = ("messaging", "meetings", "calling", "devices")
Setup = Literal["now", "later"]
TrialState = Literal[
    "error",
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


# --- bounds: what the PostgreSQL columns hold (models/common/tables.py, models/trials/tables.py)

ID_MAX = 40  # trial.id (org ids: WebexId, models.common.types)
EMAIL_MAX = 254  # org_user.email, trial.started_by, trial.customer_admin_email
NAME_MAX = 200  # org.name
VERTICAL_MAX = 80  # org.vertical
SITE_URL_MAX = 200  # org.site_url
TIME_ZONE_MAX = 64  # org.timezone
ORDER_ID_MAX = 80  # trial.order_id
REASON_MAX = 500  # trial.cancel_reason
PHONE_MAX = 32  # as typed ("+1 (415) 555-0100"); stored E.164 in phone_number.number (20)
MAX_NUMBERS = 1000  # numbers a new customer brings
MAX_LICENSES = 100_000  # license.quantity is an int32; no trial needs more than this
MAX_DAYS = 3650  # any day count; the policy's own limits are the rules' business (TR-S2, TR-D1)

Id = Annotated[str, StringConstraints(min_length=1, max_length=ID_MAX)]
EmailText = Annotated[str, StringConstraints(max_length=EMAIL_MAX)]
Licenses = Annotated[int, Field(ge=1, le=MAX_LICENSES)]
Days = Annotated[int, Field(ge=1, le=MAX_DAYS)]
_SITE_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def site_url_problem(value: str) -> str | None:
    """Why ``value`` is not a sane Webex site URL (``acme.webex.com`` or
    ``https://acme.webex.com``), or None. No spaces, no control characters, no user info."""
    if len(value) > SITE_URL_MAX:
        return f"a site URL has at most {SITE_URL_MAX} characters"
    text = value.strip()
    parts = urlsplit(text if "://" in text else f"https://{text}")
    if parts.scheme not in ("http", "https"):
        return "a site URL is http(s)://host or a host name"
    if parts.username or parts.password or parts.port or parts.query or parts.fragment:
        return "a site URL is a host name, without user, port, query or fragment"
    if not _SITE_HOST.match((parts.hostname or "").lower()) or parts.path not in ("", "/"):
        return f"{value[:60]!r} is not a site URL such as acme.webex.com"
    return None


def _checked(problem: Callable[[str], str | None]) -> Callable[[str | None], str | None]:
    def check(value: str | None) -> str | None:
        if value is not None and (why := problem(value)):
            raise ValueError(why)
        return value

    return check


SiteUrl = Annotated[str | None, AfterValidator(_checked(site_url_problem))]


class DevicePolicy(Stored):
    """The device calendar, snapshotted when the device lifecycle starts."""

    day_seconds: float = Field(86400.0, gt=0)
    return_days: int = 14  # DV-1
    max_days: int = 120  # TR-D2
    reminder_days: list[int] = Field(default_factory=lambda: [7, 1])  # before the due date
    trials_team_email: str = Field("trials-team@localhost", max_length=EMAIL_MAX)

    def days(self, n: float) -> timedelta:
        return timedelta(seconds=n * self.day_seconds)

    def in_days(self, delta: timedelta) -> float:
        return delta.total_seconds() / self.day_seconds


class TrialPolicy(Stored):
    """Every duration and offset of a trial, copied from settings when it starts."""

    day_seconds: float = Field(86400.0, gt=0)
    consent_days: int = 30
    expiry_notice_days: int = 7
    grace_days: int = 30
    user_notice_days: int = 30
    number_retention_days: int = 15
    max_days: int = 90
    buy_url: str = Field("https://admin.example.com/subscriptions/buy", max_length=500)
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


class NewCustomer(Command):
    """TR-S2: what a new-customer trial needs. All optional here so the rule check can name
    every missing field at once with its rule ID; each bounded to its column."""

    company_name: str | None = Field(None, max_length=NAME_MAX)
    admin_email: EmailText | None = None
    vertical: str | None = Field(None, max_length=VERTICAL_MAX)
    country: str | None = Field(None, max_length=8)
    site_url: str | None = Field(None, max_length=SITE_URL_MAX)
    timezone: str | None = Field(None, max_length=TIME_ZONE_MAX)
    numbers: list[Annotated[str, StringConstraints(max_length=PHONE_MAX)]] = Field(
        default_factory=list, max_length=MAX_NUMBERS
    )


class TrialRequest(Command):
    """A request to start a trial, as the CLI or another app sends it. Bounded to what the
    store holds; what the rules decide (TR-S1..S8) is ``models.trials.rules.check_request``'s."""

    partner_org_id: WebexId
    started_by: EmailText = Field(
        description="Email of the partner admin starting the trial (TR-S1)."
    )
    org_id: WebexId | None = Field(
        None, description="Existing customer org, or None for a new one."
    )
    admin_email: EmailText | None = Field(
        None, description="Customer admin (consent recipient, TR-C1)."
    )
    customer: NewCustomer | None = None
    services: list[Service] = Field(default_factory=list, max_length=len(SERVICES) * 2)
    license_count: int | None = Field(None, le=MAX_LICENSES)
    days: int | None = Field(None, le=MAX_DAYS)
    setup: Setup = "later"
    site_url: str | None = Field(None, max_length=SITE_URL_MAX)
    timezone: str | None = Field(None, max_length=TIME_ZONE_MAX)


class TrialInput(Stored):
    """The workflow's input: the request as resolved against the store, plus the policy."""

    trial_id: Id
    partner_org_id: WebexId
    partner_tier: int
    customer_org_id: WebexId
    new_customer: bool
    needs_consent: bool
    paying_customer: bool
    customer_admin_email: EmailText
    started_by: EmailText
    services: list[Service]
    license_count: Licenses
    days: Days
    setup: Setup
    site_url: str | None = Field(None, max_length=SITE_URL_MAX)
    timezone: str | None = Field(None, max_length=TIME_ZONE_MAX)
    customer: NewCustomer | None = None
    policy: TrialPolicy


# --- updates (the caller gets an answer or a refusal) -------------------------------------


class ExtendRequest(Command):
    days: Days
    force: bool = False


class ChangeServicesRequest(Command):
    add: list[Service] = Field(default_factory=list, max_length=len(SERVICES))
    remove: list[Service] = Field(default_factory=list, max_length=len(SERVICES))
    license_count: Licenses | None = None
    site_url: SiteUrl = None
    timezone: TimeZone | None = None  # an IANA name (zoneinfo), canonical spelling


class ProvisionRequest(Command):
    by: EmailText | None = None


class ConvertRequest(Command):
    order_id: str = Field(min_length=1, max_length=ORDER_ID_MAX)
    provisioning_contact_email: EmailText = Field(min_length=3)
    confirm_new_org: bool = Field(False, description="TR-V3: accept a different contact email.")
    through_distributor: bool = Field(False, description="TR-V2: tier-2 partners convert so.")


class UpdateResult(Stored):
    state: TrialState
    ends_at: datetime | None = None
    message: str = ""


# --- signals ------------------------------------------------------------------------------


class AcceptConsent(Command):
    accepted_by: EmailText = Field(min_length=1)
    grant_full_admin: bool = False


class ResendConsent(Command):
    pass


class CancelRequest(Command):
    by: Literal["partner", "customer"]
    reason: str = Field("", max_length=REASON_MAX)


# --- query --------------------------------------------------------------------------------


class TrialStatus(Stored):
    trial_id: Id
    state: TrialState
    partner_org_id: WebexId
    customer_org_id: WebexId
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
    order_id: str | None = Field(None, max_length=ORDER_ID_MAX)
    cancelled_at: datetime | None = None
    cancelled_by: str | None = Field(None, max_length=16)
    free_org_id: str | None = Field(None, max_length=WEBEX_ID_MAX)
    next_deadline_at: datetime | None = None
    next_deadline_kind: str | None = Field(None, max_length=48)
    waiting_for: str = ""
    notices: list[NoticeView] = Field(default_factory=list)
    rejected: list[RejectedMessage] = Field(
        default_factory=list, description="signals refused lately, for operators"
    )
    failure: StepFailure | None = Field(
        default=None, description="the step that failed for good (state error); see `retry`"
    )


# --- activity payloads --------------------------------------------------------------------


class NoticeBatch(Stored):
    """Ask the outbox to send one kind of notice of a trial to everyone it is owed to."""

    trial_id: Id
    kind: str = Field(max_length=48)
    due_at: datetime
    round: int = Field(0, ge=0)
    context: dict[str, str] = Field(default_factory=dict)


class ProvisionPlan(Stored):
    trial_id: Id
    services: list[Service]
    license_count: int
    site_url: str | None = Field(None, max_length=SITE_URL_MAX)
    timezone: str | None = Field(None, max_length=TIME_ZONE_MAX)


class EndServices(Stored):
    trial_id: Id
    at: datetime
    numbers_release_at: datetime | None = None


class Conversion(Stored):
    trial_id: Id
    order_id: str = Field(max_length=ORDER_ID_MAX)
    at: datetime


# --- one step, one activity, one transaction (patch ``trial-one-activity-per-step``) ---------


class TrialRecord(Stored):
    """The read model's fields a step may change (the ``trial`` row), typed: a step carries
    only those that changed, as JSON, and the store validates them here."""

    state: TrialState | None = None
    services: list[Service] | None = None
    license_count: int | None = None
    partner_admin_level: PartnerAdminLevel | None = None
    consent_deadline_at: datetime | None = None
    activated_at: datetime | None = None
    ends_at: datetime | None = None
    grace_ends_at: datetime | None = None
    numbers_release_at: datetime | None = None
    numbers_released_at: datetime | None = None
    converted_at: datetime | None = None
    order_id: str | None = Field(None, max_length=ORDER_ID_MAX)
    cancelled_at: datetime | None = None
    cancelled_by: str | None = Field(None, max_length=16)
    cancel_reason: str | None = Field(None, max_length=REASON_MAX)
    free_org_id: str | None = Field(None, max_length=WEBEX_ID_MAX)
    next_deadline_at: datetime | None = None
    next_deadline_kind: str | None = Field(None, max_length=48)


RECORD_FIELDS: frozenset[str] = frozenset(TrialRecord.model_fields)


def no_release(record: dict[str, Any]) -> dict[str, Any]:
    """The read model of a step whose services ended with no number retained: nothing to
    release (issue 9, 11). The store and the workflow both apply it."""
    if "numbers_release_at" not in record:
        return record
    record = {**record, "numbers_release_at": None}
    if record.get("next_deadline_kind") == "numbers_release":
        record.update(next_deadline_at=None, next_deadline_kind=None)
    return record


class ConsentGrant(Stored):
    """TR-C3/TR-C4: who accepted, and the admin level the partner gets if they may."""

    accepted_by: EmailText
    partner_admin_level: PartnerAdminLevel


class TrialStep(Stored):
    """One step of a trial: its effects, in this order, the notices it owes and the read
    model's changed fields, written in one transaction (the notices are sent after it)."""

    trial_id: Id
    open: TrialInput | None = None  # the first step: write the trial (TR-S2)
    consent: ConsentGrant | None = None  # nothing is written unless a full admin accepted
    check_services: list[Service] = Field(default_factory=list)  # TR-S6 for added services
    remove_pending: bool = False  # TR-C3/TR-C5
    provision: ProvisionPlan | None = None  # TR-S3/TR-S5, TR-D3
    convert: Conversion | None = None  # TR-V1
    end_services: EndServices | None = None  # TR-E4/TR-E5, TR-D4
    migrate: bool = False  # TR-E4
    release_numbers: bool = False  # TR-E5
    notices: list[NoticeBatch] = Field(default_factory=list)
    record: dict[str, Any] = Field(
        default_factory=dict, description="changed read-model fields (TrialRecord), as JSON"
    )


class MassNotice(Stored):
    """A notice to every user of the org (TR-E3), sent in batches that heartbeat, with the
    read model's changed fields; ``then``: the effects of a step due at the same moment
    (grace ends), written once every user has been told."""

    trial_id: Id
    notice: NoticeBatch
    record: dict[str, Any] = Field(default_factory=dict)
    then: TrialStep | None = None


# Notice views a step returns per kind at most (the outbox has every row; the status shows
# the first ones and the count).
VIEWS_KEPT = 100


class StepResult(Stored):
    accepted: bool = True  # consent: False when the acceptor is not a full admin (TR-C3)
    notices: list[NoticeView] = Field(default_factory=list)
    notices_total: int = 0
    retained: int | None = None  # numbers retained by end_services (0: nothing to release)
    free_org_id: str | None = Field(None, max_length=WEBEX_ID_MAX)
    released: int | None = None


class TrialActivity:
    """The activities of this lifecycle, by name and result (activities/ implements them)."""

    # Since patch ``trial-one-activity-per-step``: one activity per step.
    step = ActivityRef[StepResult]("trial_step", StepResult)
    mail_users = ActivityRef[StepResult]("trial_mail_users", StepResult)
    # Before it (running trials still call them):

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
