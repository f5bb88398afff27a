"""WholesaleCustomerProvisioning: one workflow per wholesale customer, for its whole life.

Provisioning (template WH-P2, screening WH-C2, PX-4 approval, org, locale WH-C4, call-in
WH-C3, packages PX-1, restricted mode WH-C6) is one activity on the happy path, so a burst of
customers costs few state transitions. A screening hit holds the customer: rechecked every
few hours, released by a clear list or the ``compliance_cleared`` signal, escalated to
operations when the hold is ``compliance_hold_hours`` old. Updates and deletion are workflow
updates: the validator refuses a second change while one is in flight, the handler queues the
change and returns at once (PX-3 answers 202 with the update's result), and the main loop
applies it in arrival order with the signals. A step whose activity writes the customer's new
status (provisioning, a package change, PX-4's outcome) is *settling* from its start until the
workflow has its result: the read model may already show the outcome, so a command arriving
meanwhile is judged against that outcome (its handler waits for it), never against the state
before. Deterministic code only; every effect is an activity.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.wholesale.contract import (
        DELETABLE,
        SETTLED,
        AttachDecision,
        ChangeResult,
        ComplianceCleared,
        CustomerCarry,
        CustomerChange,
        CustomerInput,
        CustomerState,
        CustomerStatus,
        DeleteRequest,
        Outcome,
        ProvisionStep,
        WholesaleActivity,
        api_status,
    )
from workflows.common import (
    Deadline,
    Inbox,
    Lifecycle,
    act,
    carried,
    parse,
    refuse,
    restore,
)

# Updates used to apply their change inside the handler; since this patch the handler queues
# it and the main loop applies it (tests/histories/wholesale_updated_then_deleted.json is a
# history from before).
CHANGE_IN_MAIN_LOOP = "wholesale-change-in-main-loop"
MARK_CHANGING = "wholesale-mark-changing"
# A PX-4 approval request is reminded, then lapses; customers asked before this patch wait
# without a deadline, as they did.
APPROVAL_DEADLINES = "wholesale-px4-approval-deadlines"
# A decision that arrives once the approval lapsed by workflow time is refused (the lapse
# step may not have run yet: the worker was away, or an earlier step is failing).
DECISION_BY_DEADLINE = "wholesale-px4-decision-by-deadline"
# A command arriving while a step settles (its activity may have written the outcome the API
# already shows) waits for the outcome and is judged against it, instead of being refused
# against the state before (a DELETE right after a GET saying `provisioned` answered 409).
JUDGE_AFTER_SETTLING = "wholesale-judge-after-settling"
APPLYING_CHANGE = "the package change"  # the settling step of an accepted change

DEADLINE_LABELS = {
    "compliance_recheck": "screen again against the restricted party list (WH-C2)",
    "compliance_escalation": "hold too old: hand to operations (WH-C2)",
    "attach_approval_reminder": "remind the org's admin to approve the attachment (PX-4)",
    "attach_approval_lapse": "approval not given in time: the attachment lapses (PX-4)",
}


@workflow.defn(name="WholesaleCustomerProvisioning")
class WholesaleCustomerProvisioning(Lifecycle):
    # Carried over continue-as-new (CustomerCarry's fields; its `rejected` is the inbox's).
    state: CustomerState
    org_id: str | None
    hold_started_at: datetime | None
    next_recheck_at: datetime | None
    rechecks: int
    escalated_at: datetime | None
    approval_asked_at: datetime | None
    approval_reminders: int
    changes: int

    @workflow.init
    def __init__(self, inp: CustomerInput) -> None:
        self.inp = inp
        self.policy = inp.policy
        carry = inp.carry or CustomerCarry(state="provisioning")
        restore(carry, self, skip=["rejected"])
        self.inbox: Inbox[ComplianceCleared | AttachDecision | CustomerChange | DeleteRequest] = (
            Inbox(carry.rejected)
        )
        self._change: CustomerChange | DeleteRequest | None = None  # accepted, not yet applied
        self._settling: str | None = None  # the step whose outcome the read model may show
        self._held: CustomerChange | DeleteRequest | None = None  # waits for that outcome
        self._lock = asyncio.Lock()

    # --- the main loop ------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: CustomerInput) -> CustomerStatus:
        if inp.carry is None:
            async with self._lock:
                await self._provision(ProvisionStep(customer_id=inp.customer_id))
        while self.state != "deleted":
            if (
                self._history_is_long()
                and not self._lock.locked()
                and not self.inbox.queue  # a queued signal or change is never carried over
            ):
                await workflow.wait_condition(workflow.all_handlers_finished)
                if self.state != "deleted":
                    workflow.continue_as_new(self._carry_input())
            deadline = self._next_deadline()
            self._publish(deadline)
            await self.turn(deadline, DEADLINE_LABELS)
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._publish(None)
        return self.status()

    def _history_is_long(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= self.policy.max_history_events
        )

    def _next_deadline(self) -> Deadline | None:
        if self.state == "pending_org_approval" and self.approval_asked_at is not None:
            p = self.policy
            if self.approval_reminders == 0 and p.attach_approval_reminder_days < (
                p.attach_approval_days
            ):
                return Deadline(
                    "attach_approval_reminder",
                    self.approval_asked_at + p.days(p.attach_approval_reminder_days),
                )
            return Deadline(
                "attach_approval_lapse", self.approval_asked_at + p.days(p.attach_approval_days)
            )
        if self.state != "pending_rpl_review" or self.hold_started_at is None:
            return None
        escalate = Deadline(
            "compliance_escalation",
            self.hold_started_at + self.policy.hours(self.policy.compliance_hold_hours),
        )
        if self.next_recheck_at is not None and self.next_recheck_at <= escalate.at:
            return Deadline("compliance_recheck", self.next_recheck_at)  # a tie: recheck first
        return escalate

    def _approval_lapsed(self) -> bool:
        """PX-4: the approval's time is over by the workflow's clock."""
        asked = self.approval_asked_at
        return asked is not None and workflow.now() >= asked + self.policy.days(
            self.policy.attach_approval_days
        )

    async def _on_deadline(self, d: Deadline) -> None:
        workflow.logger.info("deadline reached: %s", d.kind)
        if d.kind == "compliance_recheck":
            self.rechecks += 1
            await self._provision(ProvisionStep(customer_id=self.inp.customer_id))
        elif d.kind == "compliance_escalation":
            await act(
                WholesaleActivity.escalate_compliance,
                self.inp.customer_id,
                self.policy.operations_email,
                summary="hand the compliance case to operations (WH-C2)",
            )
            self.state = "compliance_escalated"
            self.escalated_at = workflow.now()
        elif d.kind == "attach_approval_reminder":
            self.approval_reminders += 1
            await act(
                WholesaleActivity.remind_attach_approval,
                self.inp.customer_id,
                summary="ask the org's admin again (PX-4)",
            )
        elif d.kind == "attach_approval_lapse":
            async with self._settles("the attachment's lapse"):
                outcome = await act(
                    WholesaleActivity.lapse_attach,
                    self.inp.customer_id,
                    self.policy.operations_email,
                    self.policy.attach_approval_days,
                    summary="no approval in time: the attachment lapses (PX-4)",
                )
                self.state = outcome.state

    @contextlib.asynccontextmanager
    async def _settles(self, step: str) -> AsyncIterator[None]:
        """A step whose activity writes the customer's new status with its effects: from
        the start of the activity until the workflow has taken its outcome (set the state
        inside the block), a command is judged against that outcome (the handler waits)."""
        self._settling = step
        try:
            yield
        finally:
            self._settling = None

    async def _provision(self, step: ProvisionStep) -> None:
        async with self._settles("provisioning"):
            await self._provision_step(step)

    async def _provision_step(self, step: ProvisionStep) -> None:
        outcome: Outcome = await act(
            WholesaleActivity.provision_customer, step, summary="provision customer"
        )
        was = self.state
        self.state = outcome.state
        self.org_id = outcome.org_id or self.org_id
        if outcome.state == "pending_rpl_review":
            if was != "pending_rpl_review" or self.hold_started_at is None:
                self.hold_started_at = workflow.now()
            # anchored to the hold's start: rechecks never drift past the escalation
            self.next_recheck_at = self.hold_started_at + self.policy.hours(
                (self.rechecks + 1) * self.policy.compliance_recheck_hours
            )
        else:
            self.next_recheck_at = None
        if (
            outcome.state == "pending_org_approval"
            and self.approval_asked_at is None
            and workflow.patched(APPROVAL_DEADLINES)
        ):
            self.approval_asked_at = workflow.now()

    # --- signals and accepted changes (queued; the main loop handles them under the lock) -

    @workflow.signal
    def compliance_cleared(self, *args: Any) -> None:
        self.inbox.receive("compliance_cleared", ComplianceCleared, args, "WH-C2")

    @workflow.signal
    def org_attach_decision(self, *args: Any) -> None:
        self.inbox.receive("org_attach_decision", AttachDecision, args, "PX-4")

    async def _handle_signals(self) -> None:
        while (sig := self.inbox.take()) is not None:
            if isinstance(sig, CustomerChange):
                await self._apply_update(sig)
            elif isinstance(sig, DeleteRequest):
                await self._apply_delete()
            elif self.state == "deleted":
                workflow.logger.warning("ignored %s: deleted", type(sig).__name__)
            elif isinstance(sig, ComplianceCleared):
                if self.state not in ("pending_rpl_review", "compliance_escalated"):
                    workflow.logger.warning("ignored compliance_cleared: %s", self.state)
                    continue
                workflow.logger.info("compliance cleared by %s", sig.by)
                await self._provision(
                    ProvisionStep(customer_id=self.inp.customer_id, compliance_cleared=True)
                )
            elif isinstance(sig, AttachDecision):
                if self.state != "pending_org_approval":
                    workflow.logger.warning("ignored org_attach_decision: %s", self.state)
                    continue
                if self._approval_lapsed() and workflow.patched(DECISION_BY_DEADLINE):
                    # the lapse is due (it runs next): the state lags behind workflow time
                    self.inbox.reject(
                        "org_attach_decision",
                        f"PX-4 (approved): the approval was due within "
                        f"{self.policy.attach_approval_days} days; the attachment lapsed",
                    )
                    continue
                if sig.approved:
                    await self._provision(
                        ProvisionStep(
                            customer_id=self.inp.customer_id,
                            compliance_cleared=True,  # screened before approval was asked
                            attach_approved=True,
                        )
                    )
                else:
                    async with self._settles("the attachment's refusal"):
                        outcome = await act(
                            WholesaleActivity.refuse_attach,
                            self.inp.customer_id,
                            summary="PX-4: the org's admin refused",
                        )
                        self.state = outcome.state

    # --- updates (validated: one change in flight at a time) -----------------------------

    @workflow.update
    async def update_customer(self, *args: Any) -> ChangeResult:
        change = parse(CustomerChange, args, "WH-C5")
        if workflow.patched(CHANGE_IN_MAIN_LOOP):
            await self._after_settling(change)
            self._validate_update(change)  # again: two updates may share one activation
            return self._queue(change, "package change accepted (WH-C5)")
        async with self._lock:  # a history from before the patch: applied here
            self._validate_update(change)
            message = await self._apply_update(change)
            return ChangeResult(state=self.state, message=message)

    @update_customer.validator
    def _validate_update_args(self, *args: Any) -> None:
        self._validate_update(parse(CustomerChange, args, "WH-C5"))

    def _validate_update(self, change: CustomerChange) -> None:
        self._refuse_if_busy()
        if self.state not in SETTLED and not self._settling:
            raise refuse(
                "PX-3",
                "status",
                f"the customer is {api_status(self.state)}; it can change once that settles",
            )
        if not change.packages:
            raise refuse("WH-C5", "packages", "the complete package list is required")

    @workflow.update
    async def delete_customer(self, *args: Any) -> ChangeResult:
        req = parse(DeleteRequest, args, "WH-C5")
        if workflow.patched(CHANGE_IN_MAIN_LOOP):
            await self._after_settling(req)
            self._validate_delete(req)
            return self._queue(req, "removal accepted (WH-C5)")
        async with self._lock:
            self._validate_delete(req)
            await self._apply_delete()
            return ChangeResult(state=self.state, message="wholesale services removed")

    @delete_customer.validator
    def _validate_delete_args(self, *args: Any) -> None:
        self._validate_delete(parse(DeleteRequest, args, "WH-C5"))

    def _validate_delete(self, req: DeleteRequest) -> None:
        self._refuse_if_busy()
        if self.state not in DELETABLE and not self._settling:
            raise refuse(
                "PX-3",
                "status",
                f"the customer is {api_status(self.state)}; it can be removed once that settles",
            )

    async def _after_settling(self, command: CustomerChange | DeleteRequest) -> None:
        """While a step settles, the validator let the command through unjudged: wait for
        the step's outcome (the one the API may already show), then the caller validates;
        a step still unsettled after the policy's ``settle_wait_seconds`` is refused (PX-3).
        No wait, no command: histories from before the patch replay as they ran."""
        if not self._settling or not workflow.patched(JUDGE_AFTER_SETTLING):
            return
        self._refuse_if_busy()  # another one waits already (both passed their validators)
        self._held = command
        try:
            await workflow.wait_condition(
                lambda: not self._settling,
                timeout=timedelta(seconds=self.policy.settle_wait_seconds),
                timeout_summary=f"a command waits for {self._settling} to finish (PX-3)",
            )
        except TimeoutError:
            raise refuse(
                "PX-3",
                "status",
                f"the customer is still {api_status(self.state)}; retry once that settles",
            ) from None
        finally:
            self._held = None

    @staticmethod
    def _kind(change: CustomerChange | DeleteRequest | None) -> str | None:
        if change is None:
            return None
        return "removal" if isinstance(change, DeleteRequest) else "package change"

    def _pending_kind(self) -> str | None:
        """What kind of accepted change waits to be applied, or to be judged once the step
        in flight settles, if any (a change being applied in a settling step is no longer
        in the way: the API may show it done)."""
        if self._held is not None:
            return self._kind(self._held)
        if self._settling == APPLYING_CHANGE:
            return None
        return self._kind(self._change)

    def _refuse_if_busy(self) -> None:
        if kind := self._pending_kind():
            raise refuse("PX-3", "status", f"a {kind} is already in flight; retry once it is done")

    def _queue(self, change: CustomerChange | DeleteRequest, message: str) -> ChangeResult:
        self._change = change
        self.inbox.put(change)
        return ChangeResult(state=self.state, message=message)

    async def _apply_update(self, change: CustomerChange) -> str:
        self.state = "updating"
        self._publish(None)
        await self._mark_changing()
        async with self._settles(APPLYING_CHANGE):
            outcome = await act(
                WholesaleActivity.apply_customer_change,
                self.inp.customer_id,
                change,
                summary="apply the complete package list (WH-C5)",
            )
            self.state = outcome.state
            self.changes += 1
            self._change = None
        self.inbox.changed = True
        return outcome.message

    async def _apply_delete(self) -> None:
        self.state = "deleting"
        self._publish(None)
        await self._mark_changing()
        await act(
            WholesaleActivity.remove_customer,
            self.inp.customer_id,
            summary="remove the wholesale services, keep the org (WH-C5)",
        )
        self.state = "deleted"
        self._change = None
        self.inbox.changed = True

    async def _mark_changing(self) -> None:
        """PX-3: the read model shows the accepted change (the API never writes a status)."""
        if workflow.patched(MARK_CHANGING):
            await act(
                WholesaleActivity.mark_changing,
                self.inp.customer_id,
                self.state,
                summary=f"show the accepted change: {self.state} (PX-3)",
            )

    # --- query --------------------------------------------------------------------------

    @workflow.query
    def status(self) -> CustomerStatus:
        d = self._next_deadline()
        hold_ends = (
            self.hold_started_at + self.policy.hours(self.policy.compliance_hold_hours)
            if self.hold_started_at
            else None
        )
        return CustomerStatus(
            customer_id=self.inp.customer_id,
            state=self.state,
            api_status=api_status(self.state),
            partner_org_id=self.inp.partner_org_id,
            org_id=self.org_id,
            hold_started_at=self.hold_started_at,
            next_recheck_at=self.next_recheck_at if self.state == "pending_rpl_review" else None,
            escalate_at=hold_ends if self.state == "pending_rpl_review" else None,
            escalated_at=self.escalated_at,
            rechecks=self.rechecks,
            next_deadline_at=d.at if d else None,
            next_deadline_kind=d.kind if d else None,
            waiting_for=self._waiting_for(d),
            changes=self.changes,
            approval_asked_at=self.approval_asked_at,
            rejected=list(self.inbox.rejected),
            failure=self.failure,
        )

    def _waiting_for(self, d: Deadline | None) -> str:
        if self._held is not None and self._settling:
            return f"{self._settling} to finish, then the {self._kind(self._held)} sent meanwhile"
        if kind := self._pending_kind():
            return f"the accepted {kind} to be applied"
        if self.state == "pending_rpl_review" and d:
            return (
                f"{DEADLINE_LABELS[d.kind]} at {d.at:%Y-%m-%d %H:%M} UTC; "
                "or signal `compliance_cleared`"
            )
        if self.state == "compliance_escalated":
            return "operations: signal `compliance_cleared`, or delete the customer"
        if self.state == "pending_org_approval":
            then = f"; {DEADLINE_LABELS[d.kind]} at {d.at:%Y-%m-%d %H:%M} UTC" if d else ""
            return f"the org admin's approval (signal `org_attach_decision`, PX-4){then}"
        if self.state in SETTLED:
            return "an update or a deletion"
        if self.state == "deleted":
            return "nothing: removed"
        return f"{self.state} to finish"

    # --- plumbing -----------------------------------------------------------------------

    def _carry_input(self) -> CustomerInput:
        carry = carried(CustomerCarry, self, rejected=list(self.inbox.rejected))
        return self.inp.model_copy(update={"carry": carry})

    def _publish(self, deadline: Deadline | None) -> None:
        """Search attributes and current details, when they changed. The read model is
        written by the activities themselves, in the transaction of each effect."""
        self.publish(
            (self.state, self.org_id, deadline),
            deadline,
            self.inp.partner_org_id,
            self.org_id or None,
        )
        st = self.status()
        lines = [
            f"**Wholesale customer {st.customer_id}**: `{st.state}` (API: `{st.api_status}`)",
            f"Org: {st.org_id or '-'}",
            f"Waiting for: {st.waiting_for}",
            *self.failure_details(),
            *self.inbox.details(),
        ]
        if st.hold_started_at:
            lines.append(
                f"Compliance hold since {st.hold_started_at:%Y-%m-%d %H:%M} UTC, "
                f"{st.rechecks} rechecks"
            )
        if self.state == "pending_org_approval" and st.approval_asked_at:  # PX-4
            lines.append(
                f"Org admin's approval asked {st.approval_asked_at:%Y-%m-%d %H:%M} UTC "
                f"(PX-4), {self.approval_reminders} reminders"
            )
        workflow.set_current_details("\n\n".join(lines))
