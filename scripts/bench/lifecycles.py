"""What a bench runs of each lifecycle: its real path, and how its twin is sent the same
messages. Each real run returns the handles of the workflows it measures."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from scripts.bench.measure import Phase, Run


class Lifecycle:
    """One lifecycle's bench: ``setup`` once, ``real(i)`` per run, ``check`` the outcome."""

    name = ""
    title = ""
    calendar_days = 0.0  # the days a run waits for its deadlines: its latency's floor

    def __init__(self, client: Any, db: Any, settings: Any, task_queue: str) -> None:
        self.client, self.db, self.settings, self.task_queue = client, db, settings, task_queue
        self.run_id = f"b{uuid.uuid4().hex[:8]}"
        # Messages the real run sent its workflow, by seconds after its start (the twin is
        # sent the same, as late).
        self.pokes: list[tuple[float, str, str]] = []

    async def setup(self) -> None: ...

    async def real(self, i: int) -> Run:
        raise NotImplementedError

    async def check(self, ph: Phase) -> list[str]:
        return []

    def day(self, days: float) -> float:
        return days * self.settings.day_seconds


async def seed_partner(db: Any, run: str) -> str:
    from models.common.orgs import create_partner

    async with db.session() as s:
        return await create_partner(
            s,
            f"Bench Partner {run}",
            1,
            [
                (f"sales@{run}.test", "sales"),
                (f"salesfull@{run}.test", "sales_full"),
                (f"full@{run}.test", "full"),
                (f"ro@{run}.test", "read_only"),
            ],
        )


def trial_request(partner: str, run: str, i: int, *, company: str, number: str) -> Any:
    """A new customer's trial of messaging and calling with one number, set up now: the
    trial the bench walks and scripts/scale_trials starts by the thousand."""
    from models.trials.contract import NewCustomer, TrialRequest

    return TrialRequest(
        partner_org_id=partner,
        started_by=f"sales@{run}.test",
        customer=NewCustomer(
            company_name=company,
            admin_email=f"admin{i}@c{i}.{run}.test",
            vertical="retail",
            country="US",
            numbers=[number],
        ),
        services=["messaging", "calling"],
        license_count=25,
        days=30,
        setup="now",
    )


class Trials(Lifecycle):
    """A new customer's trial of messaging and calling with one number, set up now, walked
    to its end: welcome, T-7, T, grace, TR-E3, free org, numbers released."""

    name = "trials"
    title = "TrialLifecycle (new customer, full path)"
    calendar_days = 30 + 30 + 15  # T, grace, number retention

    async def setup(self) -> None:
        self.partner = await seed_partner(self.db, self.run_id)

    def request(self, i: int) -> Any:
        r = self.run_id
        number = f"+1555{abs(hash(r)) % 1000:03d}{i:04d}"
        return trial_request(self.partner, r, i, company=f"BenchCo {i}", number=number)

    async def real(self, i: int) -> Run:
        from workers.starter import start_trial

        h = await start_trial(
            self.client, self.db, self.settings, self.request(i), task_queue=self.task_queue
        )
        return [h], await h.result()

    async def check(self, ph: Phase) -> list[str]:
        from sqlalchemy import text

        states = Counter(r.state for r in ph.results)
        released = sum(r.numbers_released_at is not None for r in ph.results)
        ids = [hs[0].id.removeprefix("trial-") for hs in ph.handles]
        async with self.db.session() as s:
            rows = (
                await s.exec(
                    text(
                        "SELECT trial_id, kind, recipient, count(*), count(sent_at) FROM notice"
                        " WHERE trial_id = ANY(:ids) GROUP BY trial_id, kind, recipient"
                    ),
                    params={"ids": ids},
                )
            ).all()
        per_trial: dict[str, Counter[str]] = {t: Counter() for t in ids}
        twice = unsent = 0
        for trial_id, kind, _r, n, sent in rows:
            per_trial[trial_id][kind] += n
            twice += n - 1
            unsent += n - sent
        shapes = {tuple(sorted(c.items())) for c in per_trial.values()}
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(next(iter(per_trial.values())).items()))
        ok = len(shapes) == 1 and not twice and not unsent
        return [
            "ended: "
            + ", ".join(f"{s} {n}" for s, n in states.items())
            + f"; numbers released {released}/{ph.n}",
            f"notices per trial: {kinds}; "
            + (
                "each exactly once, all sent"
                if ok
                else f"NOT once ({twice} twice, {unsent} unsent)"
            ),
        ]


class Devices(Lifecycle):
    """A device trial (DeviceTrial, TR-D2, DV-1) of a trial opened in the store: two phones
    shipped at once, then the expiry, the 7-day and 1-day return reminders, and both phones
    returned before the due date."""

    name = "devices"
    title = "DeviceTrial (ship, expiry, 2 reminders, return)"
    calendar_days = 30 + 14 - 1 + 0.5  # returned half a day after the last reminder

    async def setup(self) -> None:
        self.partner = await seed_partner(self.db, self.run_id)

    async def real(self, i: int) -> Run:
        from models.devices.contract import (
            DeviceTrialInput,
            ReturnRequest,
            ShipmentRequest,
            device_workflow_id,
        )
        from models.trials.contract import NewCustomer, TrialRequest
        from models.trials.store import open_trial, start_checks
        from workflows.devices.workflow import DeviceTrial

        r = self.run_id
        tid = f"{r}d{i}"
        req = TrialRequest(
            partner_org_id=self.partner,
            started_by=f"sales@{r}.test",
            customer=NewCustomer(
                company_name=f"DevCo {i}",
                admin_email=f"admin{i}@d{i}.{r}.test",
                vertical="retail",
                country="US",
            ),
            services=["messaging", "devices"],
            license_count=5,
            days=30,
            setup="now",
        )
        inp = await start_checks(self.db, req, tid, self.settings.trial_policy())
        await open_trial(self.db, inp, f"trial-{tid}")
        h = await self.client.start_workflow(
            DeviceTrial.run,
            DeviceTrialInput(
                trial_id=tid,
                partner_org_id=inp.partner_org_id,
                customer_org_id=inp.customer_org_id,
                trial_days=30,
                policy=self.settings.device_policy(),
            ),
            id=device_workflow_id(tid),
            task_queue=self.task_queue,
        )
        t0 = time.perf_counter()
        serials = [f"{tid}-1", f"{tid}-2"]
        ship = ShipmentRequest(  # shipped now: the update itself may land a moment later
            device_type="phone",
            model="Cisco 9861",
            quantity=2,
            serials=serials,
            country="US",
            ship_date=datetime.now(UTC),
        )
        pokes = [(0.0, "update", "record_shipment")]
        await h.execute_update(DeviceTrial.record_shipment, ship)
        # Expiry after 30 days, returns due 14 days later: back half a day after the last
        # reminder.
        back = self.day(30 + 14 - 1 + 0.5)
        await asyncio.sleep(max(0.0, back - (time.perf_counter() - t0)))
        pokes.append((back, "update", "record_return"))
        await h.execute_update(
            DeviceTrial.record_return,
            ReturnRequest(serials=serials, carrier="UPS", tracking=f"1Z{tid}"),
        )
        if not self.pokes:
            self.pokes = pokes
        return [h], await h.result()

    async def check(self, ph: Phase) -> list[str]:
        states = Counter(r.state for r in ph.results)
        sent = Counter(n.kind for r in ph.results for n in r.notices)
        return [
            "ended: " + ", ".join(f"{s} {n}" for s, n in states.items()),
            "notices: " + ", ".join(f"{k} {v / ph.n:.1f}" for k, v in sorted(sent.items())),
        ]


class Wholesale(Lifecycle):
    """A wholesale customer through the HTTP API (in process): POST, provisioned, DELETE,
    deleted (the workflow ends)."""

    name = "wholesale"
    title = "WholesaleCustomerProvisioning (POST, provisioned, DELETE)"

    async def setup(self) -> None:
        import httpx

        from api.app import create_app
        from models.common.mail import Mailer
        from scripts.loadgen import setup_world

        self.template, token = await setup_world(self.db.url, self.run_id)
        app = create_app(
            self.settings,
            self.db.url,
            client=self.client,
            db=self.db,
            mailer=Mailer(smtp_url=None, mail_from="bench@localhost"),
            task_queue=self.task_queue,
        )
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://bench",
            headers={"Authorization": f"Bearer {token}"},
        )

    delete_retries = 0

    async def _status(self, url: str, want: set[str]) -> str:
        while True:
            r = await self.http.get(url)
            status = r.json().get("status") if r.status_code == 200 else f"HTTP {r.status_code}"
            if status in want or status in ("error", "provisioned_with_errors"):
                return str(status)
            await asyncio.sleep(0.05)

    async def real(self, i: int) -> Run:
        from models.wholesale.contract import customer_workflow_id

        r = self.run_id
        body = {
            "provisioningId": self.template,
            "packages": ["webex_calling", "webex_meetings"],
            "externalId": f"{r}-{i}",
            "address": {"addressLine1": f"{i} Main St", "city": "Springfield", "country": "US"},
            "customerInfo": {"name": f"Bench Co {r} {i}", "primaryEmail": f"c{i}@{r}.test"},
        }
        t0 = time.perf_counter()
        resp = await self.http.post("/v1/wholesale/customers", json=body)
        if resp.status_code != 202:
            raise RuntimeError(f"POST customer: {resp.status_code} {resp.text[:200]}")
        url = resp.headers["Location"].removeprefix("http://bench")
        status = await self._status(url, {"provisioned"})
        pokes = [(time.perf_counter() - t0, "update", "delete_customer")]
        for _ in range(600):  # the read model can say provisioned before the workflow does
            resp = await self.http.delete(url)
            if resp.status_code != 409:
                break
            self.delete_retries += 1
            await asyncio.sleep(0.05)
        if resp.status_code not in (200, 202, 204):
            raise RuntimeError(f"DELETE customer ({status}): {resp.status_code} {resp.text[:200]}")
        h = self.client.get_workflow_handle(customer_workflow_id(url.rsplit("/", 1)[-1]))
        if not self.pokes:
            self.pokes = pokes
        return [h], await h.result()

    async def check(self, ph: Phase) -> list[str]:
        states = Counter(r.get("state", "?") if isinstance(r, dict) else r for r in ph.results)
        return [
            "ended: " + ", ".join(f"{s} {n}" for s, n in states.items()),
            f"DELETE answered 409 (still provisioning) {self.delete_retries} times after the"
            " read model said provisioned; sent again",
        ]


LIFECYCLES: dict[str, type[Lifecycle]] = {c.name: c for c in (Trials, Devices, Wholesale)}


async def twin(
    client: Any, steps: list[Any], pokes: list[tuple[float, str, str]], wid: str, task_queue: str
) -> Run:
    """One run of the no-op twin: its script, and the real run's messages, as late."""
    from scripts.bench.shape import BenchShape, start_options

    h = await client.start_workflow(
        BenchShape.run, steps, id=wid, task_queue=task_queue, **start_options(steps)
    )
    t0 = time.perf_counter()
    for at, kind, name in pokes:
        await asyncio.sleep(max(0.0, at - (time.perf_counter() - t0)))
        if kind == "update":
            await h.execute_update(name, "x", result_type=str)
        else:
            await h.signal(name, "x")
    return [h], await h.result()
