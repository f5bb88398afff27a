"""The billing lifecycle's JSON contract (WH-B1..B8, PX-6, PX-7): the policy snapshotted at
start, the inputs of ``BillingReport`` and ``BillingUsageClose``, the activities' arguments
and results, and the activity namespace the workflows call by name."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field, field_validator

from models.common.contract import ActivityRef, RejectedMessage, Stored
from models.common.types import WEBEX_ID_MAX

ReportType = Literal["PARTNER", "CUSTOMER", "USER"]  # PX-6
ReportStatus = Literal["IN_PROGRESS", "COMPLETED", "FAILED"]  # PX-6
ReportCategory = Literal["RECONCILIATION", "POINT_IN_TIME"]  # PX-6

USAGE_CLOSE_SCHEDULE_ID = "billing-usage-close"  # PX-7: the Temporal Schedule's id
SYSTEM_CREATOR = "system:billing-usage-close"  # createdBy of the monthly reports (PX-7)


def report_workflow_id(report_id: str) -> str:
    return f"billing-report-{report_id}"


class BillingPolicy(Stored):
    """Settings snapshotted when a report or a usage close starts (workers/settings.py)."""

    timezone: str = Field("UTC", max_length=64)  # bounds a billing day (WH-B1)
    report_dir: str = Field(".lifecycles/billing-reports", max_length=1000)
    report_attempts: int = Field(3, ge=1, le=100)  # then the report is FAILED
    close_max_days: int = Field(400, ge=1, le=4000)  # days one close activity records
    download_minutes: float = Field(30.0, gt=0, le=10080)  # WH-B3
    lookback_years: int = Field(5, ge=1, le=50)  # WH-B2
    # Billing days are calendar days of ``timezone``: LIFECYCLES_DAY_SECONDS does not
    # compress them (kept for the shape every policy shares).
    day_seconds: float = Field(86400.0, gt=0)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from models.billing.rules import zone

        zone(v)  # ValueError names an unknown zone
        return v


class ReportError(Stored):
    code: int = Field(ge=0, le=2**31 - 1)
    description: str = Field(max_length=500)


class ReportInput(Stored):
    """``BillingReport``'s input: the request itself is the ``billing_report`` row."""

    report_id: str = Field(max_length=120)
    partner_org_id: str = Field(max_length=WEBEX_ID_MAX)
    policy: BillingPolicy


class ReportOutcome(Stored):
    report_id: str = Field(max_length=120)
    status: ReportStatus
    rows: int = Field(0, ge=0)
    bytes: int = Field(0, ge=0)
    errors: list[ReportError] = Field(default_factory=list, max_length=20)


class ReportView(ReportOutcome):
    """``BillingReport``'s ``status`` query: its outcome so far and the signals it refused
    (it takes none: every signal sent to it is recorded here, for operators)."""

    rejected: list[RejectedMessage] = Field(
        default_factory=list, description="signals refused lately, for operators"
    )


class CloseDue(Stored):
    """Record every day not yet recorded up to the day before ``as_of``'s local date."""

    as_of: datetime
    timezone: str = Field(max_length=64)
    max_days: int = Field(ge=1, le=4000)


class CloseResult(Stored):
    first: date | None = None
    last: date | None = None
    days: int = Field(0, ge=0)
    lines: int = Field(0, ge=0)
    more: bool = False  # more days are due than one activity records


class MonthlyJob(Stored):
    """PX-7: the month before ``as_of``'s local month is reconciled once."""

    as_of: datetime
    timezone: str = Field(max_length=64)


class MonthlyReport(Stored):
    report_id: str = Field(max_length=120)
    partner_org_id: str = Field(max_length=WEBEX_ID_MAX)


class MonthlyResult(Stored):
    month: date | None = None  # its first day
    reports: list[MonthlyReport] = Field(default_factory=list)


class UsageCloseInput(Stored):
    policy: BillingPolicy


class UsageCloseResult(Stored):
    days: int = 0
    lines: int = 0
    last: date | None = None
    month: date | None = None
    reports: list[str] = Field(default_factory=list)


class UsageCloseView(UsageCloseResult):
    """``BillingUsageClose``'s ``status`` query: what it recorded so far and the signals it
    refused (it takes none)."""

    rejected: list[RejectedMessage] = Field(
        default_factory=list, description="signals refused lately, for operators"
    )


class BillingActivity:
    close_due = ActivityRef[CloseResult]("billing_close_due", CloseResult)
    monthly_reports = ActivityRef[MonthlyResult]("billing_monthly_reports", MonthlyResult)
    generate_report = ActivityRef[ReportOutcome]("billing_generate_report", ReportOutcome)
