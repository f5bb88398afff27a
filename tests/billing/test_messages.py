"""Issue 9 for billing: neither billing workflow takes a signal, and one sent to either (no
input, two inputs, a malformed payload, any name) is recorded where an operator sees it
(the ``status`` query's ``rejected`` and the current details, at once, while the report is
still IN_PROGRESS), never lost in a log; the report then completes as it would have."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from temporalio import activity
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from models.billing.contract import (
    BillingActivity,
    ReportInput,
    ReportOutcome,
    ReportView,
    UsageCloseInput,
    UsageCloseView,
)
from tests.polling import eventually
from workers.settings import Settings
from workers.worker import sandbox_runner
from workflows.billing.workflow import BillingReport, BillingUsageClose

BAD: list[tuple[str, list[Any]]] = [
    ("cancel", []),  # no such signal, no input
    ("cancel", [{"by": "partner"}, {"by": "ops"}]),  # two inputs
    ("regenerate", ["5"]),  # a malformed payload
    ("retry", [{"typo": 1}]),  # an update's name, sent as a signal
]


async def details(h: WorkflowHandle[Any, Any]) -> str:
    meta = await h.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return meta.current_details


async def send_bad(h: WorkflowHandle[Any, Any]) -> None:
    for name, args in BAD:
        await h.signal(name, args=args)


async def test_wh_b5_bad_signals_to_a_report_are_recorded_and_it_completes(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """WH-B5/PX-6: four bad signals to an IN_PROGRESS report: ``status().rejected`` names
    each, the current details show the last three while it streams and after it
    completes, and the outcome is the activity's (COMPLETED, its rows and bytes)."""
    release = asyncio.Event()

    @activity.defn(name=BillingActivity.generate_report.name)
    async def generate_report(inp: ReportInput) -> ReportOutcome:
        await release.wait()
        return ReportOutcome(report_id=inp.report_id, status="COMPLETED", rows=3, bytes=120)

    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[BillingReport],
        activities=[generate_report],
        workflow_runner=sandbox_runner(),
    ):
        rid = uuid.uuid4().hex
        h = await env.client.start_workflow(
            BillingReport.run,
            ReportInput(report_id=rid, partner_org_id="p-1", policy=Settings().billing_policy()),
            id=f"billing-report-{rid}",
            task_queue=task_queue,
        )
        await send_bad(h)

        async def recorded() -> ReportView | None:
            st = await h.query(BillingReport.status)
            return st if len(st.rejected) == len(BAD) else None

        st = await eventually(recorded, "the refusal recorded")
        assert st.status == "IN_PROGRESS"
        assert [r.name for r in st.rejected] == [n for n, _ in BAD]
        assert all("no signal of that name" in r.reason for r in st.rejected)
        shown = await details(h)
        assert shown.startswith("Generating the report")
        assert shown.count("Refused signal") == 3 and "`retry`" in shown

        release.set()
        outcome = await h.result()
        assert (outcome.status, outcome.rows, outcome.bytes) == ("COMPLETED", 3, 120)
        final = await h.query(BillingReport.status)
        assert final.status == "COMPLETED" and len(final.rejected) == len(BAD)
        shown = await details(h)
        assert shown.startswith("**COMPLETED**: 3 rows, 120 bytes.")
        assert shown.count("Refused signal") == 3


async def test_wh_b1_bad_signals_to_a_usage_close_are_recorded(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """WH-B1: the daily close has a ``status`` query too; bad signals sent while it records
    the days are in its ``rejected`` and its current details, nothing else moved."""

    @activity.defn(name=BillingActivity.close_due.name)
    async def close_due(*args: Any) -> Any:
        await asyncio.Event().wait()  # cancelled when the worker stops

    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[BillingUsageClose],
        activities=[close_due],
        workflow_runner=sandbox_runner(),
    ):
        h = await env.client.start_workflow(
            BillingUsageClose.run,
            UsageCloseInput(policy=Settings().billing_policy()),
            id=f"billing-usage-close-{uuid.uuid4().hex[:10]}",
            task_queue=task_queue,
        )
        await send_bad(h)

        async def recorded() -> UsageCloseView | None:
            st = await h.query(BillingUsageClose.status)
            return st if len(st.rejected) == len(BAD) else None

        st = await eventually(recorded, "the refusal recorded")
        assert (st.days, st.lines, st.reports) == (0, 0, [])
        shown = await details(h)
        assert shown.startswith("Recording each day's usage")
        assert shown.count("Refused signal") == 3
        await h.terminate("test over")
