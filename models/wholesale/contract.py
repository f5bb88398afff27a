"""The ``WholesaleCustomerProvisioning`` workflow's JSON contract: input, policy, signals,
updates, query. Plain pydantic models (send them with ``temporal workflow signal --input``).
The customer's request itself lives in its ``wholesale_customer`` row, written by the API
when it accepted the request: the workflow's history stays small."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from models.common.contract import ActivityRef, Command, RejectedMessage, StepFailure, Stored
from models.common.types import WEBEX_ID_MAX as WEBEX_ID_MAX  # re-exported

# Workflow states (the LifecycleState search attribute); ``api_status`` maps them to PX-1.
CustomerState = Literal[
    "provisioning",
    "pending_rpl_review",
    "compliance_escalated",
    "pending_org_approval",
    "provisioned",
    "provisioned_with_errors",
    "error",
    "updating",
    "deleting",
    "deleted",
]
ApiStatus = Literal[
    "provisioning",
    "provisioned",
    "provisioned_with_errors",
    "updating",
    "deleting",
    "error",
    "pending_rpl_review",
]
SETTLED: frozenset[str] = frozenset({"provisioned", "provisioned_with_errors", "error"})
DELETABLE: frozenset[str] = SETTLED | {
    "pending_rpl_review",
    "compliance_escalated",
    "pending_org_approval",
}


def api_status(state: str) -> ApiStatus:
    """PX-1 as the API shows it: an escalated hold is still a compliance review (now by
    operations); an attach waiting for the org admin's approval is still provisioning."""
    # ignored below: every other state already is its API status (the .get default)
    return {  # type: ignore[return-value]
        "compliance_escalated": "pending_rpl_review",
        "pending_org_approval": "provisioning",
        "deleted": "deleting",
    }.get(state, state)


def customer_workflow_id(customer_id: str) -> str:
    return f"wholesale-customer-{customer_id}"


# Bounds: what the columns of wholesale_customer hold (models/wholesale/tables.py).
# Ids are Webex's shape and length (models.common.types.WEBEX_ID_MAX, migration 0011).
Id = Annotated[str, Field(min_length=1, max_length=WEBEX_ID_MAX)]
Count = Annotated[int, Field(ge=0, le=1_000_000_000)]
Text = Annotated[str, Field(max_length=2000)]
Email = Annotated[str, Field(max_length=254)]
CustomerPackage = Literal[
    "common_area_calling", "webex_voice", "webex_calling", "webex_suite", "webex_meetings"
]
JSON_MAX = 16_384  # a JSONB document taken from a command: bounded, so history stays small


def _bounded_json(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None and len(json.dumps(value, default=str)) > JSON_MAX:
        raise ValueError(f"at most {JSON_MAX} characters of JSON")
    return value


BoundedJson = Annotated[dict[str, Any], AfterValidator(_bounded_json)]
Address = Annotated[
    dict[Annotated[str, Field(max_length=32)], Annotated[str, Field(max_length=50)]],
    Field(max_length=8),
]


class WholesalePolicy(Stored):
    compliance_hold_hours: float = Field(72.0, ge=0, le=24 * 3650)
    compliance_recheck_hours: float = Field(6.0, gt=0, le=24 * 3650)
    operations_email: Email = "wholesale-ops@localhost"
    attach_approval_reminder_days: float = Field(3.0, ge=0, le=3650)
    attach_approval_days: float = Field(14.0, ge=0, le=3650)
    max_history_events: int = Field(10_000, ge=1, le=51_200)
    # PX-3: how long a command sent while a step settles waits for its outcome (seconds, not
    # compressed by day_seconds); then it is refused as still in progress
    settle_wait_seconds: float = Field(20.0, gt=0, le=3600)

    day_seconds: float = Field(
        86400.0, gt=0, le=86400.0
    )  # LIFECYCLES_DAY_SECONDS: compresses hours and days alike

    def hours(self, n: float) -> timedelta:
        return timedelta(seconds=n * self.day_seconds / 24)

    def days(self, n: float) -> timedelta:
        return timedelta(seconds=n * self.day_seconds)


class CustomerCarry(Stored):
    """What a continued-as-new run takes over from the previous one."""

    state: CustomerState
    org_id: Id | None = None
    hold_started_at: datetime | None = None
    next_recheck_at: datetime | None = None
    rechecks: Count = 0
    escalated_at: datetime | None = None
    approval_asked_at: datetime | None = None
    approval_reminders: Count = 0
    changes: Count = 0
    rejected: list[RejectedMessage] = Field(default_factory=list)


class CustomerInput(Stored):
    customer_id: Id
    partner_org_id: Id
    sub_partner_org_id: Id | None = None
    policy: WholesalePolicy
    carry: CustomerCarry | None = None


class ProvisionStep(Stored):
    """Activity input: screen (unless cleared), ask approval (unless approved), provision."""

    customer_id: Id
    compliance_cleared: bool = False
    attach_approved: bool = False


class Outcome(Stored):
    state: CustomerState
    org_id: Id | None = None
    message: Text = ""


# --- updates --------------------------------------------------------------------------------


class CustomerChange(Command):
    """WH-C5: the complete package list wanted afterwards, and optionally a new address or
    external ID. The API has stored nothing yet; the activity writes it."""

    packages: list[CustomerPackage] = Field(max_length=5)
    external_id: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    address: Address | None = None
    provisioning_parameters: BoundedJson | None = None


class DeleteRequest(Command):
    by: Email = ""


class ChangeResult(Stored):
    state: CustomerState
    message: Text = ""


# --- signals --------------------------------------------------------------------------------


class ComplianceCleared(Command):
    """WH-C2: an operator cleared the compliance hold."""

    by: Email = "operations"
    note: Text = ""


class AttachDecision(Command):
    """PX-4: the existing org's admin approved (or refused) the attachment."""

    approved: bool
    by: Email = ""


# --- query ----------------------------------------------------------------------------------


class CustomerStatus(Stored):
    customer_id: Id
    state: CustomerState
    api_status: ApiStatus
    partner_org_id: Id
    org_id: Id | None = None
    hold_started_at: datetime | None = None
    next_recheck_at: datetime | None = None
    escalate_at: datetime | None = None
    escalated_at: datetime | None = None
    rechecks: Count = 0
    next_deadline_at: datetime | None = None
    next_deadline_kind: Annotated[str, Field(max_length=64)] | None = None
    waiting_for: str = ""
    changes: int = Field(0, description="Package changes applied (carried across runs).")
    rejected: list[RejectedMessage] = Field(
        default_factory=list, description="signals refused lately, for operators"
    )
    failure: StepFailure | None = Field(
        default=None, description="the step that failed for good (state error); see `retry`"
    )
    approval_asked_at: datetime | None = Field(
        None, description="PX-4: when the org's admin was asked to approve the attachment."
    )


class WholesaleActivity:
    """The activities of this lifecycle, by name and result (activities/ implements them)."""

    provision_customer = ActivityRef[Outcome]("provision_customer", Outcome)
    remind_attach_approval = ActivityRef[None]("remind_attach_approval")
    lapse_attach = ActivityRef[Outcome]("lapse_attach", Outcome)
    refuse_attach = ActivityRef[Outcome]("refuse_attach", Outcome)
    escalate_compliance = ActivityRef[None]("escalate_compliance")
    apply_customer_change = ActivityRef[Outcome]("apply_customer_change", Outcome)
    remove_customer = ActivityRef[None]("remove_customer")
    # PX-3: the read model shows an accepted change until it is applied (state "updating"
    # or "deleting"); run by the workflow just before apply_customer_change/remove_customer.
    mark_changing = ActivityRef[None]("wholesale_mark_changing")
