"""Shipments: one per device type ever (TR-S4), serials that match (DV-2), the return
carrier by region (DV-3), phones without power supplies (DV-5)."""

from __future__ import annotations

import pytest
from sqlmodel import select
from temporalio.client import WorkflowUpdateFailedError

from models.devices.contract import ShipmentRequest
from models.devices.tables import DeviceShipment
from tests.devices.conftest import refusal
from workflows.devices.workflow import DeviceTrial


async def test_tr_s4_second_shipment_of_type_refused(devices, run_worker):
    """TR-S4: 2 phones shipped now forbids 3 more phones later; another type may ship."""
    async with run_worker():
        _, dh, tid = await devices.start()
        first = await devices.ship(dh, "phone", 2)
        assert first.state == "in_trial"
        before = await dh.query(DeviceTrial.status)

        with pytest.raises(WorkflowUpdateFailedError) as err:
            await devices.ship(dh, "phone", 3, prefix="NEW")
        rule, message = refusal(err)
        assert rule == "TR-S4"
        assert "one shipment per device type" in message

        after = await dh.query(DeviceTrial.status)
        assert after.shipments == before.shipments
        assert sorted(d.serial for d in after.devices) == ["PH0001", "PH0002"]
        assert after.expires_at == before.expires_at

        await devices.ship(dh, "headset", 1)  # another device type: allowed
        async with devices.db.session() as s:
            rows = (
                await s.exec(select(DeviceShipment).where(DeviceShipment.trial_id == tid))
            ).all()
        assert sorted((r.device_type, r.quantity) for r in rows) == [("headset", 1), ("phone", 2)]
        assert await devices.devices(tid) == {
            "PH0001": "shipped",
            "PH0002": "shipped",
            "HE0001": "shipped",
        }
        # The device clock started with the first shipment and did not move.
        st = await dh.query(DeviceTrial.status)
        assert st.expires_at == before.expires_at


async def test_dv2_shipment_serials_must_match_quantity(devices, run_worker):
    """DV-2 (at shipment): the quantity equals the serials given, each serial once."""
    async with run_worker():
        _, dh, tid = await devices.start()
        bad = [
            {"quantity": 3, "serials": ["A1", "A2"]},
            {"quantity": 2, "serials": ["A1", "A1"]},
        ]
        for kw in bad:
            with pytest.raises(WorkflowUpdateFailedError) as err:
                await devices.ship(dh, "phone", **kw)
            assert refusal(err)[0] == "DV-2"
        st = await dh.query(DeviceTrial.status)
        assert st.state == "shipping" and st.shipments == [] and st.devices == []
        assert st.expires_at is None
        assert await devices.devices(tid) == {}


@pytest.mark.parametrize(
    ("country", "region", "carrier", "label_in_box", "says"),
    [
        ("US", "US", "UPS", True, "return label is in each box"),
        ("CA", "CA", "DHL", False, "contact DHL"),
        ("DE", "EMEAR", "DHL", False, "contact DHL"),
        ("ZA", "EMEAR", "DHL", False, "contact DHL"),
        ("AU", "AU", "Expeditors", False, "contact Expeditors"),
    ],
)
async def test_dv3_carrier_by_region(
    devices, run_worker, country, region, carrier, label_in_box, says
):
    """DV-3: US → a return label in each box and UPS; Canada and EMEAR → DHL; Australia →
    Expeditors. Recorded on the shipment and told in the EULA notice."""
    async with run_worker():
        _, dh, tid = await devices.start()
        r = await devices.ship(dh, "headset", 2, country=country.lower())
        assert carrier in r.message
        st = await dh.query(DeviceTrial.status)
        (sh,) = st.shipments
        assert (sh.country, sh.region, sh.carrier) == (country, region, carrier)
        assert sh.return_label_in_box is label_in_box
        async with devices.db.session() as s:
            row = (await s.exec(select(DeviceShipment).where(DeviceShipment.trial_id == tid))).one()
        assert (row.country, row.region, row.carrier) == (country, region, carrier)
        (eula,) = await devices.notices(tid, "device_eula")
        assert says in eula.body
        assert f"({carrier})" in eula.body


async def test_dv3_country_without_return_carrier_refused(devices, run_worker):
    """DV-3: a destination with no return carrier (not US, CA, EMEAR, AU) is refused."""
    async with run_worker():
        _, dh, tid = await devices.start()
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await devices.ship(dh, "phone", 1, country="BR")
        rule, message = refusal(err)
        assert rule == "DV-3" and "BR" in message
        st = await dh.query(DeviceTrial.status)
        assert st.state == "shipping" and st.shipments == []
        assert await devices.notices(tid, "device_eula") == []


async def test_dv5_phones_ship_without_power_supplies(devices, run_worker):
    """DV-5: the EULA notice of phones says they come without power supplies (PoE needed,
    else contact the trials team); other devices' notices do not."""
    async with run_worker():
        _, dh, tid = await devices.start()
        await devices.ship(dh, "phone", 2)
        await devices.ship(dh, "headset", 1)
        # outbox keys: devices:<trial>:device_eula:<device type>:<recipient>
        eulas = {n.key.split(":")[3]: n for n in await devices.notices(tid, "device_eula")}
        assert set(eulas) == {"phone", "headset"}
        phone = eulas["phone"].body
        assert "without power supplies" in phone
        assert "Power over\nEthernet (PoE)" in phone
        assert "trials-team@localhost" in phone
        assert "power supplies" not in eulas["headset"].body
        # Both name the expiry date fixed at the first shipment (DV-1).
        st = await dh.query(DeviceTrial.status)
        assert st.expires_at is not None
        for n in eulas.values():
            assert f"until {st.expires_at:%Y-%m-%d}" in n.body
            assert n.recipient == "admin@newco.test"


def test_shipment_contract_refuses_unknown_fields():
    """The shipment command: a typo in a field name is an error naming the field."""
    with pytest.raises(ValueError, match="quantiy"):
        ShipmentRequest.model_validate(
            {"device_type": "phone", "model": "m", "quantiy": 1, "serials": ["a"], "country": "US"}
        )


async def test_shipment_quantity_and_serials_are_bounded(devices, run_worker):
    """History stays small (issue 8): a shipment of 1001 devices, or a serial longer than the
    ``device.serial`` column, is refused naming the field; nothing ships, nothing is written."""
    async with run_worker():
        _, dh, tid = await devices.start()
        serials = [f"S{i:05d}" for i in range(1001)]
        for payload, field in (
            ({"quantity": 1001, "serials": serials}, "quantity"),
            ({"quantity": 1, "serials": ["X" * 65]}, "serials.0"),
        ):
            raw = {"device_type": "phone", "model": "9861", "country": "US", **payload}
            with pytest.raises(WorkflowUpdateFailedError) as err:
                await dh.execute_update("record_shipment", raw)
            rule, message = refusal(err)
            assert rule == "TR-S4" and f"({field})" in message, message
        st = await dh.query(DeviceTrial.status)
        assert st.state == "shipping" and st.shipments == [] and st.devices == []
        assert await devices.devices(tid) == {}
        assert await devices.notices(tid, "device_eula") == []
