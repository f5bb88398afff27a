"""The ``SetupAssistProject`` workflow's JSON contract (WH-A1..WH-A7): the submission, the
workflow input with its snapshotted policy and business calendar, the updates (complete a
task, request information, answer it), the status query and the activity payloads.

Commands accept snake_case (CLI, ``temporal workflow update``) and camelCase (HTTP) names.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import ConfigDict, EmailStr, Field
from pydantic.alias_generators import to_camel

from models.common.contract import ActivityRef, Command, RejectedMessage, Stored
from models.common.types import WEBEX_ID_MAX
from models.setup_assist.rules import Calendar

Flow = Literal["express", "standard"]
Owner = Literal["cisco", "partner"]
ProjectState = Literal["in_progress", "support", "hand_off", "closed", "error"]
OPEN_STATES: frozenset[str] = frozenset({"in_progress", "support", "hand_off"})

# A location id travels in a URL path: Webex's (base64, padded or not) and ours, no "/".
ID_PATTERN = r"^[A-Za-z0-9._:=-]+$"
Id = Field(min_length=1, max_length=WEBEX_ID_MAX, pattern=ID_PATTERN)
Note = Field(min_length=1, max_length=2000)


def setup_assist_workflow_id(location_id: str) -> str:
    """One project per customer location (WH-A7): the location is the business key."""
    return f"setup-assist-{location_id}"


class CamelCommand(Command):
    """Takes snake_case and camelCase names; a refusal names the snake_case field (the API
    turns it into camelCase, api/setup_assist/service.py)."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, loc_by_alias=False
    )


class SetupAssistPolicy(Stored):
    """Every duration and count of a project, copied from settings when it is submitted."""

    day_seconds: float = Field(86400.0, gt=0)
    min_notice_business_days: int = Field(6, ge=0, le=60)  # WH-A2
    info_due_business_days: int = Field(2, ge=1, le=60)  # WH-A4
    support_business_days: int = Field(5, ge=1, le=60)  # WH-A6
    express_call_max_minutes: int = Field(60, ge=1, le=600)  # WH-A6
    express_max_seats: int = Field(5, ge=1, le=10_000)  # WH-A1
    handoff_business_days: int = Field(1, ge=1, le=60)  # planned timeline only
    team_email: str = Field("setup-assist@localhost", max_length=254)

    def days(self, n: float) -> timedelta:
        return timedelta(seconds=n * self.day_seconds)


class BusinessCalendar(Stored):
    """The location country's weekend days (Monday = 0) and public holidays, snapshotted
    from the ``holidays`` package at submission (see models/setup_assist/rules.py)."""

    country: str = Field(min_length=2, max_length=2)
    weekend: list[int] = Field(max_length=7)
    holidays: list[date] = Field(default_factory=list, max_length=2000)

    @classmethod
    def of(cls, cal: Calendar) -> BusinessCalendar:
        return cls(country=cal.country, weekend=sorted(cal.weekend), holidays=sorted(cal.holidays))

    def rules(self) -> Calendar:
        return Calendar(self.country, frozenset(self.weekend), frozenset(self.holidays))


# --- the submission (WH-A2) --------------------------------------------------------------


class SubmitRequest(CamelCommand):
    """WH-A2: what the Setup Assist request form carries."""

    partner_org_id: str = Id
    customer_org_id: str = Id
    subscription_id: str = Field(min_length=1, max_length=80)
    number_of_locations: int = Field(ge=1, le=10_000)
    location_id: str = Id
    completion_date: date = Field(description="Planned onboarding completion (WH-A2).")
    requester_email: EmailStr | None = Field(None, max_length=254)
    send_copy: bool = Field(False, description="Send the requester a copy of the request.")


class ChargeLine(Stored):
    """WH-A5: the project's line in the partner's billing reconciliation."""

    project_id: str
    partner_org_id: str
    sub_partner_org_id: str | None = None
    subscription_id: str
    customer_id: str
    customer_org_id: str
    external_customer_id: str
    location_id: str
    flow: Flow
    service_name: str
    sku: str
    description: str
    quantity: int = Field(ge=0)
    charged_on: date


class ProjectInput(Stored):
    project_id: str
    location_id: str
    partner_org_id: str
    sub_partner_org_id: str | None = None
    customer_id: str
    customer_org_id: str
    subscription_id: str
    flow: Flow
    seats: int
    country: str
    submitted_on: date
    completion_date: date
    requester_email: str | None = None
    send_copy: bool = False
    calendar: BusinessCalendar
    policy: SetupAssistPolicy
    charge: ChargeLine


# --- updates ---------------------------------------------------------------------------------


class CompleteTask(CamelCommand):
    """A task is done: who did it (it must be the one who owes it) and a note."""

    task_id: str = Field(min_length=3, max_length=8, pattern=r"^\d\.[cp]\d{1,2}$")
    who: Owner
    note: str = Note
    call_minutes: int | None = Field(
        None, ge=1, le=1440, description="The Express customer call's length (WH-A6)."
    )


class RequestInformation(CamelCommand):
    """Cisco asks the partner for information, due in two business days (WH-A4)."""

    topic: str = Field(min_length=1, max_length=500)
    who: Literal["cisco"] = "cisco"


class AnswerInformation(CamelCommand):
    number: int = Field(ge=1, le=10_000)
    who: Literal["partner"] = "partner"
    note: str = Note


class UpdateResult(Stored):
    state: ProjectState
    message: str = ""
    number: int | None = None
    due_on: date | None = None


# --- query -----------------------------------------------------------------------------------


class TaskView(Stored):
    id: str
    owner: Owner
    title: str
    kind: str = "plain"
    done_on: date | None = None
    done_at: datetime | None = None
    done_by: str | None = None
    note: str | None = None
    call_minutes: int | None = None


class PhaseView(Stored):
    number: int
    name: str
    planned_start: date
    planned_end: date
    started_on: date | None = None
    ended_on: date | None = None
    late: bool = False
    tasks: list[TaskView] = Field(default_factory=list)


class InfoRequestView(Stored):
    number: int
    topic: str
    asked_by: str = "cisco"
    asked_on: date
    due_on: date
    answered_on: date | None = None
    answer_note: str | None = None
    reminded_at: datetime | None = None
    escalated_at: datetime | None = None
    withdrawn: bool = False


class OpenTask(Stored):
    phase: int
    id: str
    title: str
    owner: Owner


class NoticeSent(Stored):
    kind: str
    recipient: str
    sent_at: datetime | None = None


class ProjectStatus(Stored):
    project_id: str
    location_id: str
    flow: Flow
    seats: int
    state: ProjectState
    partner_org_id: str
    customer_org_id: str
    customer_id: str
    country: str
    submitted_on: date
    completion_date: date
    today: date
    current_phase: int | None = None
    current_phase_name: str | None = None
    phases: list[PhaseView] = Field(default_factory=list)
    open_tasks: list[OpenTask] = Field(default_factory=list)
    owed_by: list[Owner] = Field(default_factory=list)
    info_requests: list[InfoRequestView] = Field(default_factory=list)
    migration_date: date | None = None
    support_ends_on: date | None = None
    closed_on: date | None = None
    late_phases: list[int] = Field(default_factory=list)
    next_deadline_at: datetime | None = None
    next_deadline_kind: str | None = None
    waiting_for: str = ""
    error: str | None = None
    notices: list[NoticeSent] = Field(default_factory=list)
    rejected: list[RejectedMessage] = Field(default_factory=list)


# --- activity payloads -----------------------------------------------------------------------

Audience = Literal["partner_admins", "team", "requester"]


class NoticeOrder(Stored):
    """One kind of notice of a project, to the audiences named; ``tag`` makes it unique
    (an information request's number), so each is written to the outbox exactly once."""

    kind: str
    tag: str = ""
    audiences: list[Audience]
    due_at: datetime
    context: dict[str, str] = Field(default_factory=dict)


class Step(Stored):
    """One state transition: the read model, the outbox rows and (at opening) the charge,
    written in one transaction; then the notices are sent."""

    status: ProjectStatus
    opening: bool = False
    charge: ChargeLine | None = None
    notices: list[NoticeOrder] = Field(default_factory=list)
    team_email: str = Field("setup-assist@localhost", max_length=254)


class SetupAssistActivity:
    """The activities of this lifecycle, by name and result (activities/ implements them)."""

    apply = ActivityRef[list[NoticeSent]]("setup_assist_apply", list[NoticeSent])
