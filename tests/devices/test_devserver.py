"""On the real Temporal dev server (real visibility, real parent/child semantics), with a
compressed day: a converted trial's devices go overdue, show up in `devices overdue` (a
visibility query on the shared search attributes), and the lifecycle ends when all are back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models.devices.contract import ReturnRequest
from models.trials.contract import ConvertRequest
from scripts.cli.devices import overdue_list
from scripts.cli.main import app  # noqa: F401  (the CLI first: it registers cli_devices)
from tests.conftest import TrialWorld
from tests.devices.conftest import DeviceWorld
from tests.polling import eventually
from workers.settings import Settings
from workflows import search_attributes as sa
from workflows.devices.workflow import DeviceTrial
from workflows.trials.workflow import TrialLifecycle

pytestmark = pytest.mark.devserver

# No race with the wall clock: a day is a minute, so the 30-day trial cannot end before its
# conversion however loaded the machine (at 0.1 s a day, 3 s, it once did), and the phones
# are shipped backdated, so that their returns (30 + 14 days after shipping) fall due
# RETURNS_DUE_IN after the shipment is recorded. Conversion and overdue may then come in
# either order; the lifecycle ends overdue and converted in both.
DAY_SECONDS = 60.0
RETURNS_DUE_IN = timedelta(seconds=4)


async def test_tr_v4_converted_devices_overdue_then_returned_on_dev_server(
    dev_env, db, task_queue, run_worker
):
    """TR-V4 and DV-1 end to end: the trial converts and completes; its device lifecycle
    goes overdue, is listed by the overdue visibility query, and completes `returned` when
    every serial is back."""
    world = await TrialWorld(dev_env, db, task_queue).setup()
    devices = DeviceWorld(world)
    async with run_worker(client=dev_env.client):
        try:
            h, dh, tid = await devices.start(settings=Settings(day_seconds=DAY_SECONDS))
            days = timedelta(seconds=DAY_SECONDS)
            shipped = datetime.now(UTC) - (30 + 14) * days + RETURNS_DUE_IN
            await devices.ship(dh, "phone", 2, ship_date=shipped)
            await h.execute_update(
                TrialLifecycle.convert,
                ConvertRequest(order_id="ORD-9", provisioning_contact_email="admin@newco.test"),
            )
            assert (await h.result()).state == "converted"

            async def overdue():  # and told of the conversion (a signal from the trial)
                st = await dh.query(DeviceTrial.status)
                return st if st.state == "overdue" and st.converted_at is not None else None

            st = await eventually(overdue)
            assert st.outstanding == ["PH0001", "PH0002"]
            desc = await dh.describe()
            assert desc.typed_search_attributes.get(sa.LIFECYCLE_STATE) == "overdue"
            assert desc.typed_search_attributes.get(sa.PARTNER_ORG_ID) == world.partner_id

            async def listed():
                rows = await overdue_list(dev_env.client, partner=world.partner_id)
                return [r for r in rows if r["trial_id"] == tid]

            (row,) = await eventually(listed)
            assert row["workflow_id"] == f"devices-{tid}"
            assert row["customer_org_id"] == st.customer_org_id

            await dh.execute_update(
                DeviceTrial.record_return,
                ReturnRequest(serials=["PH0001", "PH0002"], carrier="UPS", tracking="1Z9"),
            )
            result = await dh.result()
            assert result.state == "returned" and result.overdue_at is not None
            assert len(await devices.notices(tid, "device_overdue")) == 5

            async def unlisted():
                rows = await overdue_list(dev_env.client, partner=world.partner_id)
                return not [r for r in rows if r["trial_id"] == tid]

            await eventually(unlisted)
        finally:
            await devices.close()
