"""The ``WholesaleCustomerProvisioning`` workflow's JSON contract: input, policy, signals,
updates, query. Plain pydantic models (send them with ``temporal workflow signal --input``).
The customer's request itself lives in its ``wholesale_customer`` row, written by the API
when it accepted the request: the workflow's history stays small."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from models.common.contract import ActivityRef, RejectedMessage

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
    return {  # type: ignore[return-value]
        "compliance_escalated": "pending_rpl_review",
        "pending_org_approval": "provisioning",
        "deleted": "deleting",
    }.get(state, state)


def customer_workflow_id(customer_id: str) -> str:
    return f"wholesale-customer-{customer_id}"


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WholesalePolicy(Contract):
    compliance_hold_hours: float = 72.0
    compliance_recheck_hours: float = 6.0
    operations_email: str = "wholesale-ops@localhost"
    attach_approval_reminder_days: float = 3.0
    attach_approval_days: float = 14.0
    max_history_events: int = 10_000

    day_seconds: float = 86400.0  # LIFECYCLES_DAY_SECONDS: compresses hours and days alike

    def hours(self, n: float) -> timedelta:
        return timedelta(seconds=n * self.day_seconds / 24)

    def days(self, n: float) -> timedelta:
        return timedelta(seconds=n * self.day_seconds)


class CustomerCarry(Contract):
    """What a continued-as-new run takes over from the previous one."""

    state: CustomerState
    org_id: str | None = None
    hold_started_at: datetime | None = None
    next_recheck_at: datetime | None = None
    rechecks: int = 0
    escalated_at: datetime | None = None
    approval_asked_at: datetime | None = None
    approval_reminders: int = 0
    changes: int = 0
    rejected: list[RejectedMessage] = Field(default_factory=list)


class CustomerInput(Contract):
    customer_id: str
    partner_org_id: str
    sub_partner_org_id: str | None = None
    policy: WholesalePolicy
    carry: CustomerCarry | None = None


class ProvisionStep(Contract):
    """Activity input: screen (unless cleared), ask approval (unless approved), provision."""

    customer_id: str
    compliance_cleared: bool = False
    attach_approved: bool = False


class Outcome(Contract):
    state: CustomerState
    org_id: str | None = None
    message: str = ""


# --- updates --------------------------------------------------------------------------------


class CustomerChange(Contract):
    """WH-C5: the complete package list wanted afterwards, and optionally a new address or
    external ID. The API has stored nothing yet; the activity writes it."""

    packages: list[str]
    external_id: str | None = None
    address: dict | None = None
    provisioning_parameters: dict | None = None


class DeleteRequest(Contract):
    by: str = ""


class ChangeResult(Contract):
    state: CustomerState
    message: str = ""


# --- signals --------------------------------------------------------------------------------


class ComplianceCleared(Contract):
    """WH-C2: an operator cleared the compliance hold."""

    by: str = "operations"
    note: str = ""


class AttachDecision(Contract):
    """PX-4: the existing org's admin approved (or refused) the attachment."""

    approved: bool
    by: str = ""


# --- query ----------------------------------------------------------------------------------


class CustomerStatus(Contract):
    customer_id: str
    state: CustomerState
    api_status: ApiStatus
    partner_org_id: str
    org_id: str | None = None
    hold_started_at: datetime | None = None
    next_recheck_at: datetime | None = None
    escalate_at: datetime | None = None
    escalated_at: datetime | None = None
    rechecks: int = 0
    next_deadline_at: datetime | None = None
    next_deadline_kind: str | None = None
    waiting_for: str = ""
    changes: int = Field(0, description="Package changes applied (carried across runs).")
    rejected: list[RejectedMessage] = Field(
        default_factory=list, description="signals refused lately, for operators"
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
