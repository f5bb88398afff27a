"""The ``SubscriptionOrder`` workflow's JSON contract: the order, its policy, the wizard's
answers, the updates, the query and the activities' payloads.

``Command`` models are what callers send (unknown fields refused); ``Stored`` ones are what
Temporal keeps. Every string is bounded to what its PostgreSQL column holds. Values that need
the store or a rule's own message (an unknown offer, a start date in the past, an email that
is not one) are checked in ``models.orders.rules`` so the refusal names the rule and field.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from models.common.contract import ActivityRef, Command, Stored
from models.common.outbox import NoticeView
from models.common.types import WEBEX_ID_MAX

OFFERS: tuple[str, ...] = ("A-WX", "A-SPK", "A-FLEX", "A-Flex-3")
FLEX_OFFERS: frozenset[str] = frozenset({"A-FLEX", "A-Flex-3"})  # PX-5: 7 days; SO-4 Suite flow
Service = Literal["meetings", "calling", "messaging"]
SERVICES: tuple[str, ...] = ("meetings", "calling", "messaging")

OrderState = Literal[
    "scheduled",  # before the requested start date
    "awaiting_setup",  # email sent: PX-5's *awaiting provisioning details*
    "setup_in_progress",  # someone opened the set-up link (SO-2 no longer due)
    "mapped",  # both orgs confirmed: the point of no return (PX-5)
    "provisioned",  # SO-10
    "closed",  # PX-5: not provisioned in time
    "cancelled",
    "error",  # an effect failed and cannot heal: visible, still answering queries
]
CHANGEABLE: frozenset[str] = frozenset({"scheduled", "awaiting_setup", "setup_in_progress"})
ENDED: frozenset[str] = frozenset({"closed", "cancelled"})
PartnerAccess = Literal["full_admin", "provisioning_admin", "none"]

SetupStepName = Literal["who", "purpose", "partner-org", "customer-org", "services", "review"]
STEPS: tuple[str, ...] = ("who", "purpose", "partner-org", "customer-org", "services", "review")


class OrderCommand(Command):
    """What callers send: snake_case (Temporal, CLI) or camelCase (the HTTP API) alike."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


def order_workflow_id(order_id: str) -> str:
    return f"order-{order_id}"


class OrderPolicy(Stored):
    """Every duration of an order, snapshotted from settings when it is created."""

    day_seconds: float = 86400.0
    rep_alert_days: float = 1.0  # SO-2: the day after the requested start date
    close_days_flex: float = 7.0  # PX-5: A-FLEX, A-Flex-3
    close_days_other: float = 30.0  # PX-5: other offers
    active_user_days: int = 90  # SO-5: a user active this recently counts as active
    unlikely_after_days: int = 365  # SO-5: no verified domain, no activity this long: unlikely
    setup_url: str = "http://127.0.0.1:8000/orders/setup"
    account_rep_email: str = "account-rep@localhost"

    def days(self, n: float) -> timedelta:
        return timedelta(seconds=n * self.day_seconds)

    def close_days(self, offer: str) -> float:
        return self.close_days_flex if offer in FLEX_OFFERS else self.close_days_other


class OrderLine(OrderCommand):
    service: str = Field(max_length=16, description="meetings, calling or messaging.")
    quantity: int = Field(ge=1, le=1_000_000)


class OrderCreate(OrderCommand):
    """An order from the ordering system (SO-1). Checked by ``rules.check_order``."""

    order_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    offer: str = Field(max_length=16)
    requested_start_date: date
    provisioning_contact_email: str = Field(max_length=254)
    lines: list[OrderLine] = Field(min_length=1, max_length=3)
    customer_name: str | None = Field(None, max_length=200)
    account_rep_email: str | None = Field(None, max_length=254)
    trial_id: str | None = Field(None, max_length=40, description="TR-V1: the trial it converts.")
    confirm_new_org: bool = Field(False, description="TR-V3: another contact than the trial's.")
    through_distributor: bool = Field(False, description="TR-V2: tier-2 partners convert so.")


class OrderInput(Stored):
    """The workflow's input: the order as accepted (its row holds the same) and the policy."""

    order_id: str
    submitted_by_org_id: str
    offer: str
    lines: list[OrderLine]
    start_at: datetime
    trial_id: str | None = None
    policy: OrderPolicy


# --- the wizard's answers (SO-3..SO-13): sent whole at every step, saved only by commit --------


class OrgChoice(OrderCommand):
    """SO-5: confirm the proposed exact match, choose a candidate, create a new org, or say
    "not my org" (the wizard stops: contact Cisco)."""

    action: Literal["confirm", "choose", "create", "not_mine"]
    org_id: str | None = Field(None, max_length=WEBEX_ID_MAX)
    domain_search: str | None = Field(None, max_length=253, description="Global domain search.")
    company_name: str | None = Field(None, max_length=200)
    vertical: str | None = Field(None, max_length=80)
    country: str | None = Field(None, max_length=2)


class MeetingSite(OrderCommand):
    name: str = Field(max_length=30, description="Site URL name: <name>.webex.com.")
    timezone: str = Field(max_length=64)
    early_adopter: bool = False
    licenses: int | None = Field(None, ge=0, le=1_000_000)


class MeetingsSetup(OrderCommand):
    setup: Literal["now", "later"] = "now"
    sites: list[MeetingSite] = Field(default_factory=list, max_length=20)


class CallingSetup(OrderCommand):
    setup: Literal["now", "later"] = "now"
    location_name: str | None = Field(None, max_length=80)
    country: str | None = Field(None, max_length=2, description="Where most users are.")


class MessagingSetup(OrderCommand):
    setup: Literal["now", "later"] = "now"


class ServicesAnswers(OrderCommand):
    """SO-8 per purchased service (SO-12: only those), SO-9/SO-13 *set up later*."""

    meetings: MeetingsSetup | None = None
    calling: CallingSetup | None = None
    messaging: MessagingSetup | None = None
    subdomain: str | None = Field(None, max_length=63, description="Enterprise settings.")


class SetupAnswers(OrderCommand):
    who: Literal["me", "colleague", "customer"] | None = None  # SO-4
    handoff_email: str | None = Field(None, max_length=254)  # SO-4: colleague
    purpose: Literal["customer", "my_company"] | None = None  # SO-11
    partner_org: OrgChoice | None = None  # SO-5 (purpose customer)
    customer_admin_email: str | None = Field(None, max_length=254)  # SO-5, SO-6
    customer_org: OrgChoice | None = None  # SO-5 (my_company: the buyer's own org)
    partner_password: str | None = Field(None, max_length=128)  # SO-12: new partner org
    customer_sets_up_services: bool = False  # SO-4: Suite flow, partner keeps access
    services: ServicesAnswers | None = None
    provision_and_start_billing: bool = False  # SO-10


class SetupStep(OrderCommand):
    step: SetupStepName
    answers: SetupAnswers = Field(default_factory=SetupAnswers)


class ServicesResume(OrderCommand):
    """SO-9/SO-13: set-up resumed at a later sign-in for the services left for later."""

    services: ServicesAnswers
    provision_and_start_billing: bool = True


class BeginSetup(OrderCommand):
    pass


class ChangeContact(OrderCommand):
    email: str = Field(max_length=254)


class ChangeStartDate(OrderCommand):
    requested_start_date: date


class Resend(OrderCommand):
    pass


class CancelOrder(OrderCommand):
    reason: str = Field("", max_length=500)


# --- results --------------------------------------------------------------------------------


class OrgCandidate(Stored):
    org_id: str
    name: str
    verified_domains: list[str] = Field(default_factory=list)
    claimed_domains: list[str] = Field(default_factory=list)
    active_users: int = 0
    last_activity_at: datetime | None = None
    likely: bool = True
    why: str = ""


class OrgMatch(Stored):
    """SO-5: an exact match to confirm, candidates to choose from, or none (create)."""

    kind: Literal["exact", "candidates", "none"]
    email: str
    proposed: OrgCandidate | None = None
    candidates: list[OrgCandidate] = Field(default_factory=list)


class StepResult(Stored):
    step: str
    next_step: str | None = None
    partner_org: OrgMatch | None = None
    customer_org: OrgMatch | None = None
    services: list[str] = Field(default_factory=list, description="SO-12: purchased only.")
    info: list[str] = Field(default_factory=list)


class UpdateResult(Stored):
    state: OrderState
    message: str = ""
    step: StepResult | None = None


class OrderStatus(Stored):
    order_id: str
    state: OrderState
    offer: str
    lines: list[OrderLine]
    submitted_by_org_id: str
    partner_org_id: str | None = None
    customer_org_id: str | None = None
    start_at: datetime
    email_sent_at: datetime | None = None
    rep_alerted_at: datetime | None = None
    setup_started_at: datetime | None = None
    close_at: datetime | None = None
    mapped_at: datetime | None = None
    provisioned_at: datetime | None = None
    closed_at: datetime | None = None
    cancelled_at: datetime | None = None
    deferred_services: list[str] = Field(default_factory=list)
    trial_id: str | None = None
    trial_converted: bool = False
    email_round: int = 0
    next_deadline_at: datetime | None = None
    next_deadline_kind: str | None = None
    waiting_for: str = ""
    error: str | None = None
    rejected: list[str] = Field(default_factory=list)
    notices: list[NoticeView] = Field(default_factory=list)


# --- activity payloads ----------------------------------------------------------------------


class Transition(Stored):
    """One state transition: the effects of ``kind`` and the read model, in one transaction;
    then the notices it owes are delivered (outbox, exactly once)."""

    order_id: str
    kind: Literal[
        "open",  # the lifecycle runs: its first deadline
        "email",  # SO-1: provisioning email (and the start of PX-5's clock)
        "rep_alert",  # SO-2
        "close",  # PX-5
        "begin",  # setup_in_progress
        "contact",  # contact changed (email again if already sent)
        "reschedule",  # start date changed
        "resend",
        "cancel",
    ]
    state: OrderState
    at: datetime
    round: int = 0
    contact_email: str | None = None
    start_at: datetime | None = None
    close_at: datetime | None = None
    next_deadline_at: datetime | None = None
    next_deadline_kind: str | None = None
    reason: str = ""


class SetupCommit(Stored):
    order_id: str
    answers: SetupAnswers
    at: datetime
    round: int = 0  # a hand-off's email round
    close_at: datetime | None = None
    resume: bool = False  # SO-9/SO-13: services of an order already mapped


class SetupOutcome(Stored):
    state: OrderState
    partner_org_id: str | None = None
    customer_org_id: str | None = None
    deferred_services: list[str] = Field(default_factory=list)
    provisioned: list[str] = Field(default_factory=list)
    notices: list[NoticeView] = Field(default_factory=list)
    message: str = ""


class TrialConversion(Stored):
    order_id: str
    trial_id: str


class OrderActivity:
    """The activities of this lifecycle, by name (activities/orders implements them)."""

    open = ActivityRef[None]("order_open")
    transition = ActivityRef[list[NoticeView]]("order_transition", list[NoticeView])
    check_setup = ActivityRef[StepResult]("order_check_setup", StepResult)
    apply_setup = ActivityRef[SetupOutcome]("order_apply_setup", SetupOutcome)
    convert_trial = ActivityRef[str]("order_convert_trial", str)
    record = ActivityRef[None]("order_record")
