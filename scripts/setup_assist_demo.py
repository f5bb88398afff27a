"""`lifecycles demo setup-assist`: an Express and a Standard Setup Assist project, on a
compressed calendar (``--day-seconds``, default 2: a business week lasts 14 seconds).

Run it beside `lifecycles dev`. It seeds a partner onboarded to wholesale with A-Wholesale,
a US customer of 3 users (Express) and a German one of 8 (Standard), submits both six
business days ahead, and plays Cisco's Setup Assist team and the partner: the Express call
(45 minutes) and every task; for Standard an information request left to be reminded and
escalated, then answered, phases 1-6, the five business days of support ending on their
own with the end-of-migration notice, and the hand-off. It prints each step and writes
both timelines as PNG.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client

from api.setup_assist.service import submit_project, update_project
from models.common.db import Database
from models.common.orgs import create_partner
from models.setup_assist import rules
from models.setup_assist.contract import (
    AnswerInformation,
    CompleteTask,
    ProjectStatus,
    RequestInformation,
    SubmitRequest,
    setup_assist_workflow_id,
)
from models.setup_assist.phases import PhaseDef, phases_of
from models.setup_assist.store import Scope, order_setup_assist
from models.setup_assist.timeline import render_png
from models.wholesale.store import TemplateSpec, create_template
from models.wholesale.tables import WholesaleCustomer, WholesaleSubscriber
from workers.settings import Settings
from workflows.setup_assist.workflow import SetupAssistProject

Sleep = Callable[[float], Awaitable[Any]]


async def seed(db: Database, run_id: str) -> tuple[str, list[tuple[str, str]]]:
    """A partner with A-Wholesale on Sub-<run>, and two provisioned customers with users at
    their location: [(customer org id, location id)] for US/3 users and DE/8 users."""
    now = datetime.now(UTC)
    out = []
    async with db.session() as s:
        partner = await create_partner(
            s, f"Demo Telco {run_id}", 1, [(f"admin.{run_id}@telco.example", "full")]
        )
        sub = f"Sub-{run_id}"
        template = await create_template(
            s,
            partner,
            TemplateSpec(
                name="Demo",
                country="US",
                sp_admin_email=f"admin.{run_id}@telco.example",
                subscription_id=sub,
                brand_name="Demo Telco",
                pstn_provider="CCP Voice",
            ),
        )
        await order_setup_assist(s, partner, sub)
        for country, users in (("US", 3), ("DE", 8)):
            cid = uuid.uuid4().hex
            org, loc = f"org-{cid[:12]}", f"loc-{cid[:24]}"
            s.add(
                WholesaleCustomer(
                    id=cid,
                    partner_org_id=partner,
                    external_id=f"demo-{cid[:8]}",
                    org_id=org,
                    provisioning_id=template,
                    status="provisioned",
                    packages=[{"name": "webex_calling", "status": "provisioned"}],
                    address={"country": country, "city": "Demo"},
                    customer_info={"name": f"Demo {country}"},
                    request_hash="demo",
                    location_id=loc,
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
                        partner_org_id=partner,
                        email=f"user{i}.{cid[:8]}@customer.example",
                        first_name="Demo",
                        last_name=str(i),
                        package="webex_calling",
                        extension=f"{2000 + i}",
                        location_id=loc,
                        status="provisioned",
                        created_at=now,
                        last_status_change=now,
                    )
                )
            out.append((org, loc))
    return partner, out


async def run_demo(
    client: Client,
    db: Database,
    settings: Settings,
    *,
    task_queue: str,
    sleep: Sleep,
    echo: Callable[[str], None] = print,
    out: Path | None = None,
) -> list[ProjectStatus]:
    """Both projects, start to close; their final statuses. ``sleep`` waits project time
    (``asyncio.sleep`` live; the time-skipping server's ``env.sleep`` in tests)."""
    run_id = uuid.uuid4().hex[:6]
    partner, customers = await seed(db, run_id)
    policy = settings.setup_assist_policy()
    day = policy.day_seconds
    today = datetime.now(UTC).date()
    finals = []
    for (org, loc), country in zip(customers, ("US", "DE"), strict=True):
        cal = rules.calendar_for(country, [today.year, today.year + 1])
        req = SubmitRequest(
            partner_org_id=partner,
            customer_org_id=org,
            subscription_id=f"Sub-{run_id}",
            number_of_locations=1,
            location_id=loc,
            completion_date=rules.earliest_completion(cal, today, policy.min_notice_business_days),
        )
        inp = await submit_project(client, db, policy, req, Scope(partner), task_queue=task_queue)
        echo(f"submitted {inp.flow} project {loc} ({inp.seats} seats, {country})")
    handles = {
        loc: client.get_workflow_handle_for(SetupAssistProject.run, setup_assist_workflow_id(loc))
        for _, loc in customers
    }

    async def status(loc: str) -> ProjectStatus:
        return await handles[loc].query(SetupAssistProject.status)

    async def until(loc: str, ok: Callable[[ProjectStatus], bool], what: str) -> ProjectStatus:
        for _ in range(2000):
            st = await status(loc)
            if ok(st):
                return st
            await sleep(day / 4)
        raise TimeoutError(f"{loc}: {what} not reached")

    async def complete(loc: str, phases: tuple[PhaseDef, ...]) -> None:
        for ph in phases:
            for t in ph.tasks:
                if t.kind == "end_of_migration_notice":
                    continue
                minutes = 45 if t.kind == "customer_call" else None
                await update_project(
                    client,
                    loc,
                    "complete_task",
                    CompleteTask(task_id=t.id, who=t.owner, note="demo", call_minutes=minutes),
                )
            st = await status(loc)
            echo(f"  {loc}: phase {ph.number} {ph.name} done → {st.state}")

    (_, express), (_, standard) = customers
    await complete(express, phases_of("express"))
    finals.append(await handles[express].result())
    echo(f"express {express}: {finals[-1].state}")

    r = await update_project(
        client, standard, "request_information", RequestInformation(topic="numbers to port")
    )
    echo(f"standard {standard}: information #{r.number} due {r.due_on} (WH-A4)")
    await until(
        standard, lambda s: s.info_requests[0].escalated_at is not None, "escalation (WH-A4)"
    )
    echo("  reminded on the due day, escalated the day after (WH-A4)")
    await update_project(
        client, standard, "answer_information", AnswerInformation(number=1, note="list sent")
    )
    await complete(standard, phases_of("standard")[:6])
    st = await status(standard)
    echo(f"  migrated {st.migration_date}; support until {st.support_ends_on} (WH-A6)")
    await until(standard, lambda s: s.state == "hand_off", "end of support")
    echo("  support ended: end-of-migration notice sent")
    await complete(standard, phases_of("standard")[7:])
    finals.append(await handles[standard].result())
    echo(f"standard {standard}: {finals[-1].state}")
    if out is not None:
        for path in await asyncio.to_thread(write_timelines, finals, out):
            echo(f"timeline: {path}")
    return finals


def write_timelines(finals: list[ProjectStatus], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for st in finals:
        path = out / f"setup-assist-{st.flow}-{st.location_id}.png"
        path.write_bytes(render_png(st))
        paths.append(path)
    return paths


async def live(day_seconds: float, out: Path) -> None:
    """The demo against the configured Temporal and database (`lifecycles dev`)."""
    from scripts.cli.common import database_url
    from workers.client import connect
    from workers.settings import get_settings

    settings = get_settings().model_copy(update={"day_seconds": day_seconds})
    db = Database(database_url(settings), pool_size=2)
    try:
        client = await connect(settings)
        await run_demo(
            client, db, settings, task_queue=settings.task_queue, sleep=asyncio.sleep, out=out
        )
    finally:
        await db.dispose()


def skip(env_sleep: Callable[[timedelta], Awaitable[Any]]) -> Sleep:
    """A ``sleep`` for the time-skipping server (tests)."""

    async def s(seconds: float) -> None:
        await env_sleep(timedelta(seconds=seconds))

    return s
