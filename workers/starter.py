"""Starting lifecycles from other apps (CLI, API, demo): rules first, then an idempotent
start with the project's search attributes and a static summary for the UI."""

from __future__ import annotations

import uuid

from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
)

from activities.trial import start_checks
from models.db import Database
from models.trial import TrialPolicy, TrialRequest
from workers.settings import Settings
from workflows import search_attributes as sa
from workflows.trial import TrialLifecycle


def trial_workflow_id(trial_id: str) -> str:
    return f"trial-{trial_id}"


async def start_trial(
    client: Client,
    db: Database,
    settings: Settings,
    req: TrialRequest,
    *,
    trial_id: str | None = None,
    task_queue: str | None = None,
) -> WorkflowHandle:
    """Check the start rules (raises ``RuleError``, writing nothing), then start the workflow.

    The policy is snapshotted from settings here: the running trial never sees a later change.
    """
    trial_id = trial_id or uuid.uuid4().hex[:16]
    inp = await start_checks(db, req, trial_id, TrialPolicy.from_settings(settings))
    summary = (
        f"Trial: {', '.join(inp.services)} · {inp.license_count} licenses · {inp.days} days"
        f" · {'new customer' if inp.new_customer else 'existing org'}"
    )
    return await client.start_workflow(
        TrialLifecycle.run,
        inp,
        id=trial_workflow_id(trial_id),
        task_queue=task_queue or settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(
                    sa.LIFECYCLE_STATE,
                    "pending_consent" if inp.needs_consent else "awaiting_provisioning",
                ),
                SearchAttributePair(sa.PARTNER_ORG_ID, inp.partner_org_id),
                SearchAttributePair(sa.CUSTOMER_ORG_ID, inp.customer_org_id),
            ]
        ),
        static_summary=summary,
    )
