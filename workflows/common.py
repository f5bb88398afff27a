"""The plumbing every lifecycle shares: activity options, refusals, deadlines as data, the
main loop's wait for the earliest deadline or a change and what follows it, and the search
attributes a lifecycle publishes.

Module-level functions only, called from inside a workflow: they issue exactly the commands
the workflows issued before they were shared (recorded histories replay against them, see
tests/test_replay.py). Deterministic code only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from models.common.contract import ActivityRef

from workflows import search_attributes as sa

R = TypeVar("R")

ACTIVITY_TIMEOUT = timedelta(seconds=60)
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=5),
    non_retryable_error_types=["RuleViolation"],
)


def refuse(rule: str, field: str, message: str) -> ApplicationError:
    """A refusal naming its rule and field; never retried."""
    return ApplicationError(
        f"{rule} ({field}): {message}",
        {"rule": rule, "field": field, "message": message},
        type="RuleViolation",
        non_retryable=True,
    )


@dataclass(frozen=True)
class Deadline:
    kind: str
    at: datetime
    tag: str = ""  # which one of a kind that repeats (a device return reminder)


async def act(ref: ActivityRef[R], *args: Any, summary: str) -> R:
    """Run one activity, by name, with the shared timeout and retry policy."""
    result: R = await workflow.execute_activity(
        ref.name,
        args=list(args),
        start_to_close_timeout=ACTIVITY_TIMEOUT,
        retry_policy=RETRY,
        summary=summary,
        result_type=ref.result,
    )
    return result


async def wait_for(
    deadline: Deadline | None, changed: Callable[[], bool], labels: Mapping[str, str]
) -> None:
    """Wait for ``changed()`` or, with a deadline still ahead, until it is due (a timer
    summarised by ``labels[deadline.kind]``). A deadline already due does not wait."""
    if deadline is None:
        await workflow.wait_condition(changed)
    elif deadline.at > workflow.now():
        try:
            await workflow.wait_condition(
                changed,
                timeout=deadline.at - workflow.now(),
                timeout_summary=labels[deadline.kind],
            )
        except TimeoutError:
            pass


async def fire_due(
    lock: asyncio.Lock,
    handle_signals: Callable[[], Awaitable[None]],
    next_deadline: Callable[[], Deadline | None],
    on_deadline: Callable[[Deadline], Awaitable[None]],
) -> None:
    """After a wait, under the lock: the queued signals first, then the earliest deadline
    if it is due by now."""
    async with lock:
        await handle_signals()
        due = next_deadline()
        if due is not None and due.at <= workflow.now():
            await on_deadline(due)


def search_attribute_updates(
    state: str, partner_org_id: str, customer_org_id: str | None, deadline: Deadline | None
) -> list[SearchAttributeUpdate[Any]]:
    """What a lifecycle publishes: its state, its orgs and its next deadline; a customer
    org or a deadline that is None is unset."""
    return [
        sa.LIFECYCLE_STATE.value_set(state),
        sa.PARTNER_ORG_ID.value_set(partner_org_id),
        sa.CUSTOMER_ORG_ID.value_set(customer_org_id)
        if customer_org_id is not None
        else sa.CUSTOMER_ORG_ID.value_unset(),
        sa.NEXT_DEADLINE_AT.value_set(deadline.at)
        if deadline
        else sa.NEXT_DEADLINE_AT.value_unset(),
        sa.NEXT_DEADLINE_KIND.value_set(deadline.kind)
        if deadline
        else sa.NEXT_DEADLINE_KIND.value_unset(),
    ]
