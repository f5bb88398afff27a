"""Deadlines in workflow time (issue 9, item 6): an update allowed only before a deadline is
refused once the deadline has passed by the workflow's clock, even while the state still
lags behind it (here: a step failed for good, so the lifecycle waits in `error` and no
deadline step runs)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from models.devices import store
from models.devices.contract import ExtensionRequest, ReturnRequest
from tests.devices.conftest import refusal
from tests.polling import eventually
from workflows.devices.workflow import DeviceTrial

DAY = timedelta(days=1)


async def test_tr_d2_dv_1_deadlines_refuse_while_the_state_lags(
    devices, run_worker, env, monkeypatch
):
    """TR-D2: with the read model failing for good, the lifecycle waits in `error` (its state
    says nothing of the expiry); 31 days later a headset shipment is refused as expired.
    DV-1: past the return due date an extension request is refused as overdue. After the
    operator's `retry` the deadlines run: the devices are `overdue`, no headset shipped, no
    extension recorded."""
    async with run_worker():
        _, dh, tid = await devices.start()
        shipped = await devices.ship(dh, "phone", 2)
        assert shipped.state == "in_trial" and shipped.expires_at and shipped.return_due_at

        real = store.record_device_changes

        async def broken(*args, **kwargs):
            raise ApplicationError("read model down", type="StoreRefused", non_retryable=True)

        monkeypatch.setattr(store, "record_device_changes", broken)
        back = await dh.execute_update(
            DeviceTrial.record_return,
            ReturnRequest(serials=["PH0001"], carrier="UPS", tracking="1Z-1"),
        )
        assert back.state == "error"

        await env.sleep(31 * DAY)  # past expires_at by the workflow's clock
        st = await dh.query(DeviceTrial.status)
        assert st.state == "error" and st.failure and st.failure.state == "in_trial"
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await devices.ship(dh, "headset", 1)
        rule, message = refusal(err)
        assert rule == "TR-D2" and "expired" in message, message

        await env.sleep(15 * DAY)  # past return_due_at
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await dh.execute_update(
                DeviceTrial.request_extension, ExtensionRequest(days=10, reason="late")
            )
        rule, message = refusal(err)
        assert rule == "DV-1" and "overdue" in message, message

        monkeypatch.setattr(store, "record_device_changes", real)
        assert await dh.execute_update(DeviceTrial.retry) == "resumed in in_trial"
        st = await devices.until(dh, lambda s: s.state == "overdue", "devices overdue")
        assert [s.device_type for s in st.shipments] == ["phone"]
        assert st.extensions == [] and st.outstanding == ["PH0002"]
        # the query shows `overdue` as the workflow decides it; the read model is written by
        # the activity that follows, so the store is read once it has caught up
        want = {"PH0001": "returned", "PH0002": "overdue"}

        async def stored() -> dict[str, str] | None:
            got = await devices.devices(tid)
            return got if got == want else None

        assert await eventually(stored, "devices in the store") == want
