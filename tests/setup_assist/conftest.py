"""Setup Assist fixtures: a partner onboarded to wholesale (a template naming its
subscription) that ordered A-Wholesale, provisioned customers with users at their location
(rows written straight into the wholesale read model: what "the store knows"), the HTTP API
over ASGI, and helpers to submit projects and wait for their effects."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from sqlmodel import col, select
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.setup_assist.service import submit_project
from models.common.db import Database
from models.common.mail import Mailer
from models.common.orgs import create_partner
from models.common.tables import Notice
from models.setup_assist.contract import (
    ProjectInput,
    ProjectStatus,
    SubmitRequest,
    setup_assist_workflow_id,
)
from models.setup_assist.store import Scope, order_setup_assist
from models.setup_assist.tables import SetupAssistProject
from models.wholesale.store import SCOPES, TemplateSpec, create_template, create_token
from models.wholesale.tables import WholesaleCustomer, WholesaleSubscriber
from tests.polling import WITHIN, eventually
from workers.settings import Settings
from workflows.setup_assist.workflow import SetupAssistProject as ProjectWorkflow

THURSDAY = date(2026, 3, 5)  # a US business day, no holiday within three weeks


class SetupAssistWorld:
    def __init__(
        self, env: WorkflowEnvironment, db: Database, task_queue: str, settings: Settings
    ) -> None:
        self.env, self.db, self.task_queue, self.settings = env, db, task_queue, settings
        self.http: httpx.AsyncClient | None = None
        self.token = ""

    async def setup(self, entitled: bool = True) -> SetupAssistWorld:
        async with self.db.session() as s:
            self.partner = await create_partner(
                s, "SP Telco", 1, [("admin@sp.test", "full"), ("ops@sp.test", "read_only")]
            )
            await create_template(
                s,
                self.partner,
                TemplateSpec(
                    name="Standard",
                    country="US",
                    sp_admin_email="ops@sp.test",
                    subscription_id="Sub-1",
                    brand_name="SP Telco Webex",
                    pstn_provider="CCP Voice",
                ),
            )
            if entitled:
                await order_setup_assist(s, self.partner, "Sub-1")
            _, self.token = await create_token(
                s, partner_org_id=self.partner, admin_email="admin@sp.test", scopes=list(SCOPES)
            )
        return self

    async def customer(
        self,
        users: int = 3,
        country: str = "US",
        status: str = "provisioned",
        user_status: str = "provisioned",
    ) -> tuple[str, str]:
        """A wholesale customer with ``users`` subscribers at its one location:
        (customer org id, location id)."""
        cid = uuid.uuid4().hex
        org_id = f"org-{cid[:12]}"
        location = f"loc-{cid[:24]}"
        now = datetime.now(UTC)
        async with self.db.session() as s:
            s.add(
                WholesaleCustomer(
                    id=cid,
                    partner_org_id=self.partner,
                    external_id=f"ext-{cid[:8]}",
                    org_id=org_id,
                    provisioning_id=await self._template(s),
                    status=status,
                    packages=[{"name": "webex_calling", "status": status}],
                    address={"country": country, "city": "X"},
                    customer_info={"name": "Pizza"},
                    request_hash="h",
                    location_id=location,
                    workflow_id=f"wholesale-customer-{cid}",
                    created_at=now,
                    status_changed_at=now,
                )
            )
            await s.flush()
            for i in range(users):
                s.add(
                    WholesaleSubscriber(
                        id=f"{cid[:30]}-{i}",
                        customer_id=cid,
                        partner_org_id=self.partner,
                        email=f"u{i}-{cid[:10]}@pizza.test",
                        first_name="U",
                        last_name=str(i),
                        package="webex_calling",
                        extension=f"{1000 + i}",
                        location_id=location,
                        status=user_status if i == 0 else "provisioned",
                        created_at=now,
                        last_status_change=now,
                    )
                )
        return org_id, location

    async def _template(self, s) -> str:
        from models.wholesale.tables import WholesaleTemplate

        row = (
            await s.exec(
                select(WholesaleTemplate.id).where(WholesaleTemplate.partner_org_id == self.partner)
            )
        ).first()
        return str(row)

    def request(self, org_id: str, location: str, **kw: Any) -> SubmitRequest:
        base: dict[str, Any] = dict(
            partner_org_id=self.partner,
            customer_org_id=org_id,
            subscription_id="Sub-1",
            number_of_locations=1,
            location_id=location,
            completion_date=date(2026, 3, 20),
        )
        base.update(kw)
        return SubmitRequest(**base)

    async def submit(
        self, users: int = 3, today: date = THURSDAY, country: str = "US", **kw: Any
    ) -> tuple[ProjectInput, WorkflowHandle[Any, Any]]:
        org_id, location = await self.customer(users=users, country=country)
        inp = await submit_project(
            self.env.client,
            self.db,
            self.settings.setup_assist_policy(),
            self.request(org_id, location, **kw),
            Scope(self.partner),
            task_queue=self.task_queue,
            today=today,
        )
        await self.opened(location)
        return inp, self.handle(location)

    async def opened(self, location: str, within: float = 15.0) -> SetupAssistProject:
        """Until the workflow's opening step is in the read model (it runs in real time)."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            row = await self.row(location)
            if row is not None and row.state != "submitted":
                return row
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"project {location} not opened")
            await asyncio.sleep(0.05)

    def handle(self, location: str) -> WorkflowHandle[Any, Any]:
        return self.env.client.get_workflow_handle_for(
            ProjectWorkflow.run, setup_assist_workflow_id(location)
        )

    async def status(self, location: str) -> ProjectStatus:
        return await self.handle(location).query(ProjectWorkflow.status)

    async def until(
        self, location: str, ok: Callable[[ProjectStatus], object], within: float = WITHIN
    ) -> ProjectStatus:
        """Until the workflow's status satisfies ``ok`` (activities run in real time)."""
        last: list[ProjectStatus] = []

        async def probe() -> ProjectStatus | None:
            st = await self.status(location)
            last[:] = [st]
            return st if ok(st) else None

        def said() -> str:
            return f"{last[0].state} {last[0].waiting_for}" if last else "no status"

        return await eventually(probe, said, within)

    async def row(self, location: str) -> SetupAssistProject | None:
        async with self.db.session() as s:
            return await s.get(SetupAssistProject, location)

    async def notices(self, kind: str) -> list[Notice]:
        async with self.db.session() as s:
            return list(
                (
                    await s.exec(
                        select(Notice).where(Notice.kind == kind).order_by(col(Notice.recipient))
                    )
                ).all()
            )

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def sa_settings() -> Settings:
    return Settings()


@pytest.fixture
async def sa(
    env: WorkflowEnvironment,
    db: Database,
    database_url: str,
    mailer: Mailer,
    task_queue: str,
    run_worker,
    sa_settings: Settings,
) -> AsyncIterator[SetupAssistWorld]:
    app = create_app(
        sa_settings, database_url, client=env.client, db=db, mailer=mailer, task_queue=task_queue
    )
    transport = httpx.ASGITransport(app=app)
    world = SetupAssistWorld(env, db, task_queue, sa_settings)
    async with (
        run_worker(),
        httpx.AsyncClient(transport=transport, base_url="http://sa.test") as http,
    ):
        world.http = http
        try:
            yield await world.setup()
        finally:
            await _terminate_projects(env, db)


async def _terminate_projects(env: WorkflowEnvironment, db: Database) -> None:
    """Open projects wait on timers; left running after their worker is gone they would
    stop the shared time-skipping server from skipping time for later tests."""
    async with db.session() as s:
        ids = (await s.exec(select(SetupAssistProject.workflow_id))).all()
    for wid in ids:
        with contextlib.suppress(RPCError):
            await env.client.get_workflow_handle(wid).terminate("test finished")
