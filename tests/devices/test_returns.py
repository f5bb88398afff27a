"""Returns: the two-week window after the device expiry (DV-1), serials that match (DV-2),
partial returns, the overdue escalation (once), US-only label re-requests (DV-4)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.worker import Replayer

from models.devices.contract import LabelRequest, ReturnRequest
from models.devices.tables import Device
from tests.devices.conftest import DAY, refusal
from workers.worker import sandbox_runner
from workflows.devices.workflow import DeviceTrial

HOUR = timedelta(hours=1)
PARTNER_ADMINS = 4  # sales, sales full, full, read-only admins of the test partner


def back(*serials: str) -> ReturnRequest:
    return ReturnRequest(serials=list(serials), carrier="UPS", tracking="1Z999")


async def test_dv1_returns_due_two_weeks_after_device_expiry(devices, run_worker):
    """DV-1: expiry = first shipment + trial days; returns due 14 days later, with reminders
    7 days and 1 day before; not overdue a moment before the due date, overdue after."""
    async with run_worker():
        _, dh, tid = await devices.start(days=30)
        await devices.ship(dh, "phone", 2)
        st = await dh.query(DeviceTrial.status)
        assert st.expires_at - st.first_shipped_at == 30 * DAY
        assert st.return_due_at - st.expires_at == 14 * DAY

        await devices.env.sleep(29 * DAY)
        assert (await dh.query(DeviceTrial.status)).state == "in_trial"
        await devices.env.sleep(DAY + HOUR)  # day 30: the devices expire
        st = await dh.query(DeviceTrial.status)
        assert st.state == "awaiting_return"
        assert (st.next_deadline_kind, st.next_deadline_at) == (
            "return_reminder",
            st.return_due_at - 7 * DAY,
        )
        assert await devices.notices(tid, "device_return_reminder") == []

        await devices.env.sleep(14 * DAY - 2 * HOUR)  # just before the due date
        st = await dh.query(DeviceTrial.status)
        assert st.state == "awaiting_return"
        reminders = await devices.notices(tid, "device_return_reminder")
        assert len(reminders) == 2 * (1 + PARTNER_ADMINS)  # T-7 and T-1, each recipient once
        assert {r.subject for r in reminders if r.recipient == "admin@newco.test"} == {
            f"Return your Webex trial devices by {st.return_due_at:%Y-%m-%d}"
        }
        assert await devices.notices(tid, "device_overdue") == []

        await devices.env.sleep(2 * HOUR)  # past the due date
        st = await dh.query(DeviceTrial.status)
        assert st.state == "overdue"
        assert {d.state for d in st.devices} == {"overdue"}
        assert (await devices.row(tid)).state == "overdue"


async def test_dv2_unknown_serial_refused_nothing_changed(devices, run_worker):
    """DV-2: a return naming a serial not shipped on this trial is refused whole: nothing
    changes, not even for the serials that were shipped. A serial is returned once."""
    async with run_worker():
        _, dh, tid = await devices.start()
        await devices.ship(dh, "phone", 2)
        before = await dh.query(DeviceTrial.status)

        with pytest.raises(WorkflowUpdateFailedError) as err:
            await dh.execute_update(DeviceTrial.record_return, back("PH0001", "XX-NOT-OURS"))
        rule, message = refusal(err)
        assert rule == "DV-2" and "XX-NOT-OURS" in message and "PH0001" not in message

        after = await dh.query(DeviceTrial.status)
        assert after.devices == before.devices
        assert after.outstanding == ["PH0001", "PH0002"]
        async with devices.db.session() as s:
            rows = (await s.exec(select(Device).where(Device.trial_id == tid))).all()
        assert {(r.serial, r.state, r.returned_at) for r in rows} == {
            ("PH0001", "shipped", None),
            ("PH0002", "shipped", None),
        }

        await dh.execute_update(DeviceTrial.record_return, back("PH0001"))
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await dh.execute_update(DeviceTrial.record_return, back("PH0001"))
        assert refusal(err)[0] == "DV-2"
        assert (await dh.query(DeviceTrial.status)).outstanding == ["PH0002"]


async def test_dv2_partial_then_full_return(devices, run_worker):
    """DV-2: partial returns are tracked serial by serial until every one is back; then the
    device lifecycle ends `returned`. Its history replays deterministically."""
    async with run_worker():
        _, dh, tid = await devices.start()
        await devices.ship(dh, "phone", 2)
        await devices.ship(dh, "headset", 1)

        r = await dh.execute_update(DeviceTrial.record_return, back("PH0001"))
        assert r.state == "in_trial"
        assert r.outstanding == ["PH0002", "HE0001"]
        assert await devices.devices(tid) == {
            "PH0001": "returned",
            "PH0002": "shipped",
            "HE0001": "shipped",
        }

        r = await dh.execute_update(DeviceTrial.record_return, back("PH0002", "HE0001"))
        assert r.state == "returned" and r.outstanding == []
        result = await dh.result()
        assert result.state == "returned"
        assert result.returned_at is not None and result.closed_reason is None
        assert {d.state for d in result.devices} == {"returned"}
        assert {d.return_tracking for d in result.devices} == {"1Z999"}
        row = await devices.row(tid)
        assert row.state == "returned" and row.returned_at is not None
        assert set((await devices.devices(tid)).values()) == {"returned"}

        history = await dh.fetch_history()
        await Replayer(
            workflows=[DeviceTrial],
            data_converter=devices.env.client.data_converter,
            workflow_runner=sandbox_runner(),
        ).replay_workflow(history)


async def test_dv1_overdue_escalation_exactly_once(devices, run_worker):
    """DV-1: at the due date the devices still out are overdue; the partner admins and the
    trials team get one escalation listing the missing serials, never a second."""
    async with run_worker():
        _, dh, tid = await devices.start(days=30)
        await devices.ship(dh, "phone", 3)
        await dh.execute_update(DeviceTrial.record_return, back("PH0001"))

        await devices.env.sleep(44 * DAY + HOUR)
        st = await dh.query(DeviceTrial.status)
        assert st.state == "overdue"
        assert st.outstanding == ["PH0002", "PH0003"]
        assert {d.serial: d.state for d in st.devices} == {
            "PH0001": "returned",
            "PH0002": "overdue",
            "PH0003": "overdue",
        }
        assert await devices.devices(tid) == {st.serial: st.state for st in st.devices}

        escalations = await devices.notices(tid, "device_overdue")
        assert sorted(n.recipient for n in escalations) == sorted(
            [
                "trials-team@localhost",
                "sales@partner.test",
                "salesfull@partner.test",
                "full@partner.test",
                "ro@partner.test",
            ]
        )
        for n in escalations:
            assert "PH0002" in n.body and "PH0003" in n.body and "PH0001" not in n.body

        await devices.env.sleep(10 * DAY)  # time passes: no second escalation
        assert len(await devices.notices(tid, "device_overdue")) == len(escalations)

        await dh.execute_update(DeviceTrial.record_return, back("PH0002", "PH0003"))
        result = await dh.result()  # the trial is still open (grace ends on day 60)
        assert result.state == "returned" and result.overdue_at is not None
        assert len(await devices.notices(tid, "device_overdue")) == len(escalations)


async def test_dv4_label_rerequest_us_only(devices, run_worker):
    """DV-4: a lost label is re-issued in the US (UPS); elsewhere the request is refused with
    the carrier to contact, and nothing is recorded."""
    async with run_worker():
        _, us, us_tid = await devices.start()
        await devices.ship(us, "phone", 2, country="US")
        r = await us.execute_update(DeviceTrial.request_label, LabelRequest())
        assert f"UPS-{us_tid}-phone-1" in r.message
        await us.execute_update(DeviceTrial.request_label, LabelRequest(device_type="phone"))
        (sh,) = (await us.query(DeviceTrial.status)).shipments
        assert sh.labels == [f"UPS-{us_tid}-phone-1", f"UPS-{us_tid}-phone-2"]
        labels = await devices.notices(us_tid, "device_return_label")
        assert [n.recipient for n in labels] == ["admin@newco.test"] * 2
        assert "call UPS" in labels[0].body

        _, ca, ca_tid = await devices.start()
        await devices.ship(ca, "phone", 2, country="CA")
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await ca.execute_update(DeviceTrial.request_label, LabelRequest())
        rule, message = refusal(err)
        assert rule == "DV-4" and "US only" in message and "contact DHL" in message
        (sh,) = (await ca.query(DeviceTrial.status)).shipments
        assert sh.labels == []
        assert await devices.notices(ca_tid, "device_return_label") == []

        _, au, _ = await devices.start()
        await devices.ship(au, "headset", 1, country="AU")
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await au.execute_update(DeviceTrial.request_label, LabelRequest())
        assert "contact Expeditors" in refusal(err)[1]

        # Nothing out to return: nothing to label either.
        await us.execute_update(DeviceTrial.record_return, back("PH0001"))
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await us.execute_update(DeviceTrial.request_label, LabelRequest(device_type="headset"))
        assert refusal(err)[0] == "DV-4"
