"""History stays small (issue 8): a device change records what changed, not the whole
status. With a thousand phones out, returning one sends the read model one serial."""

from __future__ import annotations

from sqlmodel import select
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter

from models.devices.contract import MAX_SHIPMENT, DeviceChanges, DeviceTrialRecord, ReturnRequest
from models.devices.store import TRIAL_COLUMNS
from models.devices.tables import Device, DeviceShipment, DeviceTrialRow
from workflows.devices.workflow import DeviceTrial


async def _recorded(dh: WorkflowHandle) -> list[tuple[DeviceChanges, int]]:
    """Every ``devices_record_changes`` input in the history, with its size in bytes."""
    out = []
    async for e in dh.fetch_history_events():
        if e.event_type != EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            continue
        attrs = e.activity_task_scheduled_event_attributes
        if attrs.activity_type.name != "devices_record_changes":
            continue
        (payload,) = attrs.input.payloads
        (changes,) = await pydantic_data_converter.decode([payload], [DeviceChanges])
        out.append((changes, payload.ByteSize()))
    return out


def test_trial_record_holds_the_columns_the_status_gives():
    """The trial part of a change is exactly the ``device_trial`` columns the status fills."""
    assert set(DeviceTrialRecord.model_fields) == TRIAL_COLUMNS


async def test_tr_s4_a_change_records_only_what_changed(devices, run_worker):
    """TR-S4/DV-2 with 1000 phones (the most one shipment holds): the shipment's record holds
    the 1000 serials once; returning one phone records that one serial and no trial row
    (nothing of it changed), in under 1 KB; the read model still has all 1000, one returned."""
    async with run_worker():
        _, dh, tid = await devices.start()
        await devices.ship(dh, "phone", MAX_SHIPMENT, prefix="PH")
        before = len(await _recorded(dh))
        back = await dh.execute_update(
            DeviceTrial.record_return,
            ReturnRequest(serials=["PH0500"], carrier="UPS", tracking="1Z-1"),
        )
        assert back.state == "in_trial" and len(back.outstanding) == MAX_SHIPMENT - 1

        recorded = await _recorded(dh)
        shipped = next(c for c, _ in recorded if len(c.devices) == MAX_SHIPMENT)
        assert [sh.device_type for sh in shipped.shipments] == ["phone"]
        assert shipped.trial is not None and shipped.trial.state == "in_trial"
        returned, size = recorded[-1]
        assert len(recorded) == before + 1
        assert [(d.serial, d.state) for d in returned.devices] == [("PH0500", "returned")]
        assert returned.trial is None and returned.shipments == [] and returned.extensions == []
        assert size < 1024, size
        assert sum(len(c.devices) for c, _ in recorded) == MAX_SHIPMENT + 1  # each serial once,
        # and the returned one again

        async with devices.db.session() as s:
            states = (await s.exec(select(Device.state).where(Device.trial_id == tid))).all()
            shipment = (
                await s.exec(select(DeviceShipment).where(DeviceShipment.trial_id == tid))
            ).one()
            row = await s.get(DeviceTrialRow, tid)
        assert sorted(states).count("returned") == 1 and len(states) == MAX_SHIPMENT
        assert shipment.quantity == MAX_SHIPMENT and row is not None and row.state == "in_trial"
