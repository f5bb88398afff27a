"""Starting lifecycles from other apps (CLI, API, demo): one ``start_lifecycle`` for every
kind, so each start is idempotent in the same way (a deterministic business-key id and
``USE_EXISTING``: a retried start attaches to the running workflow) and shows the same
search attributes and a static summary in the UI from its first moment."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from models.common.db import Database
from models.trials.contract import TrialRequest, trial_workflow_id
from models.trials.store import start_checks
from models.wholesale.contract import CustomerInput, WholesalePolicy, customer_workflow_id
from workers.settings import Settings
from workflows import search_attributes as sa
from workflows.trials.workflow import TrialLifecycle
from workflows.wholesale.workflow import WholesaleCustomerProvisioning


async def start_lifecycle(
    client: Client,
    run: Callable[[Any, Any], Awaitable[Any]],
    arg: Any,
    *,
    id: str,
    task_queue: str,
    state: str,
    partner_org_id: str,
    customer_org_id: str | None = None,
    summary: str,
    id_reuse_policy: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE,
) -> WorkflowHandle[Any, Any]:
    """Start ``run`` (a workflow's ``@workflow.run`` method) with ``arg`` under ``id``, or
    return the handle of the run already open under that id."""
    pairs: list[SearchAttributePair[Any]] = [
        SearchAttributePair(sa.LIFECYCLE_STATE, state),
        SearchAttributePair(sa.PARTNER_ORG_ID, partner_org_id),
    ]
    if customer_org_id is not None:
        pairs.append(SearchAttributePair(sa.CUSTOMER_ORG_ID, customer_org_id))
    return await client.start_workflow(
        run,
        arg,
        id=id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=id_reuse_policy,
        search_attributes=TypedSearchAttributes(pairs),
        static_summary=summary,
    )


async def start_trial(
    client: Client,
    db: Database,
    settings: Settings,
    req: TrialRequest,
    *,
    trial_id: str | None = None,
    task_queue: str | None = None,
) -> WorkflowHandle[Any, Any]:
    """Check the start rules (raises ``RuleError``, writing nothing), then start the workflow.

    The policy is snapshotted from settings here: the running trial never sees a later change.
    ``db`` may go without a ping per checkout (``Database(pre_ping=False)``): the rules'
    statement proves its connection and is read again on a fresh one if the server dropped it.
    """
    trial_id = trial_id or uuid.uuid4().hex[:16]
    inp = await start_checks(db, req, trial_id, settings.trial_policy())
    return await start_lifecycle(
        client,
        TrialLifecycle.run,
        inp,
        id=trial_workflow_id(trial_id),
        task_queue=task_queue or settings.task_queue,
        state="pending_consent" if inp.needs_consent else "awaiting_provisioning",
        partner_org_id=inp.partner_org_id,
        customer_org_id=inp.customer_org_id,
        summary=(
            f"Trial: {', '.join(inp.services)} · {inp.license_count} licenses · {inp.days} days"
            f" · {'new customer' if inp.new_customer else 'existing org'}"
        ),
    )


async def start_customer(
    client: Client,
    *,
    customer_id: str,
    partner_org_id: str,
    sub_partner_org_id: str | None,
    policy: WholesalePolicy,
    task_queue: str,
    packages: list[str],
) -> WorkflowHandle[Any, Any] | None:
    """Start (or find running) the customer's workflow. ``None`` when a closed run exists:
    the customer was provisioned and removed, and is never provisioned twice."""
    try:
        return await start_lifecycle(
            client,
            WholesaleCustomerProvisioning.run,
            CustomerInput(
                customer_id=customer_id,
                partner_org_id=partner_org_id,
                sub_partner_org_id=sub_partner_org_id,
                policy=policy,
            ),
            id=customer_workflow_id(customer_id),
            task_queue=task_queue,
            state="provisioning",
            partner_org_id=partner_org_id,
            summary=f"Wholesale customer: {', '.join(packages)}",
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        return None
