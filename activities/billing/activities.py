"""Activities of ``BillingUsageClose`` and ``BillingReport``: each calls one store function
(models/billing/store.py). All are idempotent: closing a day replaces its rows, a monthly
report has a deterministic id, a finished report answers as it is."""

from __future__ import annotations

from temporalio import activity

from activities.common import Activities, heartbeating
from models.billing import rules as R
from models.billing import store
from models.billing.contract import (
    CloseDue,
    CloseResult,
    MonthlyJob,
    MonthlyResult,
    ReportError,
    ReportInput,
    ReportOutcome,
)


class BillingActivities(Activities):
    @activity.defn(name="billing_close_due")
    async def billing_close_due(self, job: CloseDue) -> CloseResult:
        """WH-B1: record every day's usage not recorded yet, up to yesterday."""
        return await store.close_due(self.db, job)

    @activity.defn(name="billing_monthly_reports")
    async def billing_monthly_reports(self, job: MonthlyJob) -> MonthlyResult:
        """PX-7: the previous month's PARTNER reconciliation reports, once."""
        return await store.monthly_reports(self.db, job)

    @activity.defn(name="billing_generate_report")
    async def billing_generate_report(self, inp: ReportInput) -> ReportOutcome:
        """Stream the report's file; its last allowed attempt turns a failure into FAILED
        with ``errors[{code, description}]`` (PX-6) rather than retrying for ever."""
        try:
            async with heartbeating():
                return await store.generate_report(self.db, inp.report_id, inp.policy)
        except Exception as err:
            if activity.info().attempt < inp.policy.report_attempts:
                raise
            activity.logger.exception("billing report failed", extra={"report": inp.report_id})
            return await store.fail_report(
                self.db,
                inp.report_id,
                [
                    ReportError(
                        code=R.GENERATION_FAILED,
                        description="Billing report generation failed "
                        f"({type(err).__name__}); create the report again.",
                    )
                ],
            )
