"""TR-V1..V3: converting a trial to paid. (TR-V4, devices, is proved in tests/devices.)"""

from __future__ import annotations

from datetime import timedelta

from models.trials.contract import ConvertRequest, NewCustomer
from tests.trials.helpers import License, notices, refused, rows, tid, trial_row, until
from workers.settings import Settings
from workflows.trials.workflow import TrialLifecycle


async def test_tr_v1_conversion_keeps_usage_and_licenses_become_paid(world, run_worker, db):
    """TR-V1: an order converts the trial; licenses become paid and nothing of the trial's
    data is deleted; the lifecycle ends `converted` with no expiry notice."""
    async with run_worker():
        h = await world.start(setup="now", license_count=40)
        st = await until(h, lambda s: s.state == "active")
        r = await h.execute_update(
            TrialLifecycle.convert,
            ConvertRequest(order_id="SO-77", provisioning_contact_email="Admin@NewCo.test"),
        )
        assert r.state == "converted"
        result = await h.result()
    assert (result.state, result.order_id) == ("converted", "SO-77")
    lic = await rows(db, License, License.org_id == st.customer_org_id)
    assert sorted((x.service, x.quantity, x.source) for x in lic) == [
        ("calling", 40, "paid"),
        ("messaging", 40, "paid"),
    ]
    row = await trial_row(db, tid(h))
    assert row.state == "converted" and row.order_id == "SO-77"
    assert [n.kind for n in await notices(db, tid(h))] == ["welcome"]


async def test_tr_v2_tier2_partner_converts_through_distributor(world, run_worker):
    """TR-V2: a tier-1 partner converts directly; a tier-2 partner only through its
    distributor."""
    async with run_worker():
        h = await world.start(
            setup="now",
            partner_org_id=world.tier2_partner_id,
            started_by="sales@tier2.test",
        )
        await until(h, lambda s: s.state == "active")
        order = ConvertRequest(order_id="D-1", provisioning_contact_email="admin@newco.test")
        with refused("TR-V2", "through_distributor"):
            await h.execute_update(TrialLifecycle.convert, order)
        assert (await h.query(TrialLifecycle.status)).state == "active"
        order.through_distributor = True
        assert (await h.execute_update(TrialLifecycle.convert, order)).state == "converted"


async def test_tr_v3_provisioning_contact_must_be_the_customer_admin(world, run_worker, db):
    """TR-V3: another provisioning email would create a new org: refused unless confirmed."""
    async with run_worker():
        h = await world.start(setup="now")
        await until(h, lambda s: s.state == "active")
        with refused("TR-V3", "provisioning_contact_email"):
            await h.execute_update(
                TrialLifecycle.convert,
                ConvertRequest(order_id="X", provisioning_contact_email="other@newco.test"),
            )
        st = await h.query(TrialLifecycle.status)
        assert (st.state, st.order_id) == ("active", None)
        r = await h.execute_update(
            TrialLifecycle.convert,
            ConvertRequest(
                order_id="X", provisioning_contact_email="other@newco.test", confirm_new_org=True
            ),
        )
        assert r.state == "converted"


async def test_policy_is_snapshotted_at_start(world, run_worker):
    """Every duration comes from settings at start (TR-C3, TR-E2, TR-E5 durations as set)."""
    settings = Settings(
        trial_consent_days=5,
        trial_grace_days=10,
        trial_number_retention_days=3,
        trial_user_notice_days=10,
    )
    async with run_worker():
        h = await world.start(
            settings=settings,
            setup="now",
            days=20,
            customer=NewCustomer(
                company_name="Short Co",
                admin_email="a@short.test",
                vertical="retail",
                country="US",
                numbers=["+15550000001"],
            ),
        )
        result = await h.result()
    assert result.grace_ends_at - result.ends_at == timedelta(days=10)
    assert result.numbers_release_at - result.grace_ends_at == timedelta(days=3)
    assert result.ends_at - result.activated_at == timedelta(days=20)


async def test_device_policy_is_snapshotted_with_the_trial(world, run_worker, env):
    """TR-D2/DV-1 policy travels in the trial's input: the device lifecycle started later gets
    the values of the trial's start (patch `device-policy-in-trial-input`), not a later read."""
    import json

    settings = Settings(device_return_days=9, device_max_days=100)
    async with run_worker():
        h = await world.start(settings=settings, setup="now", services=["messaging", "devices"])
        await until(h, lambda s: s.state == "active")
        child = env.client.get_workflow_handle(f"devices-{h.id.removeprefix('trial-')}")
        events = await _history_when_started(child)
        started = events[0].workflow_execution_started_event_attributes
        policy = json.loads(started.input.payloads[0].data)["policy"]
        parent = [e async for e in h.fetch_history_events()]
    assert (policy["return_days"], policy["max_days"]) == (9, 100)
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in parent
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert "device_policy" not in scheduled


async def _history_when_started(handle):
    """The child is started just after the parent turns active: wait for it to exist."""
    import asyncio

    from temporalio.service import RPCError

    for _ in range(100):
        try:
            return [e async for e in handle.fetch_history_events()]
        except RPCError:
            await asyncio.sleep(0.05)
    raise AssertionError(f"{handle.id} never started")
