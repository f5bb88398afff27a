"""`lifecycles demo orders`: subscription orders that together walk every path, on a
compressed calendar (``--day-seconds``, default 2: PX-5's 7 days last 14 seconds).

Run it beside `lifecycles dev`. It seeds a partner (with a verified domain, so the wizard
finds it from the provisioning email), then plays the order desk and the people who click
the email's link:

- provisioned: the wizard step by step (each step checked, nothing saved), one commit, SO-10;
- closed unprovisioned: an A-FLEX order nobody sets up: the account rep is alerted the day
  after (SO-2), the order closes 7 days after the email and the partner is told (PX-5);
- cancelled: an order scheduled for a later start date, cancelled before its email;
- contact change then resend (PX-5): the new contact gets the email, it is sent again, the
  new contact provisions with Calling set up later (SO-13), then resumes it (SO-9);
- trial conversion (TR-V1): an active trial's order converts it when billing starts.

Each workflow's Temporal UI page is printed as it starts.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle

from api.orders.service import accept_order
from models.common.db import Database
from models.common.orgs import create_partner
from models.orders.contract import OrderCreate, OrderStatus
from models.trials.contract import NewCustomer, TrialRequest
from models.wholesale.tables import OrgDomain
from workers.settings import Settings
from workers.starter import start_trial
from workflows.orders.workflow import SubscriptionOrder
from workflows.trials.workflow import TrialLifecycle

Sleep = Callable[[float], Awaitable[Any]]
Echo = Callable[[str], None]
PATHS = {
    "provisioned": "wizard step by step, provision and start billing (SO-3..SO-10)",
    "closed": "A-FLEX nobody sets up: rep alerted (SO-2), closed after 7 days (PX-5)",
    "cancelled": "scheduled for a later start date, cancelled before its email",
    "contact_resend": "contact changed, email resent (PX-5); calling later then resumed",
    "trial": "converts an active trial when billing starts (TR-V1)",
}


def ended(st: OrderStatus) -> bool:
    return st.state in ("closed", "cancelled") or (
        st.state == "provisioned" and not st.deferred_services
    )


def ui_url(settings: Settings, workflow_id: str) -> str:
    """The workflow's page in the Temporal UI of `lifecycles dev`."""
    return settings.ui_url(workflow_id)


async def seed(db: Database, run_id: str) -> tuple[str, str]:
    """(partner org id, its verified domain)."""
    domain = f"acme-{run_id}.test"
    async with db.session() as s:
        partner = await create_partner(
            s,
            f"Acme Partner {run_id}",
            1,
            [(f"sales@{domain}", "sales"), (f"admin@{domain}", "full")],
        )
        s.add(OrgDomain(org_id=partner, domain=domain, verified=True))
    return partner, domain


def new_customer_answers(partner: str, run_id: str, name: str, **services: Any) -> dict:
    """A partner setting up for a new customer org (SO-4 me, SO-11 for a customer)."""
    return {
        "who": "me",
        "purpose": "customer",
        "partner_org": {"action": "choose", "org_id": partner},
        "customer_admin_email": f"it@{name}-{run_id}.test",
        "customer_org": {
            "action": "create",
            "company_name": f"{name.capitalize()} {run_id}",
            "vertical": "manufacturing",
            "country": "DE",
        },
        "services": {
            "meetings": {"sites": [{"name": f"{name}-{run_id}", "timezone": "Europe/Berlin"}]},
            "calling": {"location_name": "Berlin HQ", "country": "DE"},
            **services,
        },
        "provision_and_start_billing": True,
    }


async def run_demo(
    client: Client,
    db: Database,
    settings: Settings,
    *,
    task_queue: str,
    sleep: Sleep,
    echo: Echo = print,
) -> dict[str, OrderStatus]:
    """Every path, start to end; the final status of each order by path. ``sleep`` waits
    order time (``asyncio.sleep`` live; the time-skipping server's ``env.sleep`` in tests)."""
    run_id = uuid.uuid4().hex[:6]
    partner, domain = await seed(db, run_id)
    policy = settings.order_policy()
    day = policy.day_seconds
    today = datetime.now(UTC).date()
    handles: dict[str, WorkflowHandle] = {}
    echo(f"Demo {run_id}: {day:g} s per day. Partner {partner}; in the Temporal UI search")
    echo(f'  PartnerOrgId = "{partner}"')

    def show(label: str, workflow_id: str) -> None:
        echo(f"  {label:<15} {workflow_id:<34} {ui_url(settings, workflow_id)}")

    async def accept(path: str, **kw: Any) -> WorkflowHandle:
        base: dict[str, Any] = dict(
            order_id=f"DEMO-{run_id}-{path.upper().replace('_', '-')}",
            offer="A-WX",
            requested_start_date=today,
            provisioning_contact_email=f"setup.{path.replace('_', '.')}@{domain}",
            lines=[
                {"service": "meetings", "quantity": 100},
                {"service": "calling", "quantity": 50},
            ],
            account_rep_email=f"rep@cisco-{run_id}.test",
        )
        base.update(kw)
        row, _ = await accept_order(
            client, db, policy, partner, OrderCreate.model_validate(base), task_queue=task_queue
        )
        h = client.get_workflow_handle_for(SubscriptionOrder.run, row.workflow_id)
        handles[path] = h
        show(path, row.workflow_id)
        return h

    async def status(h: WorkflowHandle) -> OrderStatus:
        return await h.query(SubscriptionOrder.status)

    async def until(h: WorkflowHandle, ok: Callable[[OrderStatus], bool], what: str):
        for _ in range(4000):
            st = await status(h)
            if ok(st):
                return st
            await sleep(day / 4)
        raise TimeoutError(f"{h.id}: {what} not reached")

    async def emailed(h: WorkflowHandle) -> OrderStatus:
        return await until(
            h,
            lambda s: (
                s.state == "awaiting_setup"
                and any(n.kind == "order_provisioning" for n in s.notices)
            ),
            "the provisioning email (SO-1)",
        )

    # a trial to convert, started first: it needs a moment to become active
    trial = await start_trial(
        client,
        db,
        settings,
        TrialRequest(
            partner_org_id=partner,
            started_by=f"sales@{domain}",
            customer=NewCustomer(
                company_name=f"Initech {run_id}",
                admin_email=f"admin@initech-{run_id}.test",
                vertical="it",
                country="US",
            ),
            services=["meetings", "calling"],
            license_count=25,
            days=30,
            setup="now",
            site_url=f"initech-{run_id}.webex.com",
            timezone="UTC",
        ),
        task_queue=task_queue,
    )
    show("trial", trial.id)

    # closed unprovisioned (PX-5): nobody sets it up; its clock runs while the others go on
    closed = await accept(
        "closed", offer="A-FLEX", lines=[{"service": "messaging", "quantity": 20}]
    )
    st = await emailed(closed)
    echo(
        f"  closed:         email sent; closes {st.close_at:%Y-%m-%d %H:%M:%S} UTC"
        " unless provisioned"
    )

    # cancelled before its email
    cancelled = await accept(
        "cancelled", offer="A-SPK", requested_start_date=today + timedelta(days=3)
    )
    r = await cancelled.execute_update(SubscriptionOrder.cancel, {"reason": "customer withdrew"})
    echo(f"  cancelled:      {r.state} while scheduled (update cancel)")

    # provisioned: the wizard, step by step, then one commit
    h = await accept("provisioned")
    await emailed(h)
    await h.execute_update(SubscriptionOrder.begin_setup, {})
    answers = new_customer_answers(partner, run_id, "globex")
    steps: list[tuple[str, dict[str, Any]]] = [
        ("who", {"who": "me"}),
        ("purpose", {"who": "me", "purpose": "customer"}),
        ("partner-org", {"who": "me", "purpose": "customer"}),
        ("customer-org", answers),
        ("services", answers),
        ("review", answers),
    ]
    for step, a in steps:
        res = await h.execute_update(SubscriptionOrder.check_setup, {"step": step, "answers": a})
        found = ""
        if res.step and res.step.partner_org and step == "partner-org":
            found = f": {len(res.step.partner_org.candidates)} partner org(s) from the domain"
        echo(f"  provisioned:    step {step} checked, nothing saved (SO-3){found}")
    r = await h.execute_update(SubscriptionOrder.commit_setup, answers)
    echo(f"  provisioned:    {r.state}: {r.message} (update commit_setup)")

    # contact change, resend, then the new contact sets up, calling later, then resumes
    c = await accept("contact_resend")
    await emailed(c)
    new_contact = f"it.lead@{domain}"
    await c.execute_update(SubscriptionOrder.change_contact, {"email": new_contact})
    echo(f"  contact_resend: contact changed to {new_contact}: the email goes to them")
    await c.execute_update(SubscriptionOrder.resend, {})
    echo("  contact_resend: email sent again (update resend; PX-5's clock does not restart)")
    await c.execute_update(SubscriptionOrder.begin_setup, {})
    later = new_customer_answers(partner, run_id, "umbrella", calling={"setup": "later"})
    r = await c.execute_update(SubscriptionOrder.commit_setup, later)
    st = await status(c)
    echo(f"  contact_resend: {r.state}; set up later: {', '.join(st.deferred_services)} (SO-13)")
    r = await c.execute_update(
        SubscriptionOrder.setup_services,
        {"services": {"calling": {"location_name": "Munich", "country": "DE"}}},
    )
    echo(f"  contact_resend: calling resumed: {r.state} (update setup_services, SO-9)")

    # trial conversion
    for _ in range(4000):
        tst = await trial.query(TrialLifecycle.status)
        if tst.state == "active":
            break
        await sleep(day / 4)
    else:
        raise TimeoutError(f"{trial.id} never active")
    t = await accept(
        "trial",
        provisioning_contact_email=f"admin@initech-{run_id}.test",
        trial_id=tst.trial_id,
        lines=[{"service": "meetings", "quantity": 25}, {"service": "calling", "quantity": 25}],
    )
    await emailed(t)
    await t.execute_update(SubscriptionOrder.begin_setup, {})
    seen = await t.execute_update(
        SubscriptionOrder.check_setup,
        {"step": "customer-org", "answers": {"who": "me", "purpose": "my_company"}},
    )
    assert seen.step is not None and seen.step.customer_org is not None
    proposed = seen.step.customer_org.proposed
    assert proposed is not None
    echo(f"  trial:          the contact's org is proposed: {proposed.name} (SO-5 exact match)")
    r = await t.execute_update(
        SubscriptionOrder.commit_setup,
        {
            "who": "me",
            "purpose": "my_company",
            "customer_org": {"action": "confirm", "org_id": proposed.org_id},
            "services": {
                "meetings": {"sites": [{"name": f"initech-paid-{run_id}", "timezone": "UTC"}]},
                "calling": {"location_name": "Austin HQ", "country": "US"},
            },
            "provision_and_start_billing": True,
        },
    )
    echo(f"  trial:          {r.state}; trial {tst.trial_id} converted (TR-V1)")

    st = await until(closed, lambda s: s.rep_alerted_at is not None, "the rep alert (SO-2)")
    echo(f"  closed:         account rep alerted {st.rep_alerted_at:%Y-%m-%d %H:%M:%S} UTC (SO-2)")
    finals: dict[str, OrderStatus] = {}
    for path, handle in handles.items():
        await until(handle, ended, "the end")  # order time passes (PX-5 closes one)
        finals[path] = await handle.result()
    echo("Every path walked:")
    for path, fin in finals.items():
        kinds = sorted({n.kind for n in fin.notices})
        echo(f"  {path:<15} {fin.state:<12} {PATHS[path]}")
        echo(f"  {'':<15} emails: {', '.join(kinds) or 'none'}")
    echo("`lifecycles order list` lists them; `lifecycles notices list` shows the emails.")
    return finals


async def live(day_seconds: float) -> None:
    """The demo against the configured Temporal and database (`lifecycles dev`)."""
    from scripts.cli.common import database_url
    from workers.client import connect
    from workers.settings import get_settings

    settings = get_settings().model_copy(update={"day_seconds": day_seconds})
    db = Database(database_url(settings), pool_size=2)
    try:
        client = await connect(settings)
        await run_demo(client, db, settings, task_queue=settings.task_queue, sleep=asyncio.sleep)
    finally:
        await db.dispose()


def skip(env_sleep: Callable[[timedelta], Awaitable[Any]]) -> Sleep:
    """A ``sleep`` for the time-skipping server (tests)."""

    async def s(seconds: float) -> None:
        await env_sleep(timedelta(seconds=seconds))

    return s
