"""PX-7 and WH-B1: the daily ``BillingUsageClose`` workflow (what the ``billing-usage-close``
Schedule starts) records every day due and, on the first run of a month, starts the previous
month's PARTNER reconciliation reports once; the schedule itself is created idempotently."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import ScheduleCalendarSpec
from temporalio.testing import WorkflowEnvironment

from models.billing.contract import SYSTEM_CREATOR, USAGE_CLOSE_SCHEDULE_ID, UsageCloseInput
from models.billing.rules import previous_month
from tests.billing.conftest import Billing
from workers.billing import ensure_usage_close_schedule
from workers.settings import Settings
from workflows.billing.workflow import BillingUsageClose


async def test_px_7_daily_close_records_days_and_makes_the_monthly_partner_reports(
    bill: Billing, env: WorkflowEnvironment, task_queue: str
) -> None:
    now = await env.get_current_time()
    first, last = previous_month(now.astimezone(UTC).date())
    noon = datetime(first.year, first.month, first.day, 12, tzinfo=UTC)
    mine = await bill.subscriber(await bill.customer())
    await bill.assign(mine, "webex_calling", noon, noon + timedelta(days=2))  # 2 days
    theirs = await bill.subscriber(await bill.customer(other=True))
    await bill.assign(theirs, "webex_voice", noon + timedelta(days=5))  # to the month's end
    inp = UsageCloseInput(policy=bill.settings.billing_policy())

    result = await env.client.execute_workflow(
        BillingUsageClose.run, inp, id="billing-usage-close-test-1", task_queue=task_queue
    )
    yesterday = now.astimezone(UTC).date() - timedelta(days=1)
    assert result.last == yesterday and result.month == first
    assert result.days == (yesterday - first).days + 1
    assert len(result.reports) == 2  # one per partner with usage that month

    for _ in range(400):  # the reports are children of their own, left to run
        rows = await bill.rows()
        if all(r.status == "COMPLETED" for r in rows):
            break
        await asyncio.sleep(0.05)
    assert {(r.partner_org_id, r.type, r.created_by, r.status) for r in rows} == {
        (bill.partner, "PARTNER", SYSTEM_CREATOR, "COMPLETED"),
        (bill.other_partner, "PARTNER", SYSTEM_CREATOR, "COMPLETED"),
    }
    assert {(r.billing_start_date, r.billing_end_date) for r in rows} == {(first, last)}
    mine_report = next(r for r in rows if r.partner_org_id == bill.partner)
    (line,) = await bill.csv(mine_report.id)
    assert (line["SERVICE_NAME"], line["QUANTITY"]) == ("WEBEX_CALLING", "2")
    theirs_report = next(r for r in rows if r.partner_org_id == bill.other_partner)
    (line,) = await bill.csv(theirs_report.id, "other")
    assert line["QUANTITY"] == str((last - first).days + 1 - 5 - 1) + ".5"  # noon start

    again = await env.client.execute_workflow(
        BillingUsageClose.run, inp, id="billing-usage-close-test-2", task_queue=task_queue
    )
    assert again.days == 0 and again.reports == []  # idempotent: nothing twice
    assert len(await bill.rows()) == 2


@pytest.mark.devserver
async def test_px_7_usage_close_schedule_is_created_once_with_catch_up(
    dev_env: WorkflowEnvironment,
) -> None:
    settings = Settings(billing_timezone="Europe/Berlin", billing_close_at="00:05")
    client = dev_env.client
    try:
        await ensure_usage_close_schedule(client, settings, "tq-billing-schedule")
        await ensure_usage_close_schedule(client, settings, "tq-billing-schedule")  # no error
        desc = await client.get_schedule_handle(USAGE_CLOSE_SCHEDULE_ID).describe()
        spec = desc.schedule.spec
        assert spec.time_zone_name == "Europe/Berlin"
        (cal,) = spec.calendars
        assert isinstance(cal, ScheduleCalendarSpec)
        assert [r.start for r in cal.hour] == [0] and [r.start for r in cal.minute] == [5]
        assert desc.schedule.policy.catchup_window == timedelta(days=7)
        action = desc.schedule.action
        # ignored below: the action is a ScheduleActionStartWorkflow, typed as its base class
        assert action.workflow == "BillingUsageClose"  # type: ignore[attr-defined]
        schedules = [s.id async for s in await client.list_schedules()]
        assert schedules.count(USAGE_CLOSE_SCHEDULE_ID) <= 1
    finally:
        await client.get_schedule_handle(USAGE_CLOSE_SCHEDULE_ID).delete()
