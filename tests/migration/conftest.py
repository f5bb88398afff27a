"""Migration fixtures: a partner with a template and a token, the HTTP API (httpx over ASGI)
bound to the time-skipping server and a worker on the test's queue, the sample export."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import select
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from models.common.db import Database
from models.common.mail import Mailer
from models.common.orgs import create_partner
from models.common.tables import Notice
from models.migration.contract import MigrationProgress
from models.migration.tables import Migration
from models.wholesale.store import SCOPES, TemplateSpec, create_template, create_token
from models.wholesale.tables import WholesaleCustomer
from tests.polling import eventually
from workers.settings import Settings
from workflows.migration.workflow import BroadWorksMigration

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "broadworks" / "pizza.json"
# What a migration may create, and what must be as before after a rollback.
STORE_TABLES = (
    "org",
    "org_user",
    "phone_number",
    "wholesale_customer",
    "wholesale_subscriber",
    "wholesale_package_assignment",
)


def sample() -> dict[str, Any]:
    return copy.deepcopy(json.loads(SAMPLE.read_text()))


class Migrations:
    def __init__(self, env: WorkflowEnvironment, db: Database, http: httpx.AsyncClient) -> None:
        self.env, self.db, self.http = env, db, http

    async def setup(self) -> Migrations:
        async with self.db.session() as s:
            self.partner = await create_partner(s, "SP Telco", 1, [("admin@sp.test", "full")])
            self.template = await create_template(
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
            _, self.token = await create_token(
                s, partner_org_id=self.partner, admin_email="admin@sp.test", scopes=list(SCOPES)
            )
        return self

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def body(self, export: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"provisioningId": self.template, "export": export or sample()}

    async def start(self, export: dict[str, Any] | None = None) -> httpx.Response:
        return await self.http.post("/v1/migrations", json=self.body(export), headers=self.auth)

    async def started(self, export: dict[str, Any] | None = None) -> str:
        r = await self.start(export)
        assert r.status_code == 202, r.text
        return r.json()["id"]

    async def progress(self, wid: str) -> MigrationProgress:
        """The progress query. The time-skipping server leaves a query unanswered that
        reaches a run just as it continues as new: ask the new run again."""
        from datetime import timedelta

        from temporalio.service import RPCError

        for _ in range(30):
            try:
                return await self.env.client.get_workflow_handle(wid).query(
                    BroadWorksMigration.progress, rpc_timeout=timedelta(seconds=5)
                )
            except RPCError:
                await asyncio.sleep(0.2)
        return await self.env.client.get_workflow_handle(wid).query(BroadWorksMigration.progress)

    async def wait_phase(self, wid: str, *phases: str, within: float = 600.0) -> MigrationProgress:
        last: list[MigrationProgress] = []

        async def probe() -> MigrationProgress | None:
            p = await self.progress(wid)
            last[:] = [p]
            return p if p.phase in phases and not p.action else None

        def said() -> str:
            return f"migration is {last[0].phase} ({last[0].action}), not {phases}" if last else ""

        return await eventually(probe, said, within)

    async def decide(self, wid: str, what: str, **body: Any) -> httpx.Response:
        return await self.http.post(f"/v1/migrations/{wid}/{what}", json=body, headers=self.auth)

    async def describe(self, workflow_id: str):
        """The raw execution info (the SDK's typed description cannot decode the
        time-skipping server's datetime search attributes)."""
        desc = await self.env.client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=self.env.client.namespace,
                execution=WorkflowExecution(workflow_id=workflow_id),
            )
        )
        return desc.workflow_execution_info

    async def snapshot(self) -> dict[str, list[tuple]]:
        """Every row of the tables a migration touches (to compare before and after)."""
        out = {}
        async with self.db.session() as s:
            for table in STORE_TABLES:
                # ignored below: sqlmodel types exec() for ORM statements; text() runs too
                rows = (await s.exec(text(f"SELECT * FROM {table} ORDER BY 1"))).all()  # type: ignore[call-overload]
                out[table] = [tuple(r) for r in rows]
        return out

    async def notices(self, kind: str) -> list[Notice]:
        async with self.db.session() as s:
            return list((await s.exec(select(Notice).where(Notice.kind == kind))).all())


@pytest.fixture
def mig_settings() -> Settings:
    return Settings(
        migration_batch_size=2, migration_user_retry_seconds=0.0, migration_heartbeat_seconds=20
    )


@pytest.fixture
async def mig(
    env: WorkflowEnvironment,
    db: Database,
    database_url: str,
    mailer: Mailer,
    task_queue: str,
    run_worker,
    mig_settings: Settings,
) -> AsyncIterator[Migrations]:
    app = create_app(
        mig_settings, database_url, client=env.client, db=db, mailer=mailer, task_queue=task_queue
    )
    transport = httpx.ASGITransport(app=app)
    async with (
        run_worker(),
        httpx.AsyncClient(transport=transport, base_url="http://migration.test") as http,
    ):
        try:
            yield await Migrations(env, db, http).setup()
        finally:
            await _terminate(env, db)


async def _terminate(env: WorkflowEnvironment, db: Database) -> None:
    """Left running on the shared time-skipping server, a workflow would stop time skipping
    for later tests."""
    async with db.session() as s:
        ids = list((await s.exec(select(WholesaleCustomer.workflow_id))).all())
        ids += list((await s.exec(select(Migration.workflow_id))).all())
    for wid in ids:
        with contextlib.suppress(RPCError):
            await env.client.get_workflow_handle(wid).terminate("test finished")
