"""Starting a ``WholesaleCustomerProvisioning`` from the API: deterministic id, idempotent
(a retried request attaches to the running workflow and never starts a second one)."""

from __future__ import annotations

from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from models.wholesale_flow import CustomerInput, WholesalePolicy
from workflows import search_attributes as sa
from workflows.wholesale import WholesaleCustomerProvisioning


def customer_workflow_id(customer_id: str) -> str:
    return f"wholesale-customer-{customer_id}"


async def start_customer(
    client: Client,
    *,
    customer_id: str,
    partner_org_id: str,
    sub_partner_org_id: str | None,
    policy: WholesalePolicy,
    task_queue: str,
    packages: list[str],
) -> WorkflowHandle | None:
    """Start (or find running) the customer's workflow. ``None`` when a closed run exists:
    the customer was provisioned and removed, and is never provisioned twice."""
    try:
        return await client.start_workflow(
            WholesaleCustomerProvisioning.run,
            CustomerInput(
                customer_id=customer_id,
                partner_org_id=partner_org_id,
                sub_partner_org_id=sub_partner_org_id,
                policy=policy,
            ),
            id=customer_workflow_id(customer_id),
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.LIFECYCLE_STATE, "provisioning"),
                    SearchAttributePair(sa.PARTNER_ORG_ID, partner_org_id),
                ]
            ),
            static_summary=f"Wholesale customer: {', '.join(packages)}",
        )
    except WorkflowAlreadyStartedError:
        return None
