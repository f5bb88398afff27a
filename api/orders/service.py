"""Accepting an order (the API, the CLI and tests share it): the rules and the order's row in
one transaction, then its ``SubscriptionOrder`` workflow through ``start_lifecycle``
(idempotent: the same order again attaches to the running workflow)."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from models.common.db import Database
from models.orders.contract import OrderCreate, OrderPolicy
from models.orders.store import create_order, order_input
from models.orders.tables import OrderRecord
from workers.starter import start_lifecycle
from workflows.orders.workflow import SubscriptionOrder


def summary(row: OrderRecord) -> str:
    lines = ", ".join(f"{ln['service']} x {ln['quantity']}" for ln in row.lines)
    trial = f" · converts trial {row.trial_id}" if row.trial_id else ""
    return f"Order {row.offer}: {lines} · starts {row.requested_start_date}{trial}"


async def accept_order(
    client: Client,
    db: Database,
    policy: OrderPolicy,
    submitted_by_org_id: str,
    req: OrderCreate,
    *,
    task_queue: str,
) -> tuple[OrderRecord, bool]:
    """(the order's row, whether it is new). Raises ``RuleError`` (nothing written) or
    ``OrderExists`` (another order under this id). The policy is snapshotted here."""
    async with db.session() as s:
        row, created = await create_order(s, submitted_by_org_id, req)
    await start(client, row, policy, task_queue)  # a retried create starts what a crash left
    return row, created


async def start(
    client: Client, row: OrderRecord, policy: OrderPolicy, task_queue: str
) -> WorkflowHandle[Any, Any] | None:
    try:
        return await start_lifecycle(
            client,
            SubscriptionOrder.run,
            order_input(row, policy),
            id=row.workflow_id,
            task_queue=task_queue,
            state="scheduled",
            partner_org_id=row.submitted_by_org_id,
            summary=summary(row),
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:  # finished (closed, cancelled, provisioned): keep it
        return None
