"""BroadWorksMigration: one workflow per BroadWorks enterprise moving to Webex Wholesale
(WH-M1, PX-8), id ``migration-<partner>-<external id>``.

Phases: ``prechecked`` (the start checked the file and stored it) → ``provisioning`` (the
wholesale customer through its own workflow, or an existing customer's (WH-M3), then the
users in batches) → ``review`` (the
partner's admin looks, then approves or rolls back: updates) → ``cut_over`` (phones and soft
clients move, PX-8's notice per user) → ``completed``; or ``failed`` (the customer could not
be provisioned, or no user could) / ``rolled_back``.

Cost: one activity per batch of users (``migration_batch_size``), never one per user; the
history grows a handful of events per batch, and the run continues as new past
``migration_max_history_events`` (or when the server suggests it), carrying its counters.
Deterministic code only; every effect is an activity.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from models.common.contract import ActivityRef
    from models.migration.contract import (
        ENDED,
        Accepted,
        Approve,
        BatchArg,
        BatchResult,
        CustomerReady,
        CustomerStart,
        MigrationActivity,
        MigrationCarry,
        MigrationInput,
        MigrationProgress,
        Phase,
        Rollback,
    )
    from models.wholesale.contract import CustomerInput, WholesalePolicy

from workflows import search_attributes as sa
from workflows.common import (
    Inbox,
    Lifecycle,
    act,
    carried,
    parse,
    refuse,
    restore,
    search_attribute_updates,
)

PROVISIONED = ("provisioned", "provisioned_with_errors")


@workflow.defn(name="BroadWorksMigration")
class BroadWorksMigration(Lifecycle):
    # Carried over continue-as-new (MigrationCarry's fields; its `failed` is failed_users).
    phase: Phase
    customer_id: str | None
    org_id: str | None
    total: int
    done: int
    failed_users: int
    moved: int
    next_index: int
    started_at: datetime | None
    phase_started_at: datetime | None
    approved_by: str | None
    reason: str
    runs: int

    @workflow.init
    def __init__(self, inp: MigrationInput) -> None:
        self.inp = inp
        self.policy = inp.policy
        c = inp.carry or MigrationCarry(phase="prechecked", total=inp.total_users)
        restore(c, self, failed="failed_users")
        self.phase_done_at_start = 0  # this run's baseline for the rate
        self.action = ""
        self.inbox: Inbox[Approve | Rollback] = Inbox()
        self._published: tuple | None = None

    # --- the main loop ------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: MigrationInput) -> MigrationProgress:
        if self.started_at is None:
            self.started_at = workflow.now()
        self.phase_started_at = self.phase_started_at or workflow.now()
        self.phase_done_at_start = self.done if self.phase == "provisioning" else self.moved
        while self.phase not in ENDED:
            if self.phase == "prechecked":
                await self._begin()
            elif self.phase == "provisioning":
                await self._provision()
            elif self.phase in ("review", "failed"):
                await self._decide()
            elif self.phase == "cut_over":
                await self._cut_over()
        self.action = ""
        await workflow.wait_condition(workflow.all_handlers_finished)
        self._publish()
        return self.progress()

    def _enter(self, phase: Phase) -> None:
        self.phase = phase
        self.phase_started_at = workflow.now()
        self.phase_done_at_start = 0
        self._publish()

    async def _begin(self) -> None:
        self.action = "creating the wholesale customer"
        self._publish()
        start = await act(
            MigrationActivity.begin,
            self.inp.migration_id,
            summary="create the wholesale customer (Webex for BroadWorks, WH-M2)",
        )
        self.customer_id = start.customer_id
        self._enter("provisioning")
        if not start.existing:  # WH-M3: an existing customer's own workflow runs already
            await self._start_customer(start)
        self.action = "waiting for the customer's workflow to provision the org"
        self._publish()
        ready: CustomerReady = await self._run(
            MigrationActivity.await_customer,
            [self.inp.migration_id, self.policy.customer_ready_seconds],
            summary="wait for the wholesale customer (org, packages, location)",
            seconds=self.policy.customer_ready_seconds + 60,
        )
        if ready.status not in PROVISIONED:
            await self._fail(ready.message or f"the customer is {ready.status}")
            return
        self.org_id = ready.org_id
        self.action = ""
        self._publish()

    async def _start_customer(self, start: CustomerStart) -> None:
        await workflow.start_child_workflow(
            "WholesaleCustomerProvisioning",
            CustomerInput(
                customer_id=start.customer_id,
                partner_org_id=self.inp.partner_org_id,
                sub_partner_org_id=self.inp.sub_partner_org_id,
                policy=WholesalePolicy.model_validate(self.inp.wholesale_policy),
            ),
            id=start.workflow_id,
            task_queue=self.inp.task_queue,
            parent_close_policy=ParentClosePolicy.ABANDON,
            static_summary="Wholesale customer (BroadWorks migration): "
            + ", ".join(start.packages),
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.LIFECYCLE_STATE, "provisioning"),
                    SearchAttributePair(sa.PARTNER_ORG_ID, self.inp.partner_org_id),
                ]
            ),
        )

    async def _provision(self) -> None:
        size = self.policy.batch_size
        while self.next_index < self.total:
            start, end = self.next_index, min(self.next_index + size, self.total)
            last = end >= self.total
            self.action = f"provisioning users {start + 1}-{end} of {self.total}"
            self._publish()
            try:
                result: BatchResult = await self._run(
                    MigrationActivity.provision_batch,
                    [self._batch(start, end, last)],
                    summary=f"provision users {start + 1}-{end}",
                )
            except ActivityError as err:
                await self._fail(f"users {start + 1}-{end}: {_cause(err)}")
                return
            self.done, self.failed_users = result.total_done, result.total_failed
            self.next_index = end
            if last:
                self.action = ""
                self.reason = result.reason or self.reason
                self._enter(result.phase or "review")
                return
            self._publish()
            self._continue_if_long()

    async def _cut_over(self) -> None:
        size = self.policy.batch_size
        while self.next_index < self.total:
            start, end = self.next_index, min(self.next_index + size, self.total)
            last = end >= self.total
            self.action = f"cutting over users {start + 1}-{end} of {self.total}"
            self._publish()
            try:
                result: BatchResult = await self._run(
                    MigrationActivity.cut_over_batch,
                    [self._batch(start, end, last)],
                    summary=f"move phones and clients, PX-8 notices: users {start + 1}-{end}",
                )
            except ActivityError as err:
                await self._fail(f"cut-over of users {start + 1}-{end}: {_cause(err)}")
                return
            self.moved = result.total_done
            self.next_index = end
            if last:
                self.action = ""
                self._enter(result.phase or "completed")
                return
            self._publish()
            self._continue_if_long()

    async def _decide(self) -> None:
        self.action = ""
        self._publish()
        await workflow.wait_condition(lambda: bool(self.inbox.queue))
        cmd = self.inbox.take()
        if isinstance(cmd, Approve):
            self.approved_by = cmd.by or "partner admin"
            await act(
                MigrationActivity.approve,
                self.inp.migration_id,
                self.approved_by,
                summary="cut-over approved (WH-M1)",
            )
            self.next_index = 0
            self.moved = 0
            self._enter("cut_over")
        elif isinstance(cmd, Rollback):
            self.action = "rolling back what the migration created"
            self._publish()
            await self._run(
                MigrationActivity.rollback,
                [self.inp.migration_id],
                summary="remove what the migration created, and nothing else",
            )
            self.reason = cmd.reason or self.reason
            self.action = ""
            self._enter("rolled_back")

    async def _fail(self, reason: str) -> None:
        self.reason = reason[:1000]
        self.action = ""
        await act(
            MigrationActivity.set_phase,
            self.inp.migration_id,
            "failed",
            self.reason,
            summary="the migration failed: say why",
        )
        self._enter("failed")

    def _batch(self, start: int, end: int, last: bool) -> BatchArg:
        return BatchArg(
            migration_id=self.inp.migration_id,
            start=start,
            end=end,
            last=last,
            user_attempts=self.policy.user_attempts,
            user_retry_seconds=self.policy.user_retry_seconds,
        )

    async def _run(
        self, ref: ActivityRef[Any], args: list[Any], *, summary: str, seconds: float = 0
    ) -> Any:
        """A long activity: heartbeats, a bounded number of attempts."""
        p = self.policy
        return await workflow.execute_activity(
            ref.name,
            args=args,
            start_to_close_timeout=p.seconds(seconds or p.batch_timeout_seconds),
            heartbeat_timeout=p.seconds(p.heartbeat_seconds),
            retry_policy=RetryPolicy(
                maximum_attempts=p.activity_attempts,
                non_retryable_error_types=["RuleViolation", "StoreRefused", "NotFound"],
            ),
            summary=summary,
            result_type=ref.result,
        )

    def _continue_if_long(self) -> None:
        info = workflow.info()
        if (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= self.policy.max_history_events
        ) and not self.inbox.queue:
            workflow.continue_as_new(
                self.inp.model_copy(
                    update={
                        "carry": carried(
                            MigrationCarry, self, failed=self.failed_users, runs=self.runs + 1
                        )
                    }
                )
            )

    # --- updates (WH-M1: the partner's admin decides after review) -------------------------

    @workflow.update
    def approve(self, *args: Any) -> Accepted:
        self._validate_approve(*args)
        self.inbox.put(parse(Approve, args, "WH-M1"))
        return Accepted(phase=self.phase, message="cut-over accepted (WH-M1)")

    @approve.validator
    def _validate_approve(self, *args: Any) -> None:
        parse(Approve, args, "WH-M1")
        self._refuse_if_deciding()
        if self.phase != "review":
            raise refuse(
                "WH-M1", "phase", f"the migration is {self.phase}; only one in review is approved"
            )

    @workflow.update
    def rollback(self, *args: Any) -> Accepted:
        self._validate_rollback(*args)
        self.inbox.put(parse(Rollback, args, "WH-M1"))
        return Accepted(phase=self.phase, message="rollback accepted")

    @rollback.validator
    def _validate_rollback(self, *args: Any) -> None:
        parse(Rollback, args, "WH-M1")
        self._refuse_if_deciding()
        if self.phase not in ("review", "failed"):
            raise refuse(
                "WH-M1",
                "phase",
                f"the migration is {self.phase}; only one in review or failed is rolled back",
            )

    def _refuse_if_deciding(self) -> None:
        if self.inbox.queue or self.action.startswith("rolling back"):
            raise refuse("WH-M1", "phase", "a decision is already being carried out")

    # --- query and what operators see -----------------------------------------------------

    @workflow.query
    def progress(self) -> MigrationProgress:
        moving = self.phase == "cut_over"
        finished = self.moved if moving else self.done + self.failed_users
        left = max(0, self.total - finished) if self.phase in ("provisioning", "cut_over") else 0
        rate, eta = 0.0, None
        if self.phase in ("provisioning", "cut_over") and self.phase_started_at is not None:
            elapsed = (workflow.now() - self.phase_started_at).total_seconds()
            if elapsed > 0 and finished > 0:
                rate = finished / elapsed
                eta = left / rate
        return MigrationProgress(
            migration_id=self.inp.migration_id,
            workflow_id=workflow.info().workflow_id,
            phase=self.phase,
            action=self.action,
            total=self.total,
            done=self.done,
            failed=self.failed_users,
            left=left,
            moved=self.moved,
            rate_per_second=round(rate, 3),
            eta_seconds=round(eta, 1) if eta is not None else None,
            started_at=self.started_at,
            customer_id=self.customer_id,
            org_id=self.org_id,
            waiting_for=self._waiting_for(),
            reason=self.reason,
            rejected=self.inbox.details(),
            runs=self.runs,
        )

    def _waiting_for(self) -> str:
        if self.action:
            return self.action
        if self.phase == "review":
            return "the partner's admin: update `approve` (cut over) or `rollback` (WH-M1)"
        if self.phase == "failed":
            return "an operator: update `rollback` removes what the migration created"
        return "nothing" if self.phase in ENDED else self.phase

    def _publish(self) -> None:
        """Search attributes when the phase or org changes; current details always."""
        key = (self.phase, self.org_id)
        if key != self._published:
            self._published = key
            workflow.upsert_search_attributes(
                search_attribute_updates(self.phase, self.inp.partner_org_id, self.org_id, None)
            )
        p = self.progress()
        lines = [
            f"**BroadWorks migration {self.inp.external_id}**: `{p.phase}`",
            f"Users: {p.total} · provisioned {p.done} · failed {p.failed} · left {p.left}"
            + (f" · moved {p.moved}" if p.moved else ""),
            f"Waiting for: {p.waiting_for}",
        ]
        if p.rate_per_second:
            lines.append(
                f"Rate: {p.rate_per_second:.1f} users/s · about {p.eta_seconds or 0:.0f} s left"
            )
        if p.customer_id:
            lines.append(f"Wholesale customer: {p.customer_id} · org {p.org_id or '-'}")
        if p.reason:
            lines.append(f"Reason: {p.reason}")
        lines += self.inbox.details()
        workflow.set_current_details("\n\n".join(lines))


def _cause(err: ActivityError) -> str:
    cause = err.cause
    while isinstance(cause, ApplicationError) and cause.cause is not None:
        cause = cause.cause
    return str(cause.message if isinstance(cause, ApplicationError) else cause or err)[:500]
