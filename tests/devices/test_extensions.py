"""Device trial extensions: only with the trials team's approval, 120 days at most (TR-D2)."""

from __future__ import annotations

import pytest
from sqlmodel import col, select
from temporalio.client import WorkflowUpdateFailedError

from models.devices.contract import ApproveExtension, ExtensionRequest, RejectExtension
from models.devices.tables import DeviceExtension
from tests.devices.conftest import DAY, refusal
from workflows.devices.workflow import DeviceTrial


async def test_tr_d2_extension_needs_approval_and_caps_at_120_days(devices, run_worker):
    """TR-D2: a request answers `pending` and changes nothing until the trials team decides;
    an approval that would pass 120 days since the first shipment is refused; an approved
    extension moves the expiry and the return due date (and re-arms the timers)."""
    async with run_worker():
        _, dh, tid = await devices.start(days=90)
        with pytest.raises(WorkflowUpdateFailedError) as err:  # no device clock yet
            await dh.execute_update(
                DeviceTrial.request_extension, ExtensionRequest(days=10, reason="pilot")
            )
        assert refusal(err)[0] == "TR-D2"

        await devices.ship(dh, "phone", 2)
        st0 = await dh.query(DeviceTrial.status)
        first, expires0 = st0.first_shipped_at, st0.expires_at
        assert expires0 - first == 90 * DAY

        r = await dh.execute_update(
            DeviceTrial.request_extension, ExtensionRequest(days=31, reason="more sites")
        )
        assert r.message.startswith("pending")
        assert r.extension.state == "pending" and r.expires_at == expires0
        with pytest.raises(WorkflowUpdateFailedError) as err:  # one pending at a time
            await dh.execute_update(
                DeviceTrial.request_extension, ExtensionRequest(days=5, reason="again")
            )
        assert refusal(err)[0] == "TR-D2"

        with pytest.raises(WorkflowUpdateFailedError) as err:  # 90 + 31 > 120
            await dh.execute_update(
                DeviceTrial.approve_extension, ApproveExtension(approved_by="lead@trials.test")
            )
        rule, message = refusal(err)
        assert rule == "TR-D2" and "120 days" in message
        st = await dh.query(DeviceTrial.status)
        assert st.expires_at == expires0 and [e.state for e in st.extensions] == ["pending"]

        r = await dh.execute_update(
            DeviceTrial.reject_extension,
            RejectExtension(rejected_by="lead@trials.test", reason="over the cap"),
        )
        assert r.extension.state == "rejected" and r.expires_at == expires0

        await dh.execute_update(
            DeviceTrial.request_extension, ExtensionRequest(days=30, reason="more sites")
        )
        r = await dh.execute_update(
            DeviceTrial.approve_extension, ApproveExtension(approved_by="lead@trials.test")
        )
        assert r.extension.state == "approved"
        assert r.expires_at - first == 120 * DAY
        assert r.return_due_at - r.expires_at == 14 * DAY

        with pytest.raises(WorkflowUpdateFailedError) as err:  # nothing left under the cap
            await dh.execute_update(
                DeviceTrial.request_extension, ExtensionRequest(days=1, reason="one more")
            )
        assert refusal(err)[0] == "TR-D2"

        async with devices.db.session() as s:
            rows = (
                await s.exec(
                    select(DeviceExtension)
                    .where(DeviceExtension.trial_id == tid)
                    .order_by(col(DeviceExtension.seq))
                )
            ).all()
        assert [(e.days, e.state, e.decided_by) for e in rows] == [
            (31, "rejected", "lead@trials.test"),
            (30, "approved", "lead@trials.test"),
        ]
        requested = await devices.notices(tid, "device_extension_requested")
        assert [n.recipient for n in requested] == ["trials-team@localhost"] * 2
        (approved,) = [
            n
            for n in await devices.notices(tid, "device_extension_approved")
            if n.recipient == "admin@newco.test"
        ]
        assert f"expire {r.expires_at:%Y-%m-%d}" in approved.body
        assert len(await devices.notices(tid, "device_extension_rejected")) == 4

        # The old expiry (day 90) no longer ends the device trial; the new one (day 120) does.
        await devices.env.sleep(100 * DAY)
        assert (await dh.query(DeviceTrial.status)).state == "in_trial"
        await devices.env.sleep(21 * DAY)
        assert (await dh.query(DeviceTrial.status)).state == "awaiting_return"
