"""Starting billing work from other apps: a report (API and CLI), the daily usage close's
Temporal Schedule (the worker ensures it at start), and the download URLs' signing key."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from typing import Any

import structlog
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    WorkflowHandle,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from models.billing import store
from models.billing.contract import (
    USAGE_CLOSE_SCHEDULE_ID,
    BillingPolicy,
    ReportError,
    ReportInput,
    UsageCloseInput,
    report_workflow_id,
)
from models.billing.rules import GENERATION_FAILED
from models.billing.tables import BillingReport as ReportRow
from models.common.db import Database
from workers.settings import Settings
from workers.starter import start_lifecycle
from workflows import search_attributes as sa
from workflows.billing.workflow import BillingReport, BillingUsageClose

log = structlog.get_logger(__name__)


async def start_report(
    client: Client, db: Database, row: ReportRow, policy: BillingPolicy, task_queue: str
) -> WorkflowHandle[Any, Any] | None:
    """Start the report's workflow (a retried start attaches to it). If Temporal cannot be
    reached the report is FAILED at once (never left IN_PROGRESS with no one working)."""
    try:
        return await start_lifecycle(
            client,
            BillingReport.run,
            ReportInput(report_id=row.id, partner_org_id=row.partner_org_id, policy=policy),
            id=report_workflow_id(row.id),
            task_queue=task_queue,
            state="IN_PROGRESS",
            partner_org_id=row.partner_org_id,
            summary=f"Billing report {row.type} {row.billing_start_date}..{row.billing_end_date}",
        )
    except Exception:
        log.exception("billing report not started", report_id=row.id)
        await store.fail_report(
            db,
            row.id,
            [ReportError(code=GENERATION_FAILED, description="the report could not be started")],
        )
        return None


def usage_close_schedule(settings: Settings, task_queue: str) -> Schedule:
    """PX-7: the daily close at ``billing_close_at`` local time, catch-up on: runs missed
    while Temporal or the workers were down run late (each closes every day still due)."""
    hour, _, minute = settings.billing_close_at.partition(":")
    return Schedule(
        action=ScheduleActionStartWorkflow(
            BillingUsageClose.run,
            UsageCloseInput(policy=settings.billing_policy()),
            id=USAGE_CLOSE_SCHEDULE_ID,
            task_queue=task_queue,
            typed_search_attributes=TypedSearchAttributes(
                [SearchAttributePair(sa.LIFECYCLE_STATE, "closing")]
            ),
            static_summary="Record yesterday's usage (WH-B1); on the 1st, the monthly "
            "PARTNER reconciliation (PX-7)",
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    hour=[ScheduleRange(int(hour))], minute=[ScheduleRange(int(minute or 0))]
                )
            ],
            time_zone_name=settings.billing_timezone,
        ),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.BUFFER_ONE,
            catchup_window=timedelta(days=settings.billing_catchup_days),
        ),
    )


async def ensure_usage_close_schedule(
    client: Client, settings: Settings, task_queue: str | None = None
) -> None:
    """Create the schedule, or bring an existing one to these settings (idempotent: every
    worker does this at start)."""
    schedule = usage_close_schedule(settings, task_queue or settings.task_queue)
    try:
        await client.create_schedule(USAGE_CLOSE_SCHEDULE_ID, schedule)
        log.info("billing schedule created", schedule=USAGE_CLOSE_SCHEDULE_ID)
    except ScheduleAlreadyRunningError:
        handle = client.get_schedule_handle(USAGE_CLOSE_SCHEDULE_ID)
        await handle.update(lambda _: ScheduleUpdate(schedule=schedule))


async def ensure_schedules(client: Client, settings: Settings) -> None:
    """The worker's start-up call: a failure is logged, never stops the worker (a report
    closes the days it needs itself)."""
    try:
        await ensure_usage_close_schedule(client, settings)
    except Exception:
        log.exception("billing schedule not ensured", schedule=USAGE_CLOSE_SCHEDULE_ID)


def signing_key(settings: Settings) -> bytes:
    """WH-B3: the HMAC key of download URLs: the setting, else a random key kept in the data
    folder (one host; several API hosts share LIFECYCLES_BILLING_URL_SIGNING_KEY)."""
    if settings.billing_url_signing_key is not None:
        return settings.billing_url_signing_key.get_secret_value().encode()
    path = settings.data_dir / "billing-url.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
    return path.read_text().strip().encode()
