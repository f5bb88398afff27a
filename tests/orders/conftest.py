"""Order fixtures: a partner, existing customer orgs with domains and user activity, and
helpers to accept orders, drive the wizard and read the store."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import col, select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from api.orders.service import accept_order
from models.common.db import Database
from models.common.mail import Mailer
from models.common.orgs import create_customer_org, create_partner
from models.common.tables import Notice
from models.orders.contract import OrderCreate, OrderStatus, order_workflow_id
from models.orders.store import create_order_token
from models.orders.tables import OrderRecord, OrgUserActivity
from models.wholesale.tables import OrgDomain
from tests.polling import WITHIN, eventually
from workers.settings import Settings
from workflows.orders.workflow import SubscriptionOrder

# Every table an order's set-up may write: "nothing saved" (SO-3) compares them all.
STORE_TABLES = (
    "org",
    "org_user",
    "partner_customer",
    "license",
    "notice",
    "subscription_order",
    "order_service",
    "order_meeting_site",
    "org_subdomain",
    "order_document",
)


class Orders:
    answers: Callable[[], dict[str, Any]]  # set-up answers for a new partner and customer
    answers_for: Callable[[], dict[str, Any]]  # the same, choosing the fixture's partner

    def __init__(self, env: WorkflowEnvironment, db: Database, task_queue: str) -> None:
        self.env, self.db, self.task_queue = env, db, task_queue
        self.settings = Settings()
        self.policy = self.settings.order_policy()
        self.n = 0

    async def setup(self) -> Orders:
        now = datetime.now(UTC)
        async with self.db.session() as s:
            self.partner = await create_partner(
                s, "Acme Partner", 1, [("full@acme.test", "full"), ("sales@acme.test", "sales")]
            )
            self.tier2 = await create_partner(s, "Tier Two", 2, [("sales@tier2.test", "sales")])
            self.existing = await create_customer_org(
                s,
                "Existing Co",
                [("boss@existing.test", "full")],
                ["u1@existing.test", "u2@existing.test"],
            )
            self.stale = await create_customer_org(
                s, "Existing Co (old)", [("old@existing.test", "full")], []
            )
            s.add(OrgDomain(org_id=self.partner, domain="acme.test", verified=True))
            s.add(OrgDomain(org_id=self.existing, domain="existing.test", verified=True))
            for email, ago in (
                ("boss@existing.test", 2),
                ("u1@existing.test", 10),
                ("u2@existing.test", 400),
                ("old@existing.test", 800),
            ):
                s.add(OrgUserActivity(email=email, last_active_at=now - timedelta(days=ago)))
            _, self.token = await create_order_token(
                s,
                partner_org_id=self.partner,
                admin_email="full@acme.test",
                scopes=["orders_read", "orders_write"],
            )
            _, self.read_token = await create_order_token(
                s, partner_org_id=self.partner, admin_email="full@acme.test", scopes=["orders_read"]
            )
        return self

    def request(self, **kw: Any) -> OrderCreate:
        self.n += 1
        base: dict[str, Any] = dict(
            order_id=f"SO-{self.n:04d}",
            offer="A-WX",
            requested_start_date=date.today(),
            provisioning_contact_email="setup@acme.test",
            lines=[
                {"service": "meetings", "quantity": 100},
                {"service": "calling", "quantity": 50},
            ],
            account_rep_email="rep@cisco.test",
        )
        base.update(kw)
        return OrderCreate.model_validate(base)

    async def accept(self, submitted_by: str | None = None, **kw: Any):
        req = self.request(**kw)
        row, _ = await accept_order(
            self.env.client,
            self.db,
            self.policy,
            submitted_by or self.partner,
            req,
            task_queue=self.task_queue,
        )
        return self.handle(row.id)

    def handle(self, order_id: str):
        return self.env.client.get_workflow_handle_for(
            SubscriptionOrder.run, order_workflow_id(order_id)
        )

    async def status(self, h) -> OrderStatus:
        return await h.query(SubscriptionOrder.status)

    async def until(
        self, h, pred: Callable[[OrderStatus], bool], within: float = WITHIN
    ) -> OrderStatus:
        """Poll the status until ``pred`` holds (the worker catches up after a time skip)
        and no activity is pending: the state moves before the transition's activity has
        written the row and the notices, so a test reading the store waits for it too."""
        last: list[OrderStatus] = []

        async def probe() -> OrderStatus | None:
            st = await self.status(h)
            last[:] = [st]
            if pred(st) and not await self.busy(h):
                st = await self.status(h)
                if pred(st):
                    return st
            return None

        return await eventually(probe, lambda: f"last status: {last[0] if last else None}", within)

    async def busy(self, h) -> bool:
        """An activity of the order is scheduled or running."""
        desc = await h.describe()
        return bool(desc.raw_description.pending_activities)

    async def skip(self, days: float) -> None:
        await self.env.sleep(timedelta(days=days))

    async def row(self, order_id: str) -> OrderRecord:
        async with self.db.session() as s:
            row = await s.get(OrderRecord, order_id)
        assert row is not None
        return row

    async def notices(self, order_id: str, kind: str | None = None) -> list[Notice]:
        async with self.db.session() as s:
            q = select(Notice).where(Notice.workflow_id == order_workflow_id(order_id))
            if kind:
                q = q.where(Notice.kind == kind)
            return list((await s.exec(q.order_by(col(Notice.id)))).all())

    async def rows(self, model: Any, *where: Any) -> list[Any]:
        async with self.db.session() as s:
            return list((await s.exec(select(model).where(*where))).all())

    async def snapshot(self) -> dict[str, list[str]]:
        """Every row of every table an order's set-up may write, as text."""
        out = {}
        async with self.db.session() as s:
            for table in STORE_TABLES:
                # ignored below: sqlmodel types exec() for ORM statements; text() runs too
                rows = (await s.exec(text(f"SELECT t::text FROM {table} t ORDER BY 1"))).all()  # type: ignore[call-overload]
                out[table] = [r[0] for r in rows]
        return out

    async def ready(self, **kw: Any):
        """An order whose email went out and whose wizard is open."""
        h = await self.accept(**kw)
        await self.until(h, lambda s: s.state == "awaiting_setup")
        await h.execute_update(SubscriptionOrder.begin_setup, {})
        return h

    async def step(self, h, step: str, **answers: Any):
        r = await h.execute_update(
            SubscriptionOrder.check_setup, {"step": step, "answers": answers}
        )
        return r.step

    async def commit(self, h, **answers: Any):
        return await h.execute_update(SubscriptionOrder.commit_setup, answers)


def new_partner_and_customer(**extra: Any) -> dict[str, Any]:
    """Answers for a partner setting up for a new customer (every service now)."""
    base: dict[str, Any] = {
        "who": "me",
        "purpose": "customer",
        "partner_org": {"action": "confirm"},
        "customer_admin_email": "admin@newco.test",
        "customer_org": {
            "action": "create",
            "company_name": "NewCo",
            "vertical": "retail",
            "country": "DE",
        },
        "services": {
            "meetings": {"sites": [{"name": "newco", "timezone": "Europe/Berlin"}]},
            "calling": {"location_name": "Berlin HQ", "country": "DE"},
        },
        "provision_and_start_billing": True,
    }
    base.update(extra)
    return base


@pytest.fixture
async def orders(
    env: WorkflowEnvironment, db: Database, task_queue: str, run_worker
) -> AsyncIterator[Orders]:
    async with run_worker():
        o = await Orders(env, db, task_queue).setup()
        o.answers = new_partner_and_customer
        o.answers_for = lambda: {
            **new_partner_and_customer(),
            "partner_org": {"action": "choose", "org_id": o.partner},
        }
        yield o


@pytest.fixture
async def api(
    orders: Orders, database_url: str, mailer: Mailer
) -> AsyncIterator[httpx.AsyncClient]:
    from api.app import create_app

    app = create_app(
        orders.settings,
        database_url,
        client=orders.env.client,
        db=orders.db,
        mailer=mailer,
        task_queue=orders.task_queue,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://orders.test",
        headers={"Authorization": f"Bearer {orders.token}"},
    ) as http:
        yield http


@contextlib.contextmanager
def refused(rule: str, field: str | None = None):
    """An update refused naming ``rule`` (and ``field``)."""
    with pytest.raises(WorkflowUpdateFailedError) as err:
        yield err
    cause = err.value.cause
    assert isinstance(cause, ApplicationError), cause
    assert cause.message.startswith(rule), cause.message
    if field:
        assert f"({field})" in cause.message, cause.message
