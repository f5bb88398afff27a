"""No message wedges a lifecycle, and a refusal changes nothing (issue 9, items 1 and 3).

For every lifecycle workflow, every signal and update it declares (found from the workflow
definitions, not listed by hand) and an unknown signal name: random JSON (hypothesis
``st.recursive``, with the field names of this project's payloads among the keys), no input
and two inputs, sent to a running instance on the time-skipping server. After each message:

- the workflow still answers its query (``status``; a migration's ``progress``);
- a refused update is a ``RuleViolation`` whose message names a rule and a field
  (``RULE (field): message``), and the query answers what it answered before;
- a refused signal is recorded in ``rejected`` and nothing else in the status moved;
- an accepted update returns (bounded) and does not leave the lifecycle in ``error``;
- the history holds no failed workflow task.

An accepted message may change the state: that instance is then set aside and a fresh one
started for the next example, so that every comparison starts from a settled lifecycle.
Billing's two workflows run against activities that wait (their real ones finish at once),
so that their one update (``retry``) meets a running workflow.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import os
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import (
    DescribeWorkflowExecutionRequest,
    DescribeWorkflowExecutionResponse,
)
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.workflow import _Definition

from activities.common import Deps
from api.app import create_app
from models.billing.contract import BillingActivity, ReportInput, UsageCloseInput
from models.common.db import Database
from models.common.mail import Mailer
from models.devices.contract import device_workflow_id
from models.setup_assist.store import order_setup_assist
from models.trials.contract import NewCustomer
from scripts.binaries import temporal_test_server
from scripts.gen_broadworks import generate
from tests.conftest import TrialWorld, cloned_database
from tests.migration.conftest import Migrations
from tests.orders.conftest import Orders
from tests.polling import eventually
from tests.setup_assist.conftest import THURSDAY, SetupAssistWorld
from tests.wholesale.conftest import Wholesale
from workers.client import register_search_attributes
from workers.registry import WORKFLOWS
from workers.settings import Settings
from workers.worker import build_worker, sandbox_runner
from workflows.billing.workflow import BillingReport, BillingUsageClose
from workflows.migration.workflow import BroadWorksMigration

# Under xdist (make test) one worker runs them all: one world, set up once.
pytestmark = pytest.mark.xdist_group("properties")

# Random examples per handler, beside the three explicit ones below (more: set the variable).
EXAMPLES = int(os.environ.get("LIFECYCLES_PROPERTY_EXAMPLES", "6"))
UPDATE_BOUND = 60.0  # seconds an accepted update may take (activities run in real time)
RULE_NAMED = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)* \([^()]*\): .+", re.S)
UNKNOWN = "<unknown signal>"
SENT = itertools.count()  # unknown signal names are made unique (a status keeps the last few)


# --- random JSON ---------------------------------------------------------------------------


def _payload_field_names() -> list[str]:
    """Every field name (and alias) of the payload models of every lifecycle's contract:
    random objects then reach past "unknown field" into the validators."""
    import importlib

    names: set[str] = set()
    for lc in ("trials", "devices", "wholesale", "orders", "billing", "setup_assist", "migration"):
        module = importlib.import_module(f"models.{lc}.contract")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseModel) and cls.__module__ == module.__name__:
                for name, f in cls.model_fields.items():
                    names.add(name)
                    if f.alias:
                        names.add(f.alias)
    return sorted(names)


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
KEYS = st.sampled_from(_payload_field_names()) | st.text(max_size=12)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=10,
)
ARGS = st.one_of(st.tuples(JSON), st.tuples(JSON, JSON), st.just(()))


# --- the lifecycles, one running instance each ------------------------------------------


@dataclass
class Kind:
    """A lifecycle: how to start a settled instance and how to ask for its status."""

    workflow: type
    start: Callable[[], Awaitable[WorkflowHandle[Any, Any]]]
    query: str | None = "status"
    busy: bool = False  # an activity stays pending while it runs (billing's waiting stubs)
    current: WorkflowHandle[Any, Any] | None = None
    used: list[WorkflowHandle[Any, Any]] = field(default_factory=list)

    async def instance(self) -> WorkflowHandle[Any, Any]:
        """The current instance, settled: running, no activity and no workflow task pending
        (so nothing but the message sent next moves its status)."""
        while True:
            if self.current is None:
                self.current = await self.start()
                self.used.append(self.current)
            desc = await describe(self.current)
            if desc.workflow_execution_info.status != WorkflowExecutionStatus.RUNNING.value:
                self.current = None
            elif not (desc.pending_activities and not self.busy) and not desc.HasField(
                "pending_workflow_task"
            ):
                return self.current
            else:
                await asyncio.sleep(0.05)

    async def set_aside(self) -> None:
        """After an accepted message: the next example starts from a fresh instance."""
        if self.current is not None:
            with contextlib.suppress(RPCError):
                await self.current.terminate("property test: set aside")
            self.current = None

    async def status(self, h: WorkflowHandle[Any, Any]) -> dict[str, Any] | None:
        if self.query is None:
            return None
        for attempt in range(20):  # across continue-as-new a query may go unanswered
            try:
                st = await h.query(self.query, rpc_timeout=timedelta(seconds=10))
                return st if isinstance(st, dict) else dict(st)
            except RPCError:
                if attempt == 19:
                    raise
                await asyncio.sleep(0.25)
        raise AssertionError("unreachable")


async def describe(h: WorkflowHandle[Any, Any]) -> DescribeWorkflowExecutionResponse:
    """The raw description (the SDK's typed one cannot decode the time-skipping server's
    datetime search attributes)."""
    return await h._client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=h._client.namespace, execution=WorkflowExecution(workflow_id=h.id)
        )
    )


def handlers(workflow: type) -> list[tuple[str, str]]:
    """("signal" | "update", name) of every handler the workflow declares, and one signal
    name it does not have."""
    d = _Definition.from_class(workflow)
    assert d is not None, f"{workflow} is not a workflow"
    out = [("signal", n) for n in sorted(k for k in d.signals if k)]
    out += [("update", n) for n in sorted(k for k in d.updates if k)]
    return [*out, ("signal", UNKNOWN)]


@activity.defn(name=BillingActivity.generate_report.name)
async def waiting_generate_report(*args: Any) -> Any:
    await asyncio.Event().wait()  # cancelled when the stub worker stops


@activity.defn(name=BillingActivity.close_due.name)
async def waiting_close_due(*args: Any) -> Any:
    await asyncio.Event().wait()


@dataclass
class World:
    env: WorkflowEnvironment
    kinds: dict[str, Kind]


@pytest.fixture(scope="module")
async def world(postgres_server, template_database) -> AsyncIterator[World]:
    with cloned_database(postgres_server, template_database, "lc_props") as database_url:
        db = Database(database_url, pool_size=10)
        mailer = Mailer(smtp_url=None, mail_from="lifecycles@test")
        tq, stub_tq = f"tq-{uuid.uuid4().hex[:10]}", f"tq-{uuid.uuid4().hex[:10]}"
        s = Settings()
        try:
            async with await WorkflowEnvironment.start_time_skipping(
                data_converter=pydantic_data_converter,
                test_server_existing_path=str(temporal_test_server()),
            ) as env:
                await register_search_attributes(env.client)
                app = create_app(
                    s, database_url, client=env.client, db=db, mailer=mailer, task_queue=tq
                )
                stub = Worker(
                    env.client,
                    task_queue=stub_tq,
                    workflows=[BillingReport, BillingUsageClose],
                    activities=[waiting_generate_report, waiting_close_due],
                    workflow_runner=sandbox_runner(),
                )
                async with (
                    build_worker(env.client, Deps(db=db, mailer=mailer), task_queue=tq),
                    stub,
                    httpx.AsyncClient(
                        transport=httpx.ASGITransport(app=app), base_url="http://props.test"
                    ) as http,
                ):
                    kinds = await _kinds(env, db, http, s, tq, stub_tq)
                    yield World(env, kinds)
                    for kind in kinds.values():
                        for h in kind.used:
                            with contextlib.suppress(RPCError):
                                await h.terminate("property test finished")
        finally:
            await db.dispose()


async def _kinds(
    env: WorkflowEnvironment, db: Database, http: httpx.AsyncClient, s: Settings, tq: str, stq: str
) -> dict[str, Kind]:
    """One world's partners and orgs (their admins' emails are unique in the store, so the
    lifecycles that need a wholesale partner share one) and a starter per lifecycle."""
    client: Client = env.client
    trials = await TrialWorld(env, db, tq).setup()
    wh = await Wholesale(env, db, http).setup()
    orders = Orders(env, db, tq)  # its own setup's orgs would repeat the trials' admins
    orders.partner = trials.partner_id
    mig = Migrations(env, db, http)
    mig.partner, mig.template, mig.token = wh.partner, wh.template, wh.tokens["partner"]
    sa = SetupAssistWorld(env, db, tq, s)
    sa.partner, sa.token = wh.partner, wh.tokens["partner"]
    async with db.session() as session:
        await order_setup_assist(session, wh.partner, "Sub-1")

    def new_customer() -> NewCustomer:
        n = uuid.uuid4().hex[:8]
        return NewCustomer(
            company_name=f"NewCo {n}",
            admin_email=f"admin-{n}@newco.test",
            vertical="retail",
            country="US",
        )

    async def trial(services: list[str]) -> WorkflowHandle[Any, Any]:
        h = await trials.start(setup="now", services=services, customer=new_customer())

        async def active() -> bool:
            return (await h.query("status"))["state"] == "active"

        await eventually(active, "trial active")
        return h

    async def device() -> WorkflowHandle[Any, Any]:
        t = await trial(["messaging", "devices"])
        h = client.get_workflow_handle(device_workflow_id(t.id.removeprefix("trial-")))

        async def started() -> bool:
            with contextlib.suppress(RPCError):
                await h.query("status")
                return True
            return False

        await eventually(started, "device lifecycle started")
        return h

    async def customer() -> WorkflowHandle[Any, Any]:
        cid = await wh.customer(wait_for=("provisioned",))
        return wh.handle(cid)

    async def order() -> WorkflowHandle[Any, Any]:
        h = await orders.accept(order_id=f"SO-{uuid.uuid4().hex[:8]}")
        await orders.until(h, lambda st: st.state == "awaiting_setup")
        return h

    enterprises = itertools.count()

    async def migration() -> WorkflowHandle[Any, Any]:
        n = next(enterprises)  # an enterprise (and numbers) of its own each time
        wid = await mig.started(generate(3, enterprise=f"ent-props-{n}", number_offset=n * 10))
        await mig.wait_phase(wid, "review")
        return client.get_workflow_handle(wid)

    async def project() -> WorkflowHandle[Any, Any]:
        _, h = await sa.submit(today=THURSDAY, completion_date=date(2026, 3, 20))
        return h

    async def report() -> WorkflowHandle[Any, Any]:
        return await client.start_workflow(
            BillingReport.run,
            ReportInput(
                report_id=uuid.uuid4().hex, partner_org_id=wh.partner, policy=s.billing_policy()
            ),
            id=f"props-report-{uuid.uuid4().hex[:10]}",
            task_queue=stq,
        )

    async def close() -> WorkflowHandle[Any, Any]:
        return await client.start_workflow(
            BillingUsageClose.run,
            UsageCloseInput(policy=s.billing_policy()),
            id=f"props-close-{uuid.uuid4().hex[:10]}",
            task_queue=stq,
        )

    from workflows.devices.workflow import DeviceTrial
    from workflows.orders.workflow import SubscriptionOrder
    from workflows.setup_assist.workflow import SetupAssistProject
    from workflows.trials.workflow import TrialLifecycle
    from workflows.wholesale.workflow import WholesaleCustomerProvisioning

    kinds = {
        "TrialLifecycle": Kind(TrialLifecycle, lambda: trial(["messaging", "calling"])),
        "DeviceTrial": Kind(DeviceTrial, device),
        "WholesaleCustomerProvisioning": Kind(WholesaleCustomerProvisioning, customer),
        "BroadWorksMigration": Kind(BroadWorksMigration, migration, query="progress"),
        "SubscriptionOrder": Kind(SubscriptionOrder, order),
        "BillingReport": Kind(BillingReport, report, busy=True),
        "BillingUsageClose": Kind(BillingUsageClose, close, busy=True),
        "SetupAssistProject": Kind(SetupAssistProject, project),
    }
    missing = {w.__name__ for w in WORKFLOWS} - set(kinds)
    assert not missing, f"lifecycles without an instance here: {missing}"
    return kinds


# --- the property ----------------------------------------------------------------------------

CASES = [
    pytest.param(w.__name__, kind, name, id=f"{w.__name__}.{name}")
    for w in WORKFLOWS
    for kind, name in handlers(w)
]
# Fields a query computes from the clock, not from what the lifecycle holds.
CLOCK_FIELDS = {"rejected", "rate_per_second", "eta_seconds", "today", "phases", "days_left"}


def _settled(status: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if status is None else {k: v for k, v in status.items() if k not in CLOCK_FIELDS}


async def _no_failed_task(h: WorkflowHandle[Any, Any]) -> None:
    async for event in h.fetch_history_events():
        assert event.event_type != EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED, (
            f"{h.id}: a workflow task failed: {event.workflow_task_failed_event_attributes}"
        )


@pytest.mark.parametrize(("workflow", "kind", "name"), CASES)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(args=ARGS, unknown_name=st.text(min_size=1, max_size=30))
@example(args=(), unknown_name="no_such_signal")
@example(args=({}, {}), unknown_name="x")
@example(args=("5",), unknown_name="cancel ")
async def test_no_message_wedges_a_lifecycle_and_a_refusal_changes_nothing(
    world: World, workflow: str, kind: str, name: str, args: tuple[Any, ...], unknown_name: str
) -> None:
    """Issue 9 items 1 and 3 (TR, DV, WH, SO, WH-A, WH-M, WH-B handlers alike)."""
    lc = world.kinds[workflow]
    h = await lc.instance()
    before = await lc.status(h)
    if kind == "update":
        try:
            await asyncio.wait_for(h.execute_update(name, args=list(args)), UPDATE_BOUND)
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            assert isinstance(cause, ApplicationError), f"{name}{args!r}: {cause!r}"
            assert cause.type == "RuleViolation", f"{name}{args!r}: {cause.type} {cause}"
            assert RULE_NAMED.match(cause.message), f"{name}{args!r}: {cause.message}"
            after = await lc.status(h)
            assert _settled(after) == _settled(before), f"{name}{args!r} refused, state moved"
        else:
            after = await lc.status(h)
            assert after is None or after.get("state") != "error", f"{name}{args!r}: {after}"
            await _no_failed_task(h)
            await lc.set_aside()
            return
    else:
        signal = f"{unknown_name}#{next(SENT)}" if name == UNKNOWN else name
        await h.signal(signal, args=list(args))
        # A barrier: the `retry` update (refused: nothing failed) is handled after the
        # signal, so the query that follows sees what the signal's handler did.
        with pytest.raises(WorkflowUpdateFailedError):
            await asyncio.wait_for(h.execute_update("retry"), UPDATE_BOUND)
        after = await lc.status(h)
        if after is not None and before is not None and "rejected" not in after:
            # A status without `rejected` (none left: billing's have one): nothing may move.
            assert _settled(after) == _settled(before), f"signal {signal!r}{args!r} moved it"
        elif after is not None and before is not None:
            moved = _settled(after) != _settled(before)
            recorded = after.get("rejected") != before.get("rejected")
            if name == UNKNOWN or recorded:  # refused: seen by operators, nothing else moved
                assert recorded, f"signal {signal!r}{args!r} neither refused nor recorded"
                assert not moved, f"signal {signal!r}{args!r} refused, and the state moved"
            elif moved:  # accepted and acted on
                await _no_failed_task(h)
                await lc.set_aside()
                return
    await _no_failed_task(h)
