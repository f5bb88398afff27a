"""Billing workflows (WH-B1..B4, PX-6, PX-7). Deterministic code only; every effect is an
activity of activities/billing, called by name.

- ``BillingReport`` (id ``billing-report-<report id>``): one per report, IN_PROGRESS until its
  one activity has streamed the file (COMPLETED) or given up (FAILED with errors). Two
  state transitions per report.
- ``BillingUsageClose``: started each day by the Temporal Schedule ``billing-usage-close``
  (catch-up on): records the usage of every day not yet recorded up to yesterday (WH-B1),
  and on the first run of a month starts the previous month's PARTNER reports (PX-7) as
  abandoned children, each its own ``BillingReport``.

Neither takes a signal: one sent to either (any name, any payload) is recorded, never
buffered or lost, in its ``status`` query's ``rejected`` and its current details, shown at
once (no main loop to wake: the inbox's ``on_reject``). No command changes with it.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from models.billing.contract import (
        BillingActivity,
        CloseDue,
        MonthlyJob,
        ReportInput,
        ReportOutcome,
        ReportView,
        UsageCloseInput,
        UsageCloseResult,
        UsageCloseView,
        report_workflow_id,
    )

from workflows import search_attributes as sa
from workflows.common import RETRY, Inbox, Lifecycle, act

# A report streams a whole period from PostgreSQL: longer than the shared 60 s.
REPORT_TIMEOUT = timedelta(minutes=30)
REPORT_HEARTBEAT = timedelta(seconds=30)


@workflow.defn(name="BillingReport")
class BillingReport(Lifecycle):
    @workflow.init
    def __init__(self, inp: ReportInput) -> None:
        self.inp = inp
        self.inbox: Inbox[None] = Inbox(on_reject=self.show)
        self.outcome = ReportOutcome(report_id=inp.report_id, status="IN_PROGRESS")
        self.details: list[str] = []

    def show(self, *details: str) -> None:
        """The current details: ``details`` (or the last ones) and the refused signals."""
        self.details = list(details) or self.details
        workflow.set_current_details("\n\n".join(self.details + self.inbox.details()))

    @workflow.run
    async def run(self, inp: ReportInput) -> ReportOutcome:
        self.show(
            "Generating the report: the period's daily usage is streamed from PostgreSQL to "
            f"the report folder (up to {inp.policy.report_attempts} attempts, then FAILED)."
        )
        self.outcome = await workflow.execute_activity(
            BillingActivity.generate_report.name,
            inp,
            start_to_close_timeout=REPORT_TIMEOUT,
            # A worker that dies mid-report is noticed in seconds, not after REPORT_TIMEOUT.
            heartbeat_timeout=(
                REPORT_HEARTBEAT if workflow.patched("billing-report-heartbeat") else None
            ),
            retry_policy=RETRY,
            summary="stream the report file (WH-B5)",
            result_type=ReportOutcome,
        )
        workflow.upsert_search_attributes([sa.LIFECYCLE_STATE.value_set(self.outcome.status)])
        o = self.outcome
        details = [f"**{o.status}**: {o.rows} rows, {o.bytes} bytes."]
        details += [f"Error {e.code}: {e.description}" for e in self.outcome.errors]
        self.show(*details)
        return self.outcome

    @workflow.query
    def status(self) -> ReportView:
        return ReportView(**self.outcome.model_dump(), rejected=list(self.inbox.rejected))


@workflow.defn(name="BillingUsageClose")
class BillingUsageClose(Lifecycle):
    @workflow.init
    def __init__(self, inp: UsageCloseInput) -> None:
        self.inbox: Inbox[None] = Inbox(on_reject=self.show)
        self.result = UsageCloseResult()
        self.details: list[str] = []

    def show(self, *details: str) -> None:
        """The current details: ``details`` (or the last ones) and the refused signals."""
        self.details = list(details) or self.details
        workflow.set_current_details("\n\n".join(self.details + self.inbox.details()))

    @workflow.query
    def status(self) -> UsageCloseView:
        return UsageCloseView(**self.result.model_dump(), rejected=list(self.inbox.rejected))

    @workflow.run
    async def run(self, inp: UsageCloseInput) -> UsageCloseResult:
        p = inp.policy
        as_of = workflow.now()
        self.show(f"Recording each day's usage up to yesterday ({p.timezone} days, WH-B1).")
        while True:
            closed = await act(
                BillingActivity.close_due,
                CloseDue(as_of=as_of, timezone=p.timezone, max_days=p.close_max_days),
                summary="record the days' usage (WH-B1)",
            )
            self.result.days += closed.days
            self.result.lines += closed.lines
            self.result.last = closed.last or self.result.last
            if not closed.more:
                break
        monthly = await act(
            BillingActivity.monthly_reports,
            MonthlyJob(as_of=as_of, timezone=p.timezone),
            summary="previous month's PARTNER reconciliation (PX-7)",
        )
        self.result.month = monthly.month
        for r in monthly.reports:
            try:
                await workflow.start_child_workflow(
                    BillingReport.run,
                    ReportInput(report_id=r.report_id, partner_org_id=r.partner_org_id, policy=p),
                    id=report_workflow_id(r.report_id),
                    parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                    search_attributes=TypedSearchAttributes(
                        [
                            SearchAttributePair(sa.LIFECYCLE_STATE, "IN_PROGRESS"),
                            SearchAttributePair(sa.PARTNER_ORG_ID, r.partner_org_id),
                        ]
                    ),
                    static_summary=f"Monthly PARTNER reconciliation {monthly.month} (PX-7)",
                )
            except WorkflowAlreadyStartedError:
                pass  # started by an earlier run
            self.result.reports.append(r.report_id)
        self.show(
            f"Recorded {self.result.days} day(s), {self.result.lines} line(s), through "
            f"{self.result.last}; {len(self.result.reports)} monthly report(s) started."
        )
        return self.result
