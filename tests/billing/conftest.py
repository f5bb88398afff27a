"""Billing fixtures: a partner with two sub-partners and another partner, tokens, customers,
subscribers and package assignments written with exact instants (hand-computed quantities),
and the HTTP API (httpx over ASGI) with a clock the test controls, bound to the
time-skipping server's client and a worker on the test's queue."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import col, delete, select, update
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from models.billing import store
from models.billing.contract import report_workflow_id
from models.billing.tables import BillingReport, BillingUsage
from models.common.db import Database
from models.common.mail import Mailer
from models.wholesale.tables import (
    WholesaleCustomer,
    WholesalePackageAssignment,
    WholesaleSubscriber,
)
from tests.wholesale_tokens import PartnerWorld
from workers.settings import Settings

READ, WRITE = "wholesale_billing_reports_read", "wholesale_billing_reports_write"
NOW = datetime(2026, 3, 15, 10, 0, tzinfo=UTC)  # the API's clock unless a test moves it


def at(s: str, tz: Any = UTC) -> datetime:
    """``"2026-02-10 12:00"`` in ``tz`` (UTC by default)."""
    return datetime.fromisoformat(s).replace(tzinfo=tz)


class Billing(PartnerWorld):
    """The world of a billing test and the calls it makes."""

    def __init__(self, db: Database, http: httpx.AsyncClient, app: Any, settings: Settings):
        super().__init__()
        self.db, self.http, self.app, self.settings = db, http, app, settings
        self.now = NOW
        app.state.clock = lambda: self.now

    async def setup(self) -> Billing:
        async with self.db.session() as s:
            await self.seed_partners(s)
            await self.create_token(s, "read_only", [READ])
            await self.create_token(
                s, "no_billing", ["wholesale_customers_read", "wholesale_customers_write"]
            )
        return self

    # --- usage data, written with exact instants ---------------------------------------------

    async def customer(self, *, sub: str | None = None, other: bool = False) -> str:
        cid = f"c-{uuid.uuid4().hex[:16]}"
        now = datetime.now(UTC)
        async with self.db.session() as s:
            s.add(
                WholesaleCustomer(
                    id=cid,
                    partner_org_id=self.other_partner if other else self.partner,
                    sub_partner_org_id=sub,
                    external_id=f"ext-{cid}",
                    org_id=f"org-{cid}",
                    provisioning_id=self.other_template if other else self.template,
                    status="provisioned",
                    request_hash="0" * 64,
                    workflow_id=f"wf-{cid}",
                    created_at=now,
                    status_changed_at=now,
                )
            )
        return cid

    async def subscriber(self, customer_id: str) -> str:
        sid = f"s-{uuid.uuid4().hex[:16]}"
        now = datetime.now(UTC)
        async with self.db.session() as s:
            c = await s.get(WholesaleCustomer, customer_id)
            assert c is not None
            s.add(
                WholesaleSubscriber(
                    id=sid,
                    customer_id=customer_id,
                    partner_org_id=c.partner_org_id,
                    sub_partner_org_id=c.sub_partner_org_id,
                    email=f"{sid}@pizza.test",
                    first_name="Ann",
                    last_name="Lee",
                    package="webex_calling",
                    status="provisioned",
                    person_id=f"u-{sid}",
                    created_at=now,
                    last_status_change=now,
                )
            )
        return sid

    async def assign(
        self, subscriber_id: str, package: str, opened: datetime, closed: datetime | None = None
    ) -> None:
        async with self.db.session() as s:
            sub = await s.get(WholesaleSubscriber, subscriber_id)
            assert sub is not None
            c = await s.get(WholesaleCustomer, sub.customer_id)
            assert c is not None
            s.add(
                WholesalePackageAssignment(
                    subscriber_id=sub.id,
                    customer_id=c.id,
                    external_customer_id=c.external_id,
                    partner_org_id=sub.partner_org_id,
                    sub_partner_org_id=sub.sub_partner_org_id,
                    package=package,
                    opened_at=opened,
                    closed_at=closed,
                )
            )

    async def delete_subscriber(self, subscriber_id: str, at_: datetime) -> None:
        """What ``remove_subscriber`` does, at a chosen instant: close, then delete."""
        async with self.db.session() as s:
            await s.exec(
                update(WholesalePackageAssignment)
                .where(
                    col(WholesalePackageAssignment.subscriber_id) == subscriber_id,
                    col(WholesalePackageAssignment.closed_at).is_(None),
                )
                .values(closed_at=at_)
            )
            await s.exec(
                delete(WholesaleSubscriber).where(col(WholesaleSubscriber.id) == subscriber_id)
            )

    async def close(self, first: date, last: date, tz: str = "UTC") -> None:
        async with self.db.session() as s:
            await store.close_days(s, first, last, tz)

    async def usage(self, subscriber_id: str) -> dict[tuple[str, str], str]:
        """{(day, package): quantity as text} of a subscriber."""
        async with self.db.session() as s:
            q = select(BillingUsage).where(BillingUsage.subscriber_id == subscriber_id)
            rows = (await s.exec(q)).all()
        return {(r.day.isoformat(), r.package): f"{r.quantity.normalize():f}" for r in rows}

    # --- reports through the API --------------------------------------------------------------

    async def create(self, who: str = "partner", **body: Any) -> httpx.Response:
        return await self.http.post(
            "/v1/wholesale/billing/reports", json=body, headers=self.auth(who)
        )

    async def report(self, who: str = "partner", wait: bool = True, **body: Any) -> dict:
        """Create a report and (by default) wait until it is no longer IN_PROGRESS."""
        r = await self.create(who, **body)
        assert r.status_code == 200, r.text
        rid = r.json()["id"]
        return await self.wait(rid, who) if wait else r.json()

    async def get(self, rid: str, who: str = "partner") -> httpx.Response:
        return await self.http.get(f"/v1/wholesale/billing/reports/{rid}", headers=self.auth(who))

    async def wait(self, rid: str, who: str = "partner", within: float = 20.0) -> dict:
        deadline = asyncio.get_running_loop().time() + within
        while True:
            r = await self.get(rid, who)
            assert r.status_code == 200, r.text
            if r.json()["status"] != "IN_PROGRESS":
                return r.json()
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"report {rid} still IN_PROGRESS")
            await asyncio.sleep(0.05)

    async def download(self, url: str) -> httpx.Response:
        return await self.http.get(url)

    async def csv(self, rid: str, who: str = "partner") -> list[dict[str, str]]:
        import csv
        import io

        body = (await self.get(rid, who)).json()
        r = await self.download(body["tempDownloadURL"])
        assert r.status_code == 200, r.text
        return list(csv.DictReader(io.StringIO(r.text)))

    async def rows(self) -> list[BillingReport]:
        async with self.db.session() as s:
            return list((await s.exec(select(BillingReport))).all())

    async def sql(self, q: str) -> Any:
        async with self.db.session() as s:
            # ignored below: sqlmodel types exec() for ORM statements; text() runs too
            return (await s.exec(text(q))).all()  # type: ignore[call-overload]


@pytest.fixture
def billing_settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        billing_report_dir=tmp_path / "reports",
        billing_url_signing_key="test-signing-key",
    )


@pytest.fixture
async def bill(
    env: WorkflowEnvironment,
    db: Database,
    database_url: str,
    mailer: Mailer,
    task_queue: str,
    run_worker,
    billing_settings: Settings,
) -> AsyncIterator[Billing]:
    app = create_app(
        billing_settings,
        database_url,
        client=env.client,
        db=db,
        mailer=mailer,
        task_queue=task_queue,
    )
    transport = httpx.ASGITransport(app=app)
    async with (
        run_worker(),
        httpx.AsyncClient(transport=transport, base_url="http://billing.test") as http,
    ):
        world = await Billing(db, http, app, billing_settings).setup()
        try:
            yield world
        finally:
            for r in await world.rows():
                with contextlib.suppress(RPCError):
                    await env.client.get_workflow_handle(report_workflow_id(r.id)).terminate(
                        "test finished"
                    )
