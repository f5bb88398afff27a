"""SubscriptionOrder: one workflow per order (A-WX, A-SPK, A-FLEX), from the requested start
date to an active, billed subscription (SO-10), or closed (PX-5), or cancelled.

Deterministic code only. Deadlines are data (``start_at``, the SO-2 alert, ``close_at``): the
main loop waits for the earliest or for a command. Each transition is one activity that
writes its effects, the read model and the notices it owes in one transaction.

The wizard (SO-3..SO-13) is a set of updates: ``check_setup`` validates one step of the
answers the caller carries and changes nothing (SO-3: closing the wizard saves nothing);
``commit_setup`` applies all answers at once. ``begin_setup`` marks that set-up started (the
SO-2 alert is then not due); it saves no answer.

An order that names a trial converts it (TR-V1..V3) when it is provisioned: an activity
calls the ``convert`` update of ``trial-<trial_id>`` through the worker's client, because an
update (unlike a signal) answers with the trial's refusal, which the commit passes on.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from models.common.outbox import NoticeView
    from models.orders.contract import (
        CHANGEABLE,
        ENDED,
        BeginSetup,
        CancelOrder,
        ChangeContact,
        ChangeStartDate,
        OrderActivity,
        OrderInput,
        OrderState,
        OrderStatus,
        Resend,
        ServicesResume,
        SetupAnswers,
        SetupCommit,
        SetupOutcome,
        SetupStep,
        Transition,
        TrialConversion,
        UpdateResult,
    )
    from models.orders.rules import check_start_date, handed_off, normal_email, start_of

from workflows.common import (
    Deadline,
    Inbox,
    Lifecycle,
    act,
    fire_due,
    parse,
    passed_on,
    refuse,
    search_attribute_updates,
    wait_for,
)

DEADLINE_LABELS = {
    "provisioning_email": "requested start date: send the provisioning email (SO-1)",
    "rep_alert": "set-up not started: alert the account representative (SO-2)",
    "close": "not provisioned in time: close the order, tell the partner (PX-5)",
}
IN_SETUP = ("awaiting_setup", "setup_in_progress", "mapped")
# An order past its PX-5 close time is closing: a cancel is refused by workflow time, not
# only by the state (which lags while the worker is away); older histories: state only.
CANCEL_BEFORE_CLOSE = "orders-cancel-before-close"


@workflow.defn(name="SubscriptionOrder")
class SubscriptionOrder(Lifecycle):
    @workflow.init
    def __init__(self, inp: OrderInput) -> None:
        self.inp = inp
        self.policy = inp.policy
        self.state: OrderState = "scheduled"
        self.start_at = inp.start_at
        self.email_sent_at: datetime | None = None  # first email of the current schedule
        self.first_email_at: datetime | None = None  # first email ever
        self.close_at: datetime | None = None
        self.rep_alerted_at: datetime | None = None
        self.setup_started_at: datetime | None = None
        self.mapped_at: datetime | None = None
        self.provisioned_at: datetime | None = None
        self.closed_at: datetime | None = None
        self.cancelled_at: datetime | None = None
        self.partner_org_id: str | None = None
        self.customer_org_id: str | None = None
        self.deferred: list[str] = []
        self.email_round = 0  # every email after the first gets its own outbox key
        self.trial_converted = False
        self.error: str | None = None
        self.notices: dict[str, NoticeView] = {}
        self.inbox: Inbox[Any] = Inbox()
        self._lock = asyncio.Lock()
        self._published: tuple | None = None

    # --- the main loop ------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: OrderInput) -> OrderStatus:
        async with self._lock:
            d = self._next_deadline()
            try:
                await act(
                    OrderActivity.open,
                    inp,
                    self._t("open", d),
                    summary="open order: scheduled for the requested start date",
                )
            except ActivityError as err:
                self._fail("open", err)
        while not self._finished():
            deadline = self._next_deadline()
            self._publish(deadline)
            await wait_for(deadline, lambda: self.inbox.changed, DEADLINE_LABELS)
            self.inbox.changed = False
            await fire_due(self._lock, self._no_signals, self._next_deadline, self._on_deadline)
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._publish(None)
        return self.status()

    def _finished(self) -> bool:
        return self.state in ENDED or (self.state == "provisioned" and not self.deferred)

    async def _no_signals(self) -> None:
        """Every command is an update (answered at once); unknown signals are recorded."""

    def _next_deadline(self) -> Deadline | None:
        if self.state == "scheduled":
            return Deadline("provisioning_email", self.start_at)
        if self.state not in IN_SETUP or self.close_at is None:
            return None
        close = Deadline("close", self.close_at)
        if (
            self.state == "awaiting_setup"
            and self.rep_alerted_at is None
            and self.setup_started_at is None
            and self.email_sent_at is not None
        ):
            alert = Deadline(
                "rep_alert", self.email_sent_at + self.policy.days(self.policy.rep_alert_days)
            )
            if alert.at < close.at:
                return alert
        return close

    async def _on_deadline(self, d: Deadline) -> None:
        workflow.logger.info("deadline reached: %s", d.kind)
        now = workflow.now()
        if d.kind == "provisioning_email":  # SO-1; PX-5's clock starts
            if self.first_email_at is not None:
                self.email_round += 1  # a rescheduled order's email has its own key
            self.first_email_at = self.first_email_at or now
            self.email_sent_at = now
            self.close_at = now + self.policy.days(self.policy.close_days(self.inp.offer))
            await self._transition("email", "awaiting_setup", answer=False, close_at=self.close_at)
        elif d.kind == "rep_alert":  # SO-2, once
            self.rep_alerted_at = now
            await self._transition("rep_alert", self.state, answer=False)
        elif d.kind == "close":  # PX-5
            self.closed_at = now
            await self._transition("close", "closed", answer=False)

    # --- transitions ----------------------------------------------------------------------

    def _t(self, kind: str, d: Deadline | None, **kw: Any) -> Transition:
        return Transition(
            order_id=self.inp.order_id,
            kind=kind,
            state=self.state,
            at=workflow.now(),
            round=self.email_round,
            next_deadline_at=d.at if d else None,
            next_deadline_kind=d.kind if d else None,
            **kw,
        )

    async def _transition(
        self, kind: str, state: OrderState, *, answer: bool = True, **kw: Any
    ) -> None:
        """Move to ``state``: one activity writes the effects of ``kind``, the read model
        (with the next deadline) and the notices owed. A failure that cannot heal is shown
        as the state ``error``."""
        self.state = state
        d = None if self._finished() else self._next_deadline()
        try:
            views = await act(
                OrderActivity.transition,
                self._t(kind, d, **kw),
                self.policy,
                summary=f"{kind}: {state}",
            )
        except ActivityError as err:
            self._fail(kind, err)
            if answer:  # an update's caller hears why; a deadline only shows `error`
                raise passed_on(err) from None
            return
        self._seen(views)

    def _fail(self, what: str, err: ActivityError) -> None:
        cause = err.cause
        msg = cause.message if isinstance(cause, ApplicationError) else str(err)
        self.error = f"{what}: {msg}"[:500]
        self.state = "error"
        workflow.logger.error("order failed at %s", what)

    def _seen(self, views: list[NoticeView]) -> None:
        for v in views:
            self.notices[f"{v.kind}:{self.email_round}:{v.recipient}"] = v

    # --- updates: the order desk ----------------------------------------------------------

    @workflow.update
    async def change_contact(self, *args: Any) -> UpdateResult:
        """PX-5: until the order is mapped, the provisioning contact can change; the new
        contact gets the email at once if it already went out (the old link stops working)."""
        async with self._lock:
            self._validate_change_contact(*args)
            email = normal_email(parse(ChangeContact, args, "PX-5").email)
            if self.first_email_at is not None:
                self.email_round += 1
            await self._transition("contact", self.state, contact_email=email)
            self.inbox.changed = True
            return self._result("contact changed")

    @change_contact.validator
    def _validate_change_contact(self, *args: Any) -> None:
        req = parse(ChangeContact, args, "PX-5")
        self._before_mapping("contact")
        if normal_email(req.email) is None:
            raise refuse("SO-1", "email", "not an email address")

    @workflow.update
    async def change_start_date(self, *args: Any) -> UpdateResult:
        """PX-5: until mapped, the start date can change; the email then goes (again) on the
        new date, and PX-5's clock counts from that email."""
        async with self._lock:
            self._validate_change_start_date(*args)
            day = parse(ChangeStartDate, args, "PX-5").requested_start_date
            self.start_at = start_of(day)
            self.email_sent_at = self.close_at = None
            await self._transition("reschedule", "scheduled", start_at=self.start_at)
            self.inbox.changed = True
            return self._result(f"the provisioning email goes on {day}")

    @change_start_date.validator
    def _validate_change_start_date(self, *args: Any) -> None:
        req = parse(ChangeStartDate, args, "PX-5")
        self._before_mapping("requested_start_date")
        for v in check_start_date(req.requested_start_date, workflow.now().date()):
            raise refuse(v.rule, v.field, v.message)

    @workflow.update
    async def resend(self, *args: Any) -> UpdateResult:
        """PX-5: the email again, with a fresh link; the PX-5 clock does not restart."""
        async with self._lock:
            self._validate_resend(*args)
            self.email_round += 1
            await self._transition("resend", self.state)
            self.inbox.changed = True
            return self._result("provisioning email sent again")

    @resend.validator
    def _validate_resend(self, *args: Any) -> None:
        parse(Resend, args, "PX-5")
        self._before_mapping("state")
        if self.state == "scheduled":
            raise refuse("SO-1", "state", "the email goes on the requested start date")

    @workflow.update
    async def cancel(self, *args: Any) -> UpdateResult:
        async with self._lock:
            req = parse(CancelOrder, args, "PX-5")
            self._check_cancel(deadlines=workflow.patched(CANCEL_BEFORE_CLOSE))
            self.cancelled_at = workflow.now()
            await self._transition("cancel", "cancelled", reason=req.reason)
            self.inbox.changed = True
            return self._result("cancelled")

    @cancel.validator
    def _validate_cancel(self, *args: Any) -> None:
        parse(CancelOrder, args, "PX-5")
        self._check_cancel(deadlines=True)

    def _check_cancel(self, deadlines: bool) -> None:
        if self.state in ("provisioned", "closed", "cancelled"):
            raise refuse("PX-5", "state", f"the order is {self.state}: it cannot be cancelled")
        if deadlines and self.state in IN_SETUP:  # closed by workflow time; the state may lag
            self._before_close()

    def _before_mapping(self, field: str) -> None:
        if self.state not in CHANGEABLE:
            raise refuse(
                "PX-5",
                field,
                f"the order is {self.state}: after it is mapped to an org (the point of no "
                "return) the contact and start date cannot change nor the email be re-sent",
            )
        self._before_close()

    def _before_close(self) -> None:
        if self.close_at is not None and workflow.now() >= self.close_at:
            raise refuse("PX-5", "state", "the order was not provisioned in time: it closes")

    # --- updates: the set-up wizard -------------------------------------------------------

    @workflow.update
    async def begin_setup(self, *args: Any) -> UpdateResult:
        """Someone opened the set-up link: set-up has started (SO-2 no longer due). Saves
        no answer: every visit starts the wizard over (SO-3)."""
        async with self._lock:
            self._validate_begin_setup(*args)
            if self.state == "awaiting_setup":
                self.setup_started_at = workflow.now()
                await self._transition("begin", "setup_in_progress")
                self.inbox.changed = True
            return self._result("set-up started")

    @begin_setup.validator
    def _validate_begin_setup(self, *args: Any) -> None:
        parse(BeginSetup, args, "SO-3")
        if self.state == "scheduled":
            raise refuse("SO-1", "state", "the order's set-up opens on its requested start date")
        if not (self.state in IN_SETUP or (self.state == "provisioned" and self.deferred)):
            raise refuse("SO-3", "state", f"the order is {self.state}: nothing to set up")
        if self.state != "provisioned":
            self._before_close()

    @workflow.update
    async def check_setup(self, *args: Any) -> UpdateResult:
        """One wizard step: the answers so far are checked and the next screen's data
        returned (SO-5's orgs); nothing changes (SO-3)."""
        self._validate_check_setup(*args)
        step = parse(SetupStep, args, "SO-3")
        try:
            result = await act(
                OrderActivity.check_setup,
                self.inp.order_id,
                step,
                self.policy,
                summary=f"check wizard step {step.step} (saves nothing)",
            )
        except ActivityError as err:
            raise passed_on(err) from None
        return self._result(f"step {step.step} is valid", step=result)

    @check_setup.validator
    def _validate_check_setup(self, *args: Any) -> None:
        parse(SetupStep, args, "SO-3")
        self._in_setup()

    def _in_setup(self) -> None:
        if self.state == "awaiting_setup":
            raise refuse("SO-3", "state", "open the set-up link first (begin_setup)")
        if self.state == "mapped":
            raise refuse(
                "SO-12", "state", "the orgs are mapped: resume the service set-up (setup_services)"
            )
        if self.state != "setup_in_progress":
            raise refuse("SO-3", "state", f"the order is {self.state}, not in set-up")
        self._before_close()

    @workflow.update
    async def commit_setup(self, *args: Any) -> UpdateResult:
        """All the wizard's answers at once: a hand-off (SO-4), or the orgs (SO-5..SO-7,
        SO-11, SO-12), the services (SO-8, SO-9, SO-13) and, when asked, provisioning and
        billing (SO-10). Refused as a whole, writing nothing, when any answer is wrong."""
        async with self._lock:
            self._validate_commit_setup(*args)
            a = parse(SetupAnswers, args, "SO-3")
            provisions = (
                a.provision_and_start_billing
                and not handed_off(a)
                and not a.customer_sets_up_services
            )
            if provisions:
                await self._convert_trial(SetupStep(step="review", answers=a))
            outcome = await self._apply(
                SetupCommit(order_id=self.inp.order_id, answers=a, at=workflow.now())
            )
            return self._result(outcome.message)

    @commit_setup.validator
    def _validate_commit_setup(self, *args: Any) -> None:
        parse(SetupAnswers, args, "SO-3")
        self._in_setup()

    @workflow.update
    async def setup_services(self, *args: Any) -> UpdateResult:
        """SO-9/SO-13: set-up resumed at a later sign-in, for the services left for later."""
        async with self._lock:
            self._validate_setup_services(*args)
            req = parse(ServicesResume, args, "SO-9")
            a = SetupAnswers(
                services=req.services, provision_and_start_billing=req.provision_and_start_billing
            )
            if req.provision_and_start_billing:
                await self._convert_trial(None)
            outcome = await self._apply(
                SetupCommit(order_id=self.inp.order_id, answers=a, at=workflow.now(), resume=True)
            )
            return self._result(outcome.message)

    @setup_services.validator
    def _validate_setup_services(self, *args: Any) -> None:
        parse(ServicesResume, args, "SO-9")
        if self.state == "mapped":
            self._before_close()
        elif not (self.state == "provisioned" and self.deferred):
            raise refuse("SO-9", "state", f"the order is {self.state}: no service waits for set-up")

    async def _convert_trial(self, check: SetupStep | None) -> None:
        """TR-V1..V3: the trial converts before billing starts; its refusal refuses the
        commit (the answers are checked first, so a wrong answer never converts it)."""
        if self.inp.trial_id is None or self.trial_converted:
            return
        try:
            if check is not None:
                await act(
                    OrderActivity.check_setup,
                    self.inp.order_id,
                    check,
                    self.policy,
                    summary="check the answers before converting the trial",
                )
            await act(
                OrderActivity.convert_trial,
                TrialConversion(order_id=self.inp.order_id, trial_id=self.inp.trial_id),
                summary=f"convert trial {self.inp.trial_id} (TR-V1)",
            )
        except ActivityError as err:
            raise passed_on(err) from None
        self.trial_converted = True

    async def _apply(self, commit: SetupCommit) -> SetupOutcome:
        self.email_round += 1
        commit.round = self.email_round
        commit.close_at = self.close_at
        try:
            outcome = await act(
                OrderActivity.apply_setup, commit, self.policy, summary="commit the set-up"
            )
        except ActivityError as err:
            cause = err.cause
            if not (isinstance(cause, ApplicationError) and cause.type == "RuleViolation"):
                self._fail("set-up", err)
            raise passed_on(err) from None
        now = workflow.now()
        if outcome.state == "mapped" and self.mapped_at is None:
            self.mapped_at = now
        if outcome.state == "provisioned":
            self.mapped_at = self.mapped_at or now
            self.provisioned_at = self.provisioned_at or now
        self.state = outcome.state
        self.partner_org_id = outcome.partner_org_id or self.partner_org_id
        self.customer_org_id = outcome.customer_org_id or self.customer_org_id
        self.deferred = list(outcome.deferred_services)
        self._seen(outcome.notices)
        self.inbox.changed = True
        return outcome

    def _result(self, message: str, step: Any = None) -> UpdateResult:
        return UpdateResult(state=self.state, message=message, step=step)

    # --- query and what operators see -----------------------------------------------------

    @workflow.query
    def status(self) -> OrderStatus:
        d = None if self._finished() else self._next_deadline()
        return OrderStatus(
            order_id=self.inp.order_id,
            state=self.state,
            offer=self.inp.offer,
            lines=list(self.inp.lines),
            submitted_by_org_id=self.inp.submitted_by_org_id,
            partner_org_id=self.partner_org_id,
            customer_org_id=self.customer_org_id,
            start_at=self.start_at,
            email_sent_at=self.email_sent_at,
            rep_alerted_at=self.rep_alerted_at,
            setup_started_at=self.setup_started_at,
            close_at=self.close_at,
            mapped_at=self.mapped_at,
            provisioned_at=self.provisioned_at,
            closed_at=self.closed_at,
            cancelled_at=self.cancelled_at,
            deferred_services=list(self.deferred),
            trial_id=self.inp.trial_id,
            trial_converted=self.trial_converted,
            email_round=self.email_round,
            next_deadline_at=d.at if d else None,
            next_deadline_kind=d.kind if d else None,
            waiting_for=self._waiting_for(d),
            error=self.error,
            rejected=[f"{r.name}: {r.reason}" for r in self.inbox.rejected],
            notices=list(self.notices.values()),
        )

    def _waiting_for(self, d: Deadline | None) -> str:
        when = f"{DEADLINE_LABELS[d.kind]} at {d.at:%Y-%m-%d %H:%M} UTC" if d else ""
        return {
            "scheduled": f"the requested start date: {when}",
            "awaiting_setup": f"the contact to open the set-up link (begin_setup); {when}",
            "setup_in_progress": f"the wizard's commit (commit_setup); {when}",
            "mapped": f"service set-up (setup_services, SO-9); {when}",
            "provisioned": "services set up later (setup_services, SO-13)"
            if self.deferred
            else "nothing: provisioned and billed",
            "closed": "nothing: closed (PX-5)",
            "cancelled": "nothing: cancelled",
            "error": f"an operator: {self.error}",
        }[self.state]

    def _publish(self, deadline: Deadline | None) -> None:
        partner = self.partner_org_id or self.inp.submitted_by_org_id
        key = (self.state, deadline, partner, self.customer_org_id)
        if key != self._published:
            self._published = key
            workflow.upsert_search_attributes(
                search_attribute_updates(self.state, partner, self.customer_org_id, deadline)
            )
        lines = [
            f"**Order {self.inp.order_id}** ({self.inp.offer}): `{self.state}`",
            "Lines: " + ", ".join(f"{ln.service} x {ln.quantity}" for ln in self.inp.lines),
            f"Waiting for: {self._waiting_for(deadline)}",
        ]
        if self.deferred:
            lines.append(f"Set up later: {', '.join(self.deferred)}")
        if self.inp.trial_id:
            done = "converted" if self.trial_converted else "not yet converted"
            lines.append(f"Trial {self.inp.trial_id}: {done}")
        workflow.set_current_details("\n\n".join(lines + self.inbox.details()))
