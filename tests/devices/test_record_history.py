"""Records a device lifecycle under the ``devices-record-changes`` patch (the read model
gets what changed), so tests/test_replay.py guards that path too. Run with
``RECORD_HISTORIES=1``; an existing recording is never overwritten."""

from __future__ import annotations

import os

import pytest

from models.devices.contract import (
    ApproveExtension,
    ExtensionRequest,
    LabelRequest,
    ReturnRequest,
)
from tests.test_replay import save_history
from workflows.devices.workflow import DeviceTrial


@pytest.mark.skipif(not os.environ.get("RECORD_HISTORIES"), reason="set RECORD_HISTORIES=1")
async def test_record_device_changes_history(devices, run_worker) -> None:
    """Phones and a headset shipped, a US label re-issued (DV-4), an extension requested and
    approved (TR-D2), then every serial back: `returned`, each step recording its changes."""
    async with run_worker():
        _, dh, _ = await devices.start()
        await devices.ship(dh, "phone", 3)
        await devices.ship(dh, "headset", 1)
        await dh.execute_update(DeviceTrial.request_label, LabelRequest(device_type="phone"))
        await dh.execute_update(
            DeviceTrial.request_extension, ExtensionRequest(days=10, reason="pilot")
        )
        await dh.execute_update(
            DeviceTrial.approve_extension, ApproveExtension(approved_by="team@cisco.test")
        )
        for serials in (["PH0001", "HE0001"], ["PH0002", "PH0003"]):
            await dh.execute_update(
                DeviceTrial.record_return,
                ReturnRequest(serials=serials, carrier="UPS", tracking="1Z-R"),
            )
        st = await dh.result()
        assert st.state == "returned"
        await save_history("devices_record_changes_label_extension_returned", dh)
