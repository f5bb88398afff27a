"""Activities of the device lifecycle (``DeviceTrial``): each calls one transaction of
models/devices/store.py (the read model, the notices) and returns its result."""

from __future__ import annotations

from temporalio import activity

from activities.common import Activities
from models.common.outbox import NoticeView
from models.devices import store
from models.devices.contract import (
    DeviceChanges,
    DeviceNoticeBatch,
    DevicePolicy,
    DeviceStatus,
    device_workflow_id,
)


class DeviceActivities(Activities):
    @activity.defn
    async def device_policy(self, day_seconds: float) -> DevicePolicy:
        """Snapshot the device settings (TR-D2, DV-1) for a new device lifecycle; the trial's
        own day length is kept so both clocks agree."""
        return self.deps.device_policy.model_copy(update={"day_seconds": day_seconds})

    @activity.defn
    async def devices_record_changes(self, changes: DeviceChanges) -> None:
        """Write what changed in the workflow's status into the read model (``device_*``)."""
        wid = activity.info().workflow_id or device_workflow_id(changes.trial_id)
        await store.record_device_changes(self.db, changes, wid)

    @activity.defn
    async def record_devices(self, st: DeviceStatus) -> None:
        """Make the read model equal to the workflow's whole status: kept for lifecycles
        recorded before ``devices_record_changes`` (their histories name it)."""
        wid = activity.info().workflow_id or device_workflow_id(st.trial_id)
        await store.record_devices(self.db, st, wid)

    @activity.defn
    async def send_device_notices(self, batch: DeviceNoticeBatch) -> list[NoticeView]:
        """Write the notice to the outbox once per recipient, then send what is unsent."""
        wid = activity.info().workflow_id
        return await store.send_device_notices(self.db, self.mailer, batch, wid)
