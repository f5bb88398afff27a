"""The device lifecycle's transactions, called by its activities (and by anyone else that
needs them): the read model and the notices.

The workflow holds the truth; ``record_device_changes`` writes what changed in it since the
last record (``DeviceChanges``) with upserts (a retry writes the same thing again);
``record_devices``, for lifecycles recorded before that, takes the whole status. Notices go
through the shared outbox (models/devices/notices.py), so each is sent exactly once however
often the activity runs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import SQLModel, col
from sqlmodel.ext.asyncio.session import AsyncSession

from models.common.db import Database
from models.common.failures import unhealable
from models.common.mail import Mailer
from models.common.outbox import NoticeView, deliver
from models.devices import notices
from models.devices.contract import (
    DeviceChanges,
    DeviceNoticeBatch,
    DeviceStatus,
    DeviceTrialRecord,
    ShipmentRecord,
)
from models.devices.tables import Device, DeviceExtension, DeviceShipment, DeviceTrialRow

log = structlog.get_logger(__name__)

# What ``device_trial`` copies from the status as it is (the other columns are the store's).
TRIAL_COLUMNS = (set(DeviceTrialRow.model_fields) & set(DeviceStatus.model_fields)) - {"trial_id"}


def _now() -> datetime:
    return datetime.now(UTC)


async def _upsert(
    s: AsyncSession,
    table: type[SQLModel],
    key: list[str],
    rows: list[dict[str, Any]],
    changing: set[str],
) -> None:
    """Insert ``rows`` in one statement; a row whose ``key`` is already there gets only its
    ``changing`` columns updated."""
    if rows:
        stmt = insert(table).values(rows)
        await s.exec(
            stmt.on_conflict_do_update(
                index_elements=key, set_={c: stmt.excluded[c] for c in changing}
            )
        )


def whole(st: DeviceStatus) -> DeviceChanges:
    """The whole status as changes (everything is new)."""
    return DeviceChanges(
        trial_id=st.trial_id,
        trial=DeviceTrialRecord.model_validate(st.model_dump(include=TRIAL_COLUMNS)),
        shipments=[ShipmentRecord.model_validate(sh.model_dump()) for sh in st.shipments],
        devices=st.devices,
        extensions=st.extensions,
    )


async def record_devices(db: Database, st: DeviceStatus, workflow_id: str) -> None:
    """Make the read model equal to the workflow's whole status (lifecycles recorded
    before ``record_device_changes``)."""
    await record_device_changes(db, whole(st), workflow_id, "record_devices")


async def record_device_changes(
    db: Database, ch: DeviceChanges, workflow_id: str, operation: str = "devices_record_changes"
) -> None:
    """Write what changed into the read model (``device_trial``, ``device_shipment``,
    ``device``, ``device_extension``): one upsert per table that has changes. A row already
    there gets only the columns that can change; the trial row's ``updated_at`` moves with
    every change."""
    now, tid = _now(), ch.trial_id
    with unhealable(operation, tid):
        async with db.session() as s:
            if ch.trial is not None:
                trial = {**ch.trial.model_dump(), "workflow_id": workflow_id, "updated_at": now}
                await _upsert(
                    s,
                    DeviceTrialRow,
                    ["trial_id"],
                    [{"trial_id": tid, "created_at": now, **trial}],
                    set(trial),
                )
            else:
                await s.exec(
                    update(DeviceTrialRow)
                    .where(col(DeviceTrialRow.trial_id) == tid)
                    .values(updated_at=now)
                )
            await _upsert(
                s,
                DeviceShipment,
                ["trial_id", "device_type"],
                [{"trial_id": tid, **sh.model_dump()} for sh in ch.shipments],
                {"labels"},
            )
            await _upsert(
                s,
                Device,
                ["trial_id", "serial"],
                [{"trial_id": tid, **d.model_dump()} for d in ch.devices],
                {"state", "returned_at", "return_carrier", "return_tracking"},
            )
            await _upsert(
                s,
                DeviceExtension,
                ["trial_id", "seq"],
                [{"trial_id": tid, **e.model_dump()} for e in ch.extensions],
                {"state", "decided_at", "decided_by", "decision_reason"},
            )


async def send_device_notices(
    db: Database, mailer: Mailer, batch: DeviceNoticeBatch, workflow_id: str | None
) -> list[NoticeView]:
    """Write the notice to the outbox once per recipient, then send what is unsent."""
    with unhealable("send_device_notices", batch.trial_id):
        async with db.session() as s:
            keys = await notices.enqueue(s, batch, workflow_id, _now())
    sent = await deliver(db, mailer, keys)
    log.info("device notices sent", kind=batch.kind, tag=batch.tag, count=len(sent))
    return sent
