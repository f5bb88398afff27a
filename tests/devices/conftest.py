"""Device-trial helpers: a trial with devices started through ``TrialLifecycle`` (so the
``DeviceTrial`` child is started the real way), shipments, and read-model look-ups.

A known bug of the Java time-skipping test server (temporalio/sdk-java#2392): once an
ABANDONed child *completes* after its parent has closed, that server's clock stops. Tests on
it therefore let a device lifecycle complete only while its trial is still open; the full
"converted, then returned" path runs on the dev server (``test_devserver.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from models.common.tables import Notice
from models.devices.contract import DeviceStatus, ShipmentRequest, device_workflow_id
from models.devices.tables import Device, DeviceTrialRow
from models.trials.contract import NewCustomer
from tests.polling import eventually
from tests.trials import helpers
from workflows.devices.workflow import DeviceTrial

DAY = timedelta(days=1)


class DeviceWorld:
    def __init__(self, world) -> None:
        self.world = world
        self.env = world.env
        self.db = world.db
        self.started: list[WorkflowHandle] = []

    async def start(self, *, days: int = 30, **overrides):
        """A provisioned trial with devices: (trial handle, device handle, trial id)."""
        services = overrides.pop("services", ["messaging", "devices"])
        if self.started and "customer" not in overrides and "org_id" not in overrides:
            n = len(self.started) + 1  # each further trial: its own new customer (SO-6)
            overrides["customer"] = NewCustomer(
                company_name=f"NewCo {n}",
                admin_email=f"admin{n}@newco.test",
                vertical="retail",
                country="US",
            )
        h = await self.world.start(services=services, days=days, setup="now", **overrides)
        self.started.append(h)
        trial_id = h.id.removeprefix("trial-")
        dh = await self.child(trial_id)
        return h, dh, trial_id

    async def child(self, trial_id: str) -> WorkflowHandle:
        """The ``devices-<trial_id>`` child, once the parent has started it."""
        dh = self.env.client.get_workflow_handle_for(DeviceTrial.run, device_workflow_id(trial_id))
        for _ in range(200):
            try:
                await dh.query(DeviceTrial.status)
                self.started.append(dh)
                return dh
            except RPCError:
                await asyncio.sleep(0.05)
        raise AssertionError(f"no device lifecycle for trial {trial_id}")

    async def until(self, dh: WorkflowHandle, check, what: str) -> DeviceStatus:
        """Query until ``check(status)`` holds (signals cross workflows asynchronously)."""

        async def probe() -> DeviceStatus | None:
            st = await dh.query(DeviceTrial.status)
            return st if check(st) else None

        return await eventually(probe, f"device lifecycle: {what}")

    async def close(self) -> None:
        """Terminate what is still running, children first. On the time-skipping server a
        workflow left without a worker holds the shared clock once its next timer fires."""
        for h in sorted(self.started, key=lambda h: not h.id.startswith("devices-")):
            with contextlib.suppress(RPCError):
                await h.terminate("test over")

    @staticmethod
    async def ship(
        dh: WorkflowHandle,
        device_type: str = "phone",
        n: int = 2,
        *,
        country: str = "US",
        prefix: str | None = None,
        model: str = "Cisco Desk Phone 9861",
        **kw,
    ):
        prefix = prefix or device_type[:2].upper()
        req = ShipmentRequest(
            device_type=device_type,
            model=model,
            quantity=kw.pop("quantity", n),
            serials=kw.pop("serials", [f"{prefix}{i:04d}" for i in range(1, n + 1)]),
            country=country,
            **kw,
        )
        return await dh.execute_update(DeviceTrial.record_shipment, req)

    async def notices(self, trial_id: str, kind: str) -> list[Notice]:
        return await helpers.notices(self.db, trial_id, kind)

    async def devices(self, trial_id: str) -> dict[str, str]:
        rows = await helpers.rows(self.db, Device, Device.trial_id == trial_id)
        return {r.serial: r.state for r in rows}

    async def row(self, trial_id: str) -> DeviceTrialRow | None:
        async with self.db.session() as s:
            return await s.get(DeviceTrialRow, trial_id)


def refusal(err: pytest.ExceptionInfo[WorkflowUpdateFailedError]) -> tuple[str, str]:
    """(rule, message) of a refused update."""
    cause = err.value.cause
    assert isinstance(cause, ApplicationError), cause
    assert cause.type == "RuleViolation"
    return cause.details[0]["rule"], cause.message


@pytest.fixture
async def devices(world) -> AsyncIterator[DeviceWorld]:
    dw = DeviceWorld(world)
    try:
        yield dw
    finally:
        await dw.close()
