"""SetupAssistProject: one workflow per customer location (WH-A7), id
``setup-assist-<location_id>``, from the submitted request to the operational hand-off.

Deterministic code only. The phases and their tasks are data (models/setup_assist/phases.py,
seed 002's tables); business days are counted with the calendar snapshotted in the input
(models/setup_assist/rules.py), and a business-day date becomes a workflow instant through
the project clock (``ProjectClock.at``), so LIFECYCLES_DAY_SECONDS compresses them too.

State transitions, each ONE activity (``setup_assist_apply``: read model, outbox rows and,
at opening, the charge in one transaction): the opening; each completed task, information
request or answer (updates, validated before they change anything); each deadline (a
reminder on the day information is due, an escalation the day after, WH-A4; the end of
Standard's post-migration support, WH-A6).
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from models.setup_assist import rules
    from models.setup_assist.contract import (
        OPEN_STATES,
        AnswerInformation,
        CompleteTask,
        InfoRequestView,
        NoticeOrder,
        NoticeSent,
        OpenTask,
        PhaseView,
        ProjectInput,
        ProjectState,
        ProjectStatus,
        RequestInformation,
        SetupAssistActivity,
        Step,
        TaskView,
        UpdateResult,
    )
    from models.setup_assist.phases import MIGRATION_PHASE, SUPPORT_PHASE, phases_of

from workflows.common import (
    Deadline,
    Inbox,
    Lifecycle,
    act,
    fire_due,
    parse,
    refuse,
    search_attribute_updates,
    wait_for,
)

DEADLINE_LABELS = {
    "info_reminder": "information due today: remind the partner (WH-A4)",
    "info_escalation": "information overdue: escalate (WH-A4)",
    "support_ends": "post-migration support ends: end-of-migration notice (WH-A6)",
}
# A support task completed once the support window is over by workflow time is refused
# (the step that ends support may not have run yet).
SUPPORT_BY_CLOCK = "setup-assist-support-by-clock"
MAX_INFO_REQUESTS = 200  # a project's history stays small
ONE_DAY = timedelta(days=1)


@workflow.defn(name="SetupAssistProject")
class SetupAssistProject(Lifecycle):
    @workflow.init
    def __init__(self, inp: ProjectInput) -> None:
        self.inp = inp
        self.policy = inp.policy
        self.cal = inp.calendar.rules()
        self.clock = rules.ProjectClock.starting(
            workflow.now(), inp.submitted_on, self.policy.day_seconds
        )
        defs = phases_of(inp.flow)
        after = (
            [self.policy.support_business_days, self.policy.handoff_business_days]
            if inp.flow == "standard"
            else []
        )
        plan = rules.plan_phases(
            self.cal,
            inp.submitted_on,
            inp.completion_date,
            [d.weight for d in defs if d.weight > 0],
            after,
        )
        self.phases: list[PhaseView] = [
            PhaseView(
                number=d.number,
                name=d.name,
                planned_start=start,
                planned_end=end,
                tasks=[
                    TaskView(id=t.id, owner=t.owner, title=t.title, kind=t.kind) for t in d.tasks
                ],
            )
            for d, (start, end) in zip(defs, plan, strict=True)
        ]
        self.current = 0
        self.phases[0].started_on = inp.submitted_on
        self.state: ProjectState = "in_progress"
        self.info: list[InfoRequestView] = []
        self.migration_date: date | None = None
        self.support_ends_on: date | None = None
        self.closed_on: date | None = None
        self.error: str | None = None
        self.notices: list[NoticeSent] = []
        self.inbox: Inbox[Any] = Inbox()
        self._lock = asyncio.Lock()
        self._published: tuple | None = None

    # --- the main loop ------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: ProjectInput) -> ProjectStatus:
        async with self._lock:
            orders = []
            if inp.send_copy and inp.requester_email:  # WH-A2: a copy to the requester
                orders.append(
                    NoticeOrder(
                        kind="setup_assist_request_copy",
                        audiences=["requester"],
                        due_at=workflow.now(),
                    )
                )
            await self._apply(orders, opening=True, summary=f"open {inp.flow} project, charge")
        while self.state != "closed":
            deadline = self._next_deadline()
            self._publish(deadline)
            await wait_for(deadline, lambda: self.inbox.changed, DEADLINE_LABELS)
            self.inbox.changed = False
            await fire_due(self._lock, self._no_signals, self._next_deadline, self._on_deadline)
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._publish(None)
        return self.status()

    async def _no_signals(self) -> None:
        """This lifecycle takes no signals (unknown ones are recorded by ``Lifecycle``)."""

    def today(self) -> date:
        return self.clock.date_of(workflow.now())

    def _deadlines(self) -> list[Deadline]:
        if self.state not in OPEN_STATES:
            return []
        out: list[Deadline] = []
        for r in self.info:
            if r.answered_on is not None or r.withdrawn:
                continue
            if r.reminded_at is None:  # WH-A4: on the due day
                out.append(Deadline("info_reminder", self.clock.at(r.due_on), str(r.number)))
            elif r.escalated_at is None:  # WH-A4: after the due day
                out.append(
                    Deadline("info_escalation", self.clock.at(r.due_on + ONE_DAY), str(r.number))
                )
        if self.state == "support" and self.support_ends_on is not None:  # WH-A6
            out.append(Deadline("support_ends", self.clock.at(self.support_ends_on + ONE_DAY)))
        return out

    def _next_deadline(self) -> Deadline | None:
        return min(self._deadlines(), key=lambda d: (d.at, d.kind, d.tag), default=None)

    async def _on_deadline(self, d: Deadline) -> None:
        workflow.logger.info("deadline reached: %s %s", d.kind, d.tag)
        if d.kind in ("info_reminder", "info_escalation"):
            r = self.info[int(d.tag) - 1]
            context = {
                "number": str(r.number),
                "topic": r.topic,
                "asked_on": r.asked_on.isoformat(),
                "due_on": r.due_on.isoformat(),
            }
            if d.kind == "info_reminder":
                r.reminded_at = workflow.now()
                order = NoticeOrder(
                    kind="setup_assist_info_reminder",
                    tag=d.tag,
                    audiences=["partner_admins"],
                    due_at=d.at,
                    context=context,
                )
            else:
                r.escalated_at = workflow.now()
                order = NoticeOrder(
                    kind="setup_assist_info_escalation",
                    tag=d.tag,
                    audiences=["partner_admins", "team"],
                    due_at=d.at,
                    context=context,
                )
            await self._apply([order], summary=f"{d.kind.replace('_', ' ')} #{d.tag}")
        elif d.kind == "support_ends":  # WH-A6: support ends, whatever is still open
            phase = self.phases[self.current]
            for t in phase.tasks:
                if t.done_on is None:
                    self._done(t, t.owner, "post-migration support window ended (WH-A6)")
            await self._apply(self._advance(), summary="support ends: end-of-migration notice")

    # --- phases -----------------------------------------------------------------------------

    def _done(self, t: TaskView, who: str, note: str, call_minutes: int | None = None) -> None:
        t.done_on = self.today()
        t.done_at = workflow.now()
        t.done_by = who
        t.note = note
        t.call_minutes = call_minutes

    def _advance(self) -> list[NoticeOrder]:
        """End every phase whose tasks are all done, start the next; what to send."""
        orders: list[NoticeOrder] = []
        today = self.today()
        while self.state in OPEN_STATES:
            phase = self.phases[self.current]
            if any(t.done_on is None for t in phase.tasks):
                break
            phase.ended_on = today
            standard = self.inp.flow == "standard"
            if standard and phase.number == MIGRATION_PHASE:  # WH-A6: support starts
                self.migration_date = today
                self.support_ends_on = rules.add_business_days(
                    self.cal, today, self.policy.support_business_days
                )
            if self.current + 1 >= len(self.phases):
                self.state = "closed"  # the operational hand-off closes the project
                self.closed_on = today
                for r in self.info:
                    if r.answered_on is None:
                        r.withdrawn = True
                break
            self.current += 1
            nxt = self.phases[self.current]
            nxt.started_on = today
            if standard and nxt.number == SUPPORT_PHASE:
                self.state = "support"
            elif standard and phase.number == SUPPORT_PHASE:  # WH-A6: then the notice
                self.state = "hand_off"
                orders.append(
                    NoticeOrder(
                        kind="setup_assist_end_of_migration",
                        audiences=["partner_admins", "requester"],
                        due_at=workflow.now(),
                        context={
                            "migration_date": (self.migration_date or today).isoformat(),
                            "support_ends_on": today.isoformat(),
                        },
                    )
                )
                for t in nxt.tasks:
                    if t.kind == "end_of_migration_notice":
                        self._done(t, "cisco", "sent by the project when support ended")
        return orders

    def _find(self, task_id: str) -> tuple[int, TaskView] | None:
        for i, ph in enumerate(self.phases):
            for t in ph.tasks:
                if t.id == task_id:
                    return i, t
        return None

    def _check_open(self, rule: str) -> None:
        if self.state not in OPEN_STATES:
            raise refuse(rule, "state", f"the project is {self.state}")

    # --- updates --------------------------------------------------------------------------------

    def _support_over(self) -> date | None:
        """WH-A6: the last day of post-migration support, if the window is over by the
        workflow's clock, whether or not the step that ends it has run yet."""
        last = self.support_ends_on
        if self.state == "support" and last and workflow.now() >= self.clock.at(last + ONE_DAY):
            return last
        return None

    def _check_complete(self, req: CompleteTask, deadlines: bool = True) -> TaskView:
        self._check_open("WH-A3")
        found = self._find(req.task_id)
        if found is None:
            raise refuse("WH-A3", "task_id", f"no task {req.task_id} in the {self.inp.flow} flow")
        index, t = found
        if t.done_on is not None:
            raise refuse("WH-A3", "task_id", f"task {t.id} was done on {t.done_on.isoformat()}")
        if deadlines and index == self.current and (last := self._support_over()):
            raise refuse(
                "WH-A6",
                "task_id",
                f"post-migration support ended on {last.isoformat()}: the project closes "
                "what is still open and sends the end-of-migration notice",
            )
        if index > self.current:
            ph, cur = self.phases[index], self.phases[self.current]
            raise refuse(
                "WH-A3",
                "task_id",
                f"phase {ph.number} ({ph.name}) has not started: the project is in phase "
                f"{cur.number} ({cur.name})",
            )
        if t.owner != req.who:
            raise refuse("WH-A3", "who", f"task {t.id} is owed by {t.owner}, not {req.who}")
        if t.kind == "end_of_migration_notice":
            raise refuse("WH-A6", "task_id", "the project sends this notice when support ends")
        limit = self.policy.express_call_max_minutes
        if t.kind == "customer_call":
            if req.call_minutes is None:
                raise refuse("WH-A6", "call_minutes", "give the customer call's length in minutes")
            if req.call_minutes > limit:
                raise refuse(
                    "WH-A6", "call_minutes", f"the Express customer call is at most {limit} minutes"
                )
        elif req.call_minutes is not None:
            raise refuse("WH-A6", "call_minutes", "only the Express customer call has a length")
        return t

    @workflow.update
    async def complete_task(self, *args: Any) -> UpdateResult:
        req = parse(CompleteTask, args, "WH-A3")
        async with self._lock:
            # again, under the lock (older histories: without the support window's clock)
            t = self._check_complete(req, deadlines=workflow.patched(SUPPORT_BY_CLOCK))
            phase = self.current
            self._done(t, req.who, req.note, req.call_minutes)
            orders = self._advance()
            await self._apply(orders, summary=f"task {t.id} done by {req.who}")
            self.inbox.changed = True
            msg = f"task {t.id} done"
            if self.current != phase or self.state == "closed":
                msg += f"; phase {self.phases[phase].number} ended"
            return UpdateResult(state=self.state, message=msg)

    @complete_task.validator
    def _validate_complete(self, *args: Any) -> None:
        self._check_complete(parse(CompleteTask, args, "WH-A3"))

    def _check_request(self, req: RequestInformation) -> None:
        self._check_open("WH-A4")
        if len(self.info) >= MAX_INFO_REQUESTS:
            raise refuse("WH-A4", "topic", f"at most {MAX_INFO_REQUESTS} requests per project")

    @workflow.update
    async def request_information(self, *args: Any) -> UpdateResult:
        req = parse(RequestInformation, args, "WH-A4")
        async with self._lock:
            self._check_request(req)
            today = self.today()
            due = rules.add_business_days(self.cal, today, self.policy.info_due_business_days)
            r = InfoRequestView(
                number=len(self.info) + 1,
                topic=req.topic,
                asked_by=req.who,
                asked_on=today,
                due_on=due,
            )
            self.info.append(r)
            await self._apply([], summary=f"information request #{r.number}")
            self.inbox.changed = True
            return UpdateResult(
                state=self.state,
                number=r.number,
                due_on=due,
                message=f"information request {r.number} due {due.isoformat()} (WH-A4)",
            )

    @request_information.validator
    def _validate_request(self, *args: Any) -> None:
        self._check_request(parse(RequestInformation, args, "WH-A4"))

    def _check_answer(self, req: AnswerInformation) -> InfoRequestView:
        self._check_open("WH-A4")
        if req.number > len(self.info):
            raise refuse("WH-A4", "number", f"no information request {req.number}")
        r = self.info[req.number - 1]
        if r.answered_on is not None:
            raise refuse("WH-A4", "number", f"request {r.number} was answered on {r.answered_on}")
        return r

    @workflow.update
    async def answer_information(self, *args: Any) -> UpdateResult:
        req = parse(AnswerInformation, args, "WH-A4")
        async with self._lock:
            r = self._check_answer(req)
            r.answered_on = self.today()
            r.answer_note = req.note
            await self._apply([], summary=f"information request #{r.number} answered")
            self.inbox.changed = True
            late = r.answered_on > r.due_on
            return UpdateResult(
                state=self.state,
                number=r.number,
                due_on=r.due_on,
                message=f"request {r.number} answered" + (" late" if late else ""),
            )

    @answer_information.validator
    def _validate_answer(self, *args: Any) -> None:
        self._check_answer(parse(AnswerInformation, args, "WH-A4"))

    # --- query ---------------------------------------------------------------------------------

    @workflow.query
    def status(self) -> ProjectStatus:
        return self._status(self._next_deadline())

    def _status(self, d: Deadline | None) -> ProjectStatus:
        today = self.today()
        for ph in self.phases:
            ph.late = (ph.ended_on or today) > ph.planned_end
        open_tasks: list[OpenTask] = []
        if self.state in OPEN_STATES:
            ph = self.phases[self.current]
            open_tasks = [
                OpenTask(phase=ph.number, id=t.id, title=t.title, owner=t.owner)
                for t in ph.tasks
                if t.done_on is None
            ]
        owed = {t.owner for t in open_tasks}
        if any(r.answered_on is None and not r.withdrawn for r in self.info):
            owed.add("partner")
        cur = self.phases[self.current] if self.state in OPEN_STATES else None
        st = ProjectStatus(
            project_id=self.inp.project_id,
            location_id=self.inp.location_id,
            flow=self.inp.flow,
            seats=self.inp.seats,
            state=self.state,
            partner_org_id=self.inp.partner_org_id,
            customer_org_id=self.inp.customer_org_id,
            customer_id=self.inp.customer_id,
            country=self.inp.country,
            submitted_on=self.inp.submitted_on,
            completion_date=self.inp.completion_date,
            today=today,
            current_phase=cur.number if cur else None,
            current_phase_name=cur.name if cur else None,
            phases=[p.model_copy(deep=True) for p in self.phases],
            open_tasks=open_tasks,
            owed_by=sorted(owed),
            info_requests=[r.model_copy() for r in self.info],
            migration_date=self.migration_date,
            support_ends_on=self.support_ends_on,
            closed_on=self.closed_on,
            late_phases=[p.number for p in self.phases if p.late],
            next_deadline_at=d.at if d else None,
            next_deadline_kind=d.kind if d else None,
            error=self.error,
            notices=list(self.notices),
            rejected=list(self.inbox.rejected),
        )
        st.waiting_for = self._waiting_for(st, d)
        return st

    def _waiting_for(self, st: ProjectStatus, d: Deadline | None) -> str:
        if self.state == "error":
            return f"an operator: {self.error}"
        if self.state == "closed":
            return f"nothing: closed on {self.closed_on}"
        parts = []
        for owner in ("cisco", "partner"):
            ids = [t.id for t in st.open_tasks if t.owner == owner]
            if ids:
                parts.append(f"{owner} owes {', '.join(ids)}")
        for r in self.info:
            if r.answered_on is None and not r.withdrawn:
                parts.append(f"partner owes information #{r.number} (due {r.due_on})")
        text = f"phase {st.current_phase} ({st.current_phase_name}): " + "; ".join(parts)
        if d is not None:
            text += f"; next: {DEADLINE_LABELS[d.kind]} at {d.at:%Y-%m-%d %H:%M} UTC"
        return text

    # --- plumbing -------------------------------------------------------------------------------

    async def _apply(
        self, orders: list[NoticeOrder], *, summary: str, opening: bool = False
    ) -> None:
        """One transition: the read model, outbox rows and (opening) the charge, then the
        notices are sent. A failure that will not heal makes the project ``error``."""
        step = Step(
            status=self._status(self._next_deadline()),
            opening=opening,
            charge=self.inp.charge if opening else None,
            notices=orders,
            team_email=self.policy.team_email,
        )
        try:
            sent = await act(SetupAssistActivity.apply, step, summary=summary)
        except ActivityError as err:
            self.state = "error"
            self.error = str(err.cause or err)[:500]
            workflow.logger.error("setup assist step failed: %s", self.error)
            return
        self.notices += sent
        del self.notices[:-100]

    def _publish(self, deadline: Deadline | None) -> None:
        """Search attributes when the state or the deadline changed; current details."""
        key = (self.state, deadline)
        if key != self._published:
            self._published = key
            workflow.upsert_search_attributes(
                search_attribute_updates(
                    self.state, self.inp.partner_org_id, self.inp.customer_org_id, deadline
                )
            )
        workflow.set_current_details(self._details(self._status(deadline)))

    def _details(self, st: ProjectStatus) -> str:
        lines = [
            f"**Setup Assist {st.flow}** · location `{st.location_id}` · {st.seats} seats · "
            f"{st.country} · `{st.state}`",
            f"Waiting for: {st.waiting_for}",
        ]
        if st.current_phase is not None:
            ph = self.phases[self.current]
            late = " · **late**" if ph.late else ""
            lines.append(
                f"Phase {ph.number}/{len(self.phases)} {ph.name}: planned {ph.planned_start} → "
                f"{ph.planned_end}{late}"
            )
            lines += [f"- [ ] {t.id} ({t.owner}) {t.title}" for t in st.open_tasks]
        for r in st.info_requests:
            if r.answered_on is None and not r.withdrawn:
                lines.append(f"Information #{r.number} from the partner, due {r.due_on}")
        if st.support_ends_on and st.state == "support":
            lines.append(f"Support until {st.support_ends_on} (WH-A6)")
        lines += self.inbox.details()
        return "\n\n".join(lines)
