"""The plumbing every lifecycle shares: activity options, refusals, deadlines as data, the
main loop's wait for the earliest deadline or a change and what follows it, and the search
attributes a lifecycle publishes.

Module-level functions only, called from inside a workflow: they issue exactly the commands
the workflows issued before they were shared (recorded histories replay against them, see
tests/test_replay.py). Deterministic code only.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, ValidationError

    from models.common.contract import ActivityRef, RejectedMessage, StepFailure

from workflows import search_attributes as sa

R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

REJECTED_KEPT = 20  # the last refused signals a workflow keeps for its operators

# A step is one transaction and at most a few emails (the SMTP relay gets 5 s per exchange,
# Settings.smtp_timeout_seconds, at most 15): 20 s is many times its slowest attempt under
# load, and it is how long a lifecycle waits when the worker running its step is killed
# (the engine presumes the attempt lost only then; at 60 s the fault campaign's lifecycles
# sat a minute per kill, see docs/chaos.md). The long steps set their own, with heartbeats.
ACTIVITY_TIMEOUT = timedelta(seconds=20)
# Bounded: 12 attempts, 1 s doubling to at most 20 s between them (1, 2, 4, 8, 16, then
# 20 s six times: 151 s of waits, plus the attempts themselves), enough to ride out a
# database or SMTP restart of a minute or two; then the step fails and the lifecycle waits
# in state `error`. The cap keeps a healed database noticed within 20 s (at 5 minutes the
# fault campaign's trials sat minutes after PostgreSQL was back; see docs/chaos.md).
RETRY_MAX_INTERVAL = timedelta(seconds=20)
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=RETRY_MAX_INTERVAL,
    maximum_attempts=12,
    non_retryable_error_types=["RuleViolation"],
)


def restore(carry: BaseModel, into: object, *, skip: Sequence[str] = (), **renamed: str) -> None:
    """A continue-as-new run takes over: each field of ``carry`` (but ``skip``) becomes the
    attribute of ``into`` of the same name (``renamed``: field -> attribute, where they
    differ). The workflow class declares the attributes' types."""
    for name in type(carry).model_fields:
        if name not in skip:
            setattr(into, renamed.get(name, name), getattr(carry, name))


def carried(model: type[M], source: object, /, **given: Any) -> M:
    """What a run hands to the next one: each field of ``model`` from the attribute of
    ``source`` of the same name, or from ``given`` (a value computed, or renamed)."""
    return model(**{n: given[n] if n in given else getattr(source, n) for n in model.model_fields})


class StepFailed(ApplicationError):
    """An activity that failed for good. The main loop turns it into state ``error``; an
    update handler's caller sees it as the update's failure. (An ApplicationError, so one
    left uncaught fails the workflow instead of retrying its task for ever.)"""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}", type="StepFailed", non_retryable=True)
        self.step = step
        self.reason = message


def refuse(rule: str, field: str, message: str) -> ApplicationError:
    """A refusal naming its rule and field; never retried."""
    return ApplicationError(
        f"{rule} ({field}): {message}",
        {"rule": rule, "field": field, "message": message},
        type="RuleViolation",
        non_retryable=True,
    )


def passed_on(err: BaseException) -> ApplicationError:
    """An activity's refusal, raised again to an update's caller with its rule, field and
    message intact (the details travel with it)."""
    cause = getattr(err, "cause", None)
    if isinstance(cause, ApplicationError):
        return ApplicationError(
            cause.message, *cause.details, type=cause.type or "RuleViolation", non_retryable=True
        )
    return ApplicationError(str(err), type="ActivityFailed", non_retryable=True)


def parse(model: type[M], args: Sequence[Any], rule: str) -> M:
    """The one JSON argument of a signal or an update, validated strictly as ``model``.

    Handlers take ``*args`` so that no payload can fail the workflow task: no input reads as
    ``{}`` (a model with required fields then names them), two inputs are refused, and
    ``"5"`` or ``true`` is not a number. A refusal names the rule and the first bad field.
    """
    if len(args) > 1:
        raise refuse(rule, "input", f"expected one JSON object, got {len(args)} inputs")
    raw = args[0] if args else {}
    if isinstance(raw, BaseModel):  # a typed caller in the same process (tests, replayer)
        raw = raw.model_dump(mode="json")
    try:
        return model.model_validate_json(json.dumps(raw, default=str), strict=True)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "input"
        return _raise(refuse(rule, field, first["msg"]))
    except (TypeError, ValueError) as err:
        return _raise(refuse(rule, "input", f"not JSON: {err}"))


def _raise(err: ApplicationError) -> Any:
    raise err


class Inbox(Generic[T]):
    """The messages a lifecycle's main loop handles, in arrival order, under its lock; the
    flag its wait watches; and the signals it refused, for its operators to see."""

    def __init__(
        self,
        rejected: Sequence[RejectedMessage] = (),
        on_reject: Callable[[], None] | None = None,
    ) -> None:
        self.queue: list[T] = []
        self.rejected: list[RejectedMessage] = list(rejected)
        self.changed = False
        # For a workflow with no main loop to wake (billing's): show the refusal at once.
        self.on_reject = on_reject

    def put(self, item: T) -> None:
        self.queue.append(item)
        self.changed = True

    def receive(self, name: str, model: type[M], args: Sequence[Any], rule: str) -> None:
        """A signal: queue its parsed payload, or record why it was refused. Never raises."""
        try:
            self.put(parse(model, args, rule))  # type: ignore[arg-type]  # T is the union of M
        except ApplicationError as err:
            self.reject(name, err.message)

    def reject(self, name: str, reason: str) -> None:
        workflow.logger.warning("signal %s refused: %s", name[:200], reason)
        self.rejected.append(
            RejectedMessage(name=name[:200], at=workflow.now(), reason=reason[:500])
        )
        del self.rejected[:-REJECTED_KEPT]
        self.changed = True
        if self.on_reject is not None:
            self.on_reject()

    def take(self) -> T | None:
        return self.queue.pop(0) if self.queue else None

    def seen(self) -> bool:
        """Whether anything arrived since the last look (and forget that it did)."""
        changed, self.changed = self.changed, False
        return changed

    def details(self) -> list[str]:
        """Lines for the workflow's current details: the last refused signals."""
        return [
            f"Refused signal `{r.name}` at {r.at:%Y-%m-%d %H:%M} UTC: {r.reason}"
            for r in self.rejected[-3:]
        ]


class Lifecycle:
    """Base of every lifecycle workflow: its inbox, a handler for signal names it does not
    have (recorded, not buffered for ever), and the ``error`` state a step that failed for
    good leaves it in, with the ``retry`` update that resumes it."""

    inbox: Inbox[Any]
    state: Any
    failure: StepFailure | None = None

    @workflow.signal(dynamic=True)
    def unknown_signal(self, name: str, args: Sequence[RawValue]) -> None:
        self.inbox.reject(name, "this workflow has no signal of that name")

    def failed(self, err: StepFailed) -> None:
        """Wait in ``error`` (the LifecycleState operators filter on), saying what failed."""
        workflow.logger.error("step failed for good: %s", err.message)
        if self.failure is None:
            self.failure = StepFailure(
                step=err.step[:200], message=err.reason[:1000], at=workflow.now(), state=self.state
            )
            self.state = "error"

    def failure_details(self) -> list[str]:
        if self.failure is None:
            return []
        f = self.failure
        return [
            f"**Failed** at {f.at:%Y-%m-%d %H:%M} UTC: {f.step}: {f.message}",
            "An operator sends the `retry` update once the cause is fixed.",
        ]

    @workflow.update
    async def retry(self, *args: Any) -> str:
        """Resume after a failed step: the lifecycle goes back to its state and the step is
        tried again (every effect is idempotent)."""
        self._validate_retry(*args)
        assert self.failure is not None  # checked by the validator
        self.state, self.failure = self.failure.state, None
        self.inbox.changed = True
        return f"resumed in {self.state}"

    @retry.validator
    def _validate_retry(self, *args: Any) -> None:
        if self.failure is None:
            raise refuse("OPS", "state", "nothing failed: there is nothing to retry")

    _published: object = None  # the state and deadline the search attributes show
    _recorded: dict[str, Any] | None = None  # what the read model was last given

    def publish(
        self,
        key: object,
        deadline: Deadline | None,
        partner_org_id: str,
        customer_org_id: str | None,
    ) -> None:
        """The shared search attributes, only when ``key`` (the state and what it waits for)
        changed since they were last set."""
        if key != self._published:
            self._published = key
            workflow.upsert_search_attributes(
                search_attribute_updates(self.state, partner_org_id, customer_org_id, deadline)
            )

    async def record(self, ref: ActivityRef[None], status: BaseModel, summary: str) -> None:
        """The read model, only when what it records changed; a step that fails for good
        leaves the lifecycle in ``error``."""
        record = status.model_dump(exclude={"notices", "waiting_for", "rejected"})
        if record != self._recorded:
            self._recorded = record
            try:
                await act(ref, status, summary=summary)
            except StepFailed as err:
                self.failed(err)

    # What a lifecycle's main loop provides for ``turn``.
    _lock: asyncio.Lock
    _handle_signals: Callable[[], Awaitable[None]]
    _next_deadline: Callable[[], Deadline | None]
    _on_deadline: Callable[[Deadline], Awaitable[None]]

    async def turn(self, deadline: Deadline | None, labels: Mapping[str, str]) -> None:
        """One turn of the main loop: wait for ``deadline`` or a message (no deadline while
        in ``error``), then, under the lock, the queued messages and whatever is due."""
        await wait_for(None if self.failure else deadline, lambda: self.inbox.changed, labels)
        self.inbox.changed = False
        await fire_due(
            self._lock, self._handle_signals, self._next_deadline, self._on_deadline, self
        )


@dataclass(frozen=True)
class Deadline:
    kind: str
    at: datetime
    tag: str = ""  # which one of a kind that repeats (a device return reminder)


async def act(
    ref: ActivityRef[R],
    *args: Any,
    summary: str,
    start_to_close: timedelta = ACTIVITY_TIMEOUT,
    heartbeat: timedelta | None = None,
) -> R:
    """Run one activity, by name, with the shared timeout and retry policy (a long one
    that heartbeats: ``start_to_close`` and ``heartbeat``). A refusal (``RuleViolation``) reaches
    the caller as the ActivityError; any other failure that outlived its retries is a
    ``StepFailed``."""
    try:
        result: R = await workflow.execute_activity(
            ref.name,
            args=list(args),
            start_to_close_timeout=start_to_close,
            heartbeat_timeout=heartbeat,
            retry_policy=RETRY,
            summary=summary,
            result_type=ref.result,
        )
    except ActivityError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type == "RuleViolation":
            raise
        raise StepFailed(summary, getattr(cause, "message", None) or str(err)) from err
    return result


async def wait_for(
    deadline: Deadline | None, changed: Callable[[], bool], labels: Mapping[str, str]
) -> None:
    """Wait for ``changed()`` or, with a deadline still ahead, until it is due (a timer
    summarised by ``labels[deadline.kind]``). A deadline already due does not wait."""
    if deadline is None:
        await workflow.wait_condition(changed)
    elif deadline.at > workflow.now():
        try:
            await workflow.wait_condition(
                changed,
                timeout=deadline.at - workflow.now(),
                timeout_summary=labels[deadline.kind],
            )
        except TimeoutError:
            pass


async def fire_due(
    lock: asyncio.Lock,
    handle_signals: Callable[[], Awaitable[None]],
    next_deadline: Callable[[], Deadline | None],
    on_deadline: Callable[[Deadline], Awaitable[None]],
    lifecycle: Lifecycle | None = None,
) -> None:
    """After a wait, under the lock: the queued signals first, then the earliest deadline
    if it is due by now. A step that fails for good leaves ``lifecycle`` in ``error``, where
    deadlines wait (signals are still taken) until the ``retry`` update."""
    async with lock:
        try:
            await handle_signals()
            if lifecycle is not None and lifecycle.failure is not None:
                return
            due = next_deadline()
            if due is not None and due.at <= workflow.now():
                await on_deadline(due)
        except StepFailed as err:
            if lifecycle is None:
                raise
            lifecycle.failed(err)


def search_attribute_updates(
    state: str, partner_org_id: str, customer_org_id: str | None, deadline: Deadline | None
) -> list[SearchAttributeUpdate[Any]]:
    """What a lifecycle publishes: its state, its orgs and its next deadline; a customer
    org or a deadline that is None is unset."""
    return [
        sa.LIFECYCLE_STATE.value_set(state),
        sa.PARTNER_ORG_ID.value_set(partner_org_id),
        sa.CUSTOMER_ORG_ID.value_set(customer_org_id)
        if customer_org_id is not None
        else sa.CUSTOMER_ORG_ID.value_unset(),
        sa.NEXT_DEADLINE_AT.value_set(deadline.at)
        if deadline
        else sa.NEXT_DEADLINE_AT.value_unset(),
        sa.NEXT_DEADLINE_KIND.value_set(deadline.kind)
        if deadline
        else sa.NEXT_DEADLINE_KIND.value_unset(),
    ]
