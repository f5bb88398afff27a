"""Activities of the order lifecycle. Thin: each runs one store function in one transaction
(effects, read model and the outbox rows it owes) and then delivers the notices, which the
outbox's unique keys make exactly-once. A rule refusal is non-retryable (``RuleViolation``)."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from temporalio import activity
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.common import Activities
from models.common.outbox import NoticeView, deliver
from models.common.refusal import RULE_VIOLATION, RuleError
from models.orders import store
from models.orders.contract import (
    OrderInput,
    OrderPolicy,
    SetupCommit,
    SetupOutcome,
    SetupStep,
    StepResult,
    Transition,
    TrialConversion,
)
from models.trials.contract import ConvertRequest, trial_workflow_id
from models.trials.contract import UpdateResult as TrialUpdateResult

log = structlog.get_logger(__name__)


class OrderActivities(Activities):
    @property
    def key(self) -> str:
        return store.setup_token_key()

    @activity.defn(name="order_open")
    async def open(self, inp: OrderInput, t: Transition) -> None:
        """The order's row exists (written when it was accepted): record that its lifecycle
        runs and when it acts next."""
        try:
            async with self.db.session() as s:
                await store.transition(s, t, inp.policy, self.key)
        except LookupError as err:  # never accepted: nothing to run (cannot heal)
            raise ApplicationError(str(err), non_retryable=True) from None

    @activity.defn(name="order_transition")
    async def transition(self, t: Transition, policy: OrderPolicy) -> list[NoticeView]:
        try:
            async with self.db.session() as s:
                keys = await store.transition(s, t, policy, self.key)
        except LookupError as err:
            raise ApplicationError(str(err), non_retryable=True) from None
        sent = await deliver(self.db, self.mailer, keys)
        log.info("order transition", kind=t.kind, state=t.state, notices=len(sent))
        return sent

    @activity.defn(name="order_check_setup")
    async def check_setup(self, order_id: str, step: SetupStep, policy: OrderPolicy) -> StepResult:
        """A wizard step: checks only, writes nothing (SO-3)."""
        try:
            async with self.db.session() as s:
                row = await store.get_order(s, order_id)
                if row is None:
                    raise ApplicationError(f"no order {order_id}", non_retryable=True)
                res = await store.check_setup(
                    s, row, step.step, step.answers, policy, datetime.now(UTC)
                )
                return res.result
        except RuleError as err:
            raise err.to_application_error() from None

    @activity.defn(name="order_apply_setup")
    async def apply_setup(self, c: SetupCommit, policy: OrderPolicy) -> SetupOutcome:
        """The wizard's commit in one transaction; a refusal rolls all of it back."""
        try:
            async with self.db.session() as s:
                outcome, keys = await store.apply_setup(s, c, policy, self.key)
        except RuleError as err:
            raise err.to_application_error() from None
        outcome.notices = await deliver(self.db, self.mailer, keys)
        return outcome

    @activity.defn(name="order_convert_trial")
    async def convert_trial(self, conv: TrialConversion) -> str:
        """TR-V1..V3 through the trial's own ``convert`` update (its validator refuses with
        TR-V2, TR-V3 or TR-E2). The update id makes a retry return the first outcome."""
        async with self.db.session() as s:
            row = await store.get_order(s, conv.order_id)
        if row is None:
            raise ApplicationError(f"no order {conv.order_id}", non_retryable=True)
        handle = activity.client().get_workflow_handle(trial_workflow_id(conv.trial_id))
        try:
            result = await handle.execute_update(
                "convert",
                ConvertRequest(
                    order_id=row.id,
                    provisioning_contact_email=row.contact_email,
                    confirm_new_org=row.confirm_new_org,
                    through_distributor=row.through_distributor,
                ),
                id=f"order-{row.id}-convert",
                result_type=TrialUpdateResult,
            )
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            msg = cause.message if isinstance(cause, ApplicationError) else str(cause)
            raise ApplicationError(msg, type=RULE_VIOLATION, non_retryable=True) from None
        except RPCError as err:
            if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                raise ApplicationError(  # no such trial, or its lifecycle has ended
                    f"TR-V1 (trial_id): trial {conv.trial_id} cannot convert: {err.message}",
                    type=RULE_VIOLATION,
                    non_retryable=True,
                ) from None
            raise
        async with self.db.session() as s:
            await store.mark_trial_converted(s, conv.order_id, datetime.now(UTC))
        return f"trial {conv.trial_id}: {result.state}: {result.message}"
