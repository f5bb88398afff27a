"""Determinism guard: recorded histories of real runs replay against the current code.

A change to a workflow that would break lifecycles already running (different commands for
the same history) fails here; such a change must go through ``workflow.patched``. Record new
histories with ``RECORD_HISTORIES=1 pytest tests/test_replay.py`` after adding a path.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from models.trials.contract import (
    AcceptConsent,
    CancelRequest,
    ConvertRequest,
    ExtendRequest,
    NewCustomer,
)
from tests.trials.helpers import until
from workers.registry import WORKFLOWS
from workers.worker import sandbox_runner
from workflows.trials.workflow import TrialLifecycle

HISTORIES = Path(__file__).parent / "histories"
# Recording never overwrites: a history recorded from older code is the guard itself
# (trial_devices_converted.json predates the `device-policy-in-trial-input` patch).
DAY = timedelta(days=1)


def _histories() -> list[Path]:
    return sorted(HISTORIES.glob("*.json"))


@pytest.mark.parametrize("path", _histories(), ids=lambda p: p.stem)
async def test_recorded_history_replays_on_current_code(path: Path) -> None:
    """Every recorded lifecycle replays without a non-determinism error."""
    from temporalio.client import WorkflowHistory

    data = json.loads(path.read_text())
    history = WorkflowHistory.from_json(data["workflow_id"], data["history"])
    replayer = Replayer(
        workflows=list(WORKFLOWS),
        data_converter=pydantic_data_converter,
        workflow_runner=sandbox_runner(),
    )
    await replayer.replay_workflow(history)


def test_histories_are_recorded() -> None:
    assert len(_histories()) >= 5


async def save_history(name: str, handle: WorkflowHandle) -> None:
    history = await handle.fetch_history()
    HISTORIES.mkdir(exist_ok=True)
    if (HISTORIES / f"{name}.json").exists():
        return
    (HISTORIES / f"{name}.json").write_text(
        json.dumps({"workflow_id": handle.id, "history": json.loads(history.to_json())}, indent=1)
    )


@pytest.mark.skipif(not os.environ.get("RECORD_HISTORIES"), reason="set RECORD_HISTORIES=1")
async def test_record_trial_histories(world, run_worker, env) -> None:
    """Records the trial paths: migrated with numbers released, consent expired, consent
    accepted then extended and converted in grace, cancelled."""
    async with run_worker():
        h = await world.start(
            setup="now",
            customer=NewCustomer(
                company_name="Rec Co",
                admin_email="a@rec.test",
                vertical="retail",
                country="US",
                numbers=["+15550009999"],
            ),
        )
        await h.result()
        await save_history("trial_migrated_numbers_released", h)

        org = await world.org()
        h = await world.start(org_id=org, customer=None, services=["calling"])
        await h.result()
        await save_history("trial_consent_expired", h)

        org2 = await world.org(name="Other", admins=[("x@other.test", "full")], users=[])
        h = await world.start(org_id=org2, customer=None, services=["messaging"], setup="now")
        await until(h, lambda s: s.state == "pending_consent" and s.notices)
        await h.signal(
            TrialLifecycle.accept_consent,
            AcceptConsent(accepted_by="x@other.test", grant_full_admin=True),
        )
        await until(h, lambda s: s.state == "active")
        await h.execute_update(TrialLifecycle.extend, ExtendRequest(days=45))
        await env.sleep(50 * DAY)
        await until(h, lambda s: s.state == "grace")
        await h.execute_update(
            TrialLifecycle.convert,
            ConvertRequest(order_id="SO-1", provisioning_contact_email="x@other.test"),
        )
        await h.result()
        await save_history("trial_consent_extend_convert_in_grace", h)

        h = await world.start(
            setup="now",
            customer=NewCustomer(
                company_name="Cancel Co",
                admin_email="a@cancel.test",
                vertical="retail",
                country="GB",
            ),
        )
        await until(h, lambda s: s.state == "active")
        await h.signal(TrialLifecycle.cancel, CancelRequest(by="customer", reason="no"))
        await h.result()
        await save_history("trial_cancelled_with_calling", h)

        h = await world.start(
            setup="later",
            services=["messaging"],
            days=10,
            customer=NewCustomer(
                company_name="Short", admin_email="s@s.test", vertical="it", country="US"
            ),
        )
        await until(h, lambda s: s.state == "awaiting_provisioning")
        await h.signal(TrialLifecycle.cancel, CancelRequest(by="partner"))
        await h.result()
        await save_history("trial_cancelled_before_provisioning", h)

        h = await world.start(
            setup="now",
            services=["messaging", "devices"],
            customer=NewCustomer(
                company_name="Dev Co", admin_email="a@dev.test", vertical="retail", country="US"
            ),
        )
        await until(h, lambda s: s.state == "active")
        await h.execute_update(
            TrialLifecycle.convert,
            ConvertRequest(order_id="SO-D", provisioning_contact_email="a@dev.test"),
        )
        await h.result()
        await save_history("trial_devices_converted", h)


@pytest.mark.skipif(not os.environ.get("RECORD_HISTORIES"), reason="set RECORD_HISTORIES=1")
async def test_record_device_history(world, run_worker) -> None:
    """A device lifecycle: two phones shipped, one back, then the other: `returned`."""
    from models.devices.contract import ReturnRequest, ShipmentRequest
    from workflows.devices.workflow import DeviceTrial

    async with run_worker():
        h = await world.start(setup="now", services=["messaging", "devices"])
        await until(h, lambda s: s.state == "active")
        child = world.env.client.get_workflow_handle(f"devices-{h.id.removeprefix('trial-')}")
        for _ in range(100):
            try:
                await child.execute_update(
                    DeviceTrial.record_shipment,
                    ShipmentRequest(
                        device_type="phone",
                        model="Cisco 9861",
                        quantity=2,
                        serials=["R1", "R2"],
                        country="US",
                    ),
                )
                break
            except Exception:  # the child starts just after the parent turns active
                import asyncio

                await asyncio.sleep(0.05)
        for serial in ("R1", "R2"):
            await child.execute_update(
                DeviceTrial.record_return,
                ReturnRequest(serials=[serial], carrier="UPS", tracking=f"1Z-{serial}"),
            )
        await child.result()
        await save_history("devices_shipped_partial_then_full_return", child)
