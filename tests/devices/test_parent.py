"""The device lifecycle as a child of TrialLifecycle: started with the trial's devices,
still owed after conversion (TR-V4), brought forward by a cancellation (DV-1)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.service import RPCError

from models.devices.contract import ReturnRequest
from models.trials.contract import CancelRequest, ChangeServicesRequest, ConvertRequest
from tests.devices.conftest import DAY
from workflows.devices.workflow import DeviceTrial
from workflows.trials.workflow import TrialLifecycle

HOUR = timedelta(hours=1)


async def test_tr_v4_returns_owed_after_conversion(devices, run_worker):
    """TR-V4: the trial converts and ends; the device lifecycle lives on (parent close policy
    ABANDON), every device still owed, and becomes overdue if they do not come back."""
    async with run_worker():
        h, dh, tid = await devices.start(days=30)
        await devices.ship(dh, "phone", 2)
        before = await dh.query(DeviceTrial.status)

        r = await h.execute_update(
            TrialLifecycle.convert,
            ConvertRequest(order_id="ORD-1", provisioning_contact_email="admin@newco.test"),
        )
        assert r.state == "converted"
        # The parent is done. Its result is read with time standing still: waiting for a
        # result lets the time-skipping server skip ahead, and on a loaded machine it reached
        # the child's device expiry (day 30) first ('awaiting_return', not 'in_trial').
        with devices.env.auto_time_skipping_disabled():
            assert (await h.result()).state == "converted"
            st = await devices.until(dh, lambda s: s.converted_at is not None, "trial_converted")
        assert st.state == "in_trial"
        assert st.outstanding == ["PH0001", "PH0002"]
        assert (st.expires_at, st.return_due_at) == (before.expires_at, before.return_due_at)

        await devices.env.sleep(45 * DAY)
        st = await dh.query(DeviceTrial.status)
        assert st.state == "overdue" and st.outstanding == ["PH0001", "PH0002"]
        assert (await devices.row(tid)).converted_at is not None

        r = await dh.execute_update(
            DeviceTrial.record_return,
            ReturnRequest(serials=["PH0001"], carrier="UPS", tracking="1Z1"),
        )
        assert (r.state, r.outstanding) == ("overdue", ["PH0002"])
        # Completing after the parent closed: see test_devserver.py (conftest explains).


async def test_dv1_cancellation_brings_return_due_date_forward(devices, run_worker):
    """DV-1 with TR-D4: cancelling the trial makes the devices due two weeks after the
    cancellation (not two weeks after the device expiry)."""
    async with run_worker():
        h, dh, tid = await devices.start(days=30)
        await devices.ship(dh, "phone", 1)
        original_due = (await dh.query(DeviceTrial.status)).return_due_at

        await devices.env.sleep(5 * DAY)
        await h.signal(TrialLifecycle.cancel, CancelRequest(by="customer"))
        st = await devices.until(dh, lambda s: s.cancelled_at is not None, "trial_cancelled")
        assert st.return_due_at == st.cancelled_at + 14 * DAY
        assert st.return_due_at < original_due - 20 * DAY
        assert st.state == "awaiting_return"
        for _ in range(1200):  # the read model follows the workflow's own activity
            row = await devices.row(tid)
            if row is not None and row.state == "awaiting_return":
                break
            await asyncio.sleep(0.05)
        assert row is not None
        assert row.return_due_at == st.return_due_at and row.state == "awaiting_return"

        await devices.env.sleep(14 * DAY - HOUR)
        assert (await dh.query(DeviceTrial.status)).state == "awaiting_return"
        await devices.env.sleep(2 * HOUR)
        await devices.until(dh, lambda s: s.state == "overdue", "overdue")
        for _ in range(1200):
            if len(await devices.notices(tid, "device_overdue")) == 5:
                break
            await asyncio.sleep(0.05)
        assert len(await devices.notices(tid, "device_overdue")) == 5


async def test_tr_d4_cancelled_before_shipping_closes_device_lifecycle(devices, run_worker):
    """TR-D4: a trial cancelled before any device shipped owes nothing: the device lifecycle
    ends, and nothing can ship on it any more."""
    async with run_worker():
        # With calling, the cancelled trial stays open 15 days for its numbers (TR-E5).
        h, dh, tid = await devices.start(services=["calling", "devices"])
        await h.signal(TrialLifecycle.cancel, CancelRequest(by="partner"))
        result = await dh.result()
        assert result.state == "returned" and result.devices == []
        assert result.closed_reason == "trial cancelled before any device shipped"
        assert (await devices.row(tid)).state == "returned"
        with pytest.raises(RPCError):  # the workflow has completed
            await devices.ship(dh, "phone", 1)


async def test_tr_d3_devices_added_to_active_trial_start_device_lifecycle(devices, run_worker):
    """TR-D3: devices added to a running trial start its device lifecycle, once."""
    async with run_worker():
        h = await devices.world.start(services=["messaging"], days=30, setup="now")
        devices.started.append(h)
        tid = h.id.removeprefix("trial-")
        await h.execute_update(
            TrialLifecycle.change_services, ChangeServicesRequest(add=["devices"])
        )
        dh = await devices.child(tid)
        st = await dh.query(DeviceTrial.status)
        assert st.state == "shipping" and st.trial_days == 30
        await h.execute_update(
            TrialLifecycle.change_services, ChangeServicesRequest(license_count=30)
        )
        r = await devices.ship(dh, "phone", 1)
        assert r.state == "in_trial"
