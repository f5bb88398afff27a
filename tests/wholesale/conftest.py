"""Wholesale fixtures: a partner with two sub-partners, a template, tokens, and the HTTP API
(httpx over ASGI) bound to the time-skipping server's client and a worker on its queue."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlmodel import select
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from models.common.db import Database
from models.common.mail import Mailer
from models.common.tables import Notice
from models.wholesale.contract import customer_workflow_id
from models.wholesale.store import create_template, load_restricted_parties
from models.wholesale.tables import WholesaleCustomer
from tests.wholesale_tokens import PartnerWorld, template_spec
from workers.settings import Settings


class Wholesale(PartnerWorld):
    """The world of a wholesale test and the calls it makes."""

    def __init__(self, env: WorkflowEnvironment, db: Database, http: httpx.AsyncClient) -> None:
        super().__init__()
        self.env, self.db, self.http = env, db, http

    async def setup(self) -> Wholesale:
        async with self.db.session() as s:
            await self.seed_partners(s)
            self.template_no_pstn = await create_template(
                s, self.partner, template_spec(pstn_provider=None, name="Meetings only")
            )
            await self.create_token(
                s, "read_only", ["wholesale_customers_read", "wholesale_subscribers_read"]
            )
        return self

    def customer_body(self, **kw: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "provisioningId": self.template,
            "packages": ["webex_calling", "webex_meetings"],
            "externalId": f"ext-{uuid.uuid4().hex[:10]}",
            "address": {
                "addressLine1": "771 Alder Drive",
                "city": "Milpitas",
                "stateOrProvince": "CA",
                "zipOrPostalCode": "95035",
                "country": "US",
            },
            "customerInfo": {
                "name": f"Pizza {uuid.uuid4().hex[:6]}",
                "primaryEmail": "j@pizza.test",
            },
        }
        body.update(kw)
        return body

    async def post_customer(self, who: str = "partner", **kw: Any) -> httpx.Response:
        return await self.http.post(
            "/v1/wholesale/customers", json=self.customer_body(**kw), headers=self.auth(who)
        )

    async def customer(
        self, who: str = "partner", wait_for: tuple[str, ...] = (), **kw: Any
    ) -> str:
        r = await self.post_customer(who, **kw)
        assert r.status_code == 202, r.text
        cid = r.headers["Location"].rsplit("/", 1)[-1]
        if wait_for:
            await self.wait(cid, *wait_for)
        return cid

    async def row(self, customer_id: str) -> WholesaleCustomer | None:
        async with self.db.session() as s:
            return await s.get(WholesaleCustomer, customer_id)

    async def wait(
        self, customer_id: str, *statuses: str, within: float = 15.0
    ) -> WholesaleCustomer:
        """Until the read model shows one of the statuses (activities run in real time)."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            c = await self.row(customer_id)
            if c is not None and c.status in statuses:
                return c
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"customer is {c.status if c else None}, not {statuses}")
            await asyncio.sleep(0.05)

    async def wait_state(self, customer_id: str, *states: str, within: float = 15.0):
        from workflows.wholesale.workflow import WholesaleCustomerProvisioning

        h = self.handle(customer_id)
        deadline = asyncio.get_running_loop().time() + within
        while True:
            st = await h.query(WholesaleCustomerProvisioning.status)
            if st.state in states:
                return st
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"workflow is {st.state}, not {states}")
            await asyncio.sleep(0.05)

    def handle(self, customer_id: str):
        return self.env.client.get_workflow_handle(customer_workflow_id(customer_id))

    async def describe(self, customer_id: str):
        """The raw execution info of the customer's latest run (the SDK's typed description
        cannot decode the time-skipping server's datetime search attributes)."""
        desc = await self.env.client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=self.env.client.namespace,
                execution=WorkflowExecution(workflow_id=customer_workflow_id(customer_id)),
            )
        )
        return desc.workflow_execution_info

    async def notices(self, kind: str) -> list[Notice]:
        async with self.db.session() as s:
            return list((await s.exec(select(Notice).where(Notice.kind == kind))).all())

    async def restricted(self, *rows: dict[str, str]) -> None:
        async with self.db.session() as s:
            await load_restricted_parties(s, rows)

    async def subscriber(self, customer_id: str, who: str = "partner", **kw: Any) -> httpx.Response:
        params = {
            "firstName": "Ann",
            "lastName": "Lee",
            "extension": kw.pop("extension", f"{uuid.uuid4().int % 90000 + 10000}"),
        }
        params.update(kw.pop("params", {}))
        body = {
            "customerId": customer_id,
            "email": kw.pop("email", f"user-{uuid.uuid4().hex[:8]}@pizza.test"),
            "package": kw.pop("package", "webex_calling"),
            "provisioningParameters": params,
            **kw,
        }
        return await self.http.post("/v1/wholesale/subscribers", json=body, headers=self.auth(who))


@pytest.fixture
def wh_settings() -> Settings:
    return Settings(wholesale_compliance_hold_hours=72, wholesale_compliance_recheck_hours=6)


@pytest.fixture
async def wh(
    env: WorkflowEnvironment,
    db: Database,
    database_url: str,
    mailer: Mailer,
    task_queue: str,
    run_worker,
    wh_settings: Settings,
) -> AsyncIterator[Wholesale]:
    app = create_app(
        wh_settings, database_url, client=env.client, db=db, mailer=mailer, task_queue=task_queue
    )
    transport = httpx.ASGITransport(app=app)
    async with (
        run_worker(),
        httpx.AsyncClient(transport=transport, base_url="http://wholesale.test") as http,
    ):
        try:
            yield await Wholesale(env, db, http).setup()
        finally:
            await _terminate_customers(env, db)


async def _terminate_customers(env: WorkflowEnvironment, db: Database) -> None:
    """Customer workflows live as long as their customer. Left running on the shared
    time-skipping server after their worker is gone, their next timer would queue a task no
    one polls, and the server would stop skipping time for every later test."""
    async with db.session() as s:
        ids = (await s.exec(select(WholesaleCustomer.workflow_id))).all()
    for wid in ids:
        with contextlib.suppress(RPCError):
            await env.client.get_workflow_handle(wid).terminate("test finished")
