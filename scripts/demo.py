"""`lifecycles demo trials`: trials that together walk every path, on a compressed calendar.

Run it beside `lifecycles dev` and watch the trials in the Temporal UI: every trial's policy
is snapshotted with ``--day-seconds`` (default 2: a 30-day grace lasts a minute), so the
whole set finishes in about four minutes. The demo plays the other systems: it accepts a
consent, extends a trial, converts one in grace, and prints every state change it sees.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import typer

demo_app = typer.Typer(no_args_is_help=True, help="Demos against `lifecycles dev`.")


@demo_app.command("trials")
def trials(
    day_seconds: float = typer.Option(2.0, "--day-seconds", help="Real seconds per day."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Drive and follow to the end."),
) -> None:
    """Start trials that together walk every path of the trial lifecycle."""
    from scripts.cli.common import run

    run(_trials(day_seconds, wait))


async def _trials(day_seconds: float, wait: bool) -> None:
    from models.common.db import Database
    from models.common.orgs import create_customer_org, create_partner
    from models.trials.contract import NewCustomer, TrialRequest
    from scripts.cli.common import database_url
    from workers.client import connect
    from workers.settings import get_settings
    from workers.starter import start_trial
    from workflows.trials.workflow import TrialLifecycle

    settings = get_settings().model_copy(update={"day_seconds": day_seconds})
    run_id = uuid.uuid4().hex[:6]
    db = Database(database_url(settings), pool_size=2)
    client = await connect(settings)
    sales = f"sales.{run_id}@acme.example"
    async with db.session() as s:
        partner = await create_partner(
            s,
            f"Acme Partner {run_id}",
            1,
            [(sales, "sales"), (f"full.{run_id}@acme.example", "full")],
        )
        globex = await create_customer_org(
            s,
            f"Globex {run_id}",
            [(f"boss.{run_id}@globex.example", "full")],
            [f"user.{run_id}@globex.example"],
            country="DE",
        )
        initech = await create_customer_org(
            s,
            f"Initech {run_id}",
            [(f"boss.{run_id}@initech.example", "full")],
            [],
        )

    def new(name: str, **kw: object) -> TrialRequest:
        base: dict = dict(
            partner_org_id=partner,
            started_by=sales,
            services=["messaging", "calling"],
            license_count=25,
            days=10,
            setup="now",
            customer=NewCustomer(
                company_name=f"{name} {run_id}",
                admin_email=f"admin.{run_id}@{name.lower()}.example",
                vertical="retail",
                country="US",
                numbers=kw.pop("numbers", []),
            ),
        )
        base.update(kw)
        return TrialRequest(**base)

    plans: list[tuple[str, TrialRequest, Callable | None]] = [
        (
            "consent accepted, then active",
            TrialRequest(
                partner_org_id=partner,
                started_by=sales,
                org_id=globex,
                admin_email=f"boss.{run_id}@globex.example",
                services=["calling"],
                license_count=10,
                days=10,
                setup="now",
            ),
            _accept(f"boss.{run_id}@globex.example"),
        ),
        (
            "consent expires after 30 days",
            TrialRequest(
                partner_org_id=partner,
                started_by=sales,
                org_id=initech,
                services=["messaging"],
                license_count=5,
                days=10,
            ),
            None,
        ),
        ("extended on day 3 by 20 days", new("Hooli"), _extend(3, 20)),
        ("converted during grace", new("Umbrella"), _convert_in_grace()),
        (
            "migrated to a free org, numbers released 15 days later",
            new("Wonka", numbers=[f"+1555{int(run_id, 16) % 10_000_000:07d}"]),
            None,
        ),
        (
            "devices: 2 phones shipped, 1 returned, the other overdue",
            new("Initrode", services=["messaging", "devices"]),
            _devices(run_id, client),
        ),
    ]
    print(
        f"Demo {run_id}: {day_seconds:g} s per day. Partner {partner}. Open the Temporal UI "
        f'and search: PartnerOrgId = "{partner}"'
    )
    handles = []
    for label, req, _ in plans:
        h = await start_trial(client, db, settings, req)
        handles.append(h)
        print(f"  {h.id:<30} {label}")
        print(f"  {'':<30} {settings.ui_url(h.id)}")
    await db.dispose()
    if not wait:
        return

    async def follow(label: str, h, driver) -> None:
        seen = ""
        t0 = time.monotonic()
        driven = False
        while True:
            st = await h.query(TrialLifecycle.status)
            if st.state != seen:
                day = (time.monotonic() - t0) / day_seconds
                print(f"  day {day:5.1f}  {h.id:<30} {seen or '-'} -> {st.state}")
                seen = st.state
            if driver and not driven:
                driven = await driver(h, st, (time.monotonic() - t0) / day_seconds)
            desc = await h.describe()
            if desc.status and desc.status.name != "RUNNING":
                print(f"  done     {h.id:<30} {st.state} ({label})")
                return
            await asyncio.sleep(min(1.0, day_seconds / 2))

    await asyncio.gather(
        *(follow(label, h, d) for (label, _, d), h in zip(plans, handles, strict=True))
    )
    await asyncio.gather(*_watchers)  # the device lifecycle outlives its trial (TR-V4)
    print(
        "Every path walked. `lifecycles notices list` shows the emails; "
        "`lifecycles devices overdue` lists the overdue device trial."
    )


def _accept(by: str) -> Callable[..., Awaitable[bool]]:
    async def drive(h, st, day: float) -> bool:
        from models.trials.contract import AcceptConsent
        from workflows.trials.workflow import TrialLifecycle

        if day >= 2 and st.state == "pending_consent":
            await h.signal(
                TrialLifecycle.accept_consent, AcceptConsent(accepted_by=by, grant_full_admin=True)
            )
            print(f"           {h.id:<30} customer accepted the trial (signal accept_consent)")
            return True
        return False

    return drive


def _extend(on_day: float, days: int) -> Callable[..., Awaitable[bool]]:
    async def drive(h, st, day: float) -> bool:
        from models.trials.contract import ExtendRequest
        from workflows.trials.workflow import TrialLifecycle

        if day >= on_day and st.state == "active":
            r = await h.execute_update(TrialLifecycle.extend, ExtendRequest(days=days))
            print(f"           {h.id:<30} extended (update extend): {r.message}")
            return True
        return False

    return drive


def _convert_in_grace() -> Callable[..., Awaitable[bool]]:
    async def drive(h, st, day: float) -> bool:
        from models.trials.contract import ConvertRequest
        from workflows.trials.workflow import TrialLifecycle

        if st.state == "grace":
            inp_email = next((n.recipient for n in st.notices if n.kind == "welcome"), None)
            r = await h.execute_update(
                TrialLifecycle.convert,
                ConvertRequest(order_id="DEMO-ORDER-1", provisioning_contact_email=inp_email or ""),
            )
            print(f"           {h.id:<30} converted in grace (update convert): {r.message}")
            return True
        return False

    return drive


def _devices(run_id: str, client) -> Callable[..., Awaitable[bool]]:
    """Plays the warehouse: ships two phones, then records one coming back. The other stays
    out: at expiry + 14 days the device lifecycle turns `overdue` and escalates once."""
    serials = [f"FCH{run_id.upper()}1", f"FCH{run_id.upper()}2"]

    async def drive(h, st, day: float) -> bool:
        from models.devices.contract import (
            DeviceStatus,
            ReturnRequest,
            ShipmentRequest,
            device_workflow_id,
        )
        from workflows.devices.workflow import DeviceTrial

        if st.state != "active" or day < 1:
            return False
        dh = client.get_workflow_handle(device_workflow_id(st.trial_id))
        await dh.execute_update(
            DeviceTrial.record_shipment,
            ShipmentRequest(
                device_type="phone", model="Cisco 9861", quantity=2, serials=serials, country="US"
            ),
        )
        print(f"           {dh.id:<30} warehouse shipped 2 phones (update record_shipment)")
        await dh.execute_update(
            DeviceTrial.record_return,
            ReturnRequest(serials=serials[:1], carrier="UPS", tracking="1Z-DEMO"),
        )
        print(f"           {dh.id:<30} 1 phone back (update record_return); 1 still out")

        async def watch() -> None:
            seen = ""
            while seen != "overdue":
                dst = await dh.query(DeviceTrial.status, result_type=DeviceStatus)
                if dst.state != seen:
                    print(f"           {dh.id:<30} devices: {seen or '-'} -> {dst.state}")
                    seen = dst.state
                await asyncio.sleep(1.0)

        _watchers.append(asyncio.create_task(watch()))
        return True

    return drive


_watchers: list[asyncio.Task] = []
