"""TR-E*: expiry notices, grace, the user notice, the move to a free org, number release."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from models.trials.contract import ConvertRequest
from tests.trials.helpers import (
    License,
    Org,
    OrgUser,
    PhoneNumber,
    notices,
    recipients,
    rows,
    tid,
    until,
)
from workers.settings import Settings
from workflows.trials.workflow import TrialLifecycle

DAY = timedelta(days=1)
PARTNER_ADMINS = {
    "sales@partner.test",
    "salesfull@partner.test",
    "full@partner.test",
    "ro@partner.test",
}


async def _existing_org_trial(world, run_worker_ctx=None, **kw):
    org = await world.org(
        admins=[("boss@existing.test", "full"), ("it@existing.test", "user_admin")],
        users=["u1@existing.test", "u2@existing.test"],
        numbers=["+4721000000", "+4721000001"],
        managed_by=world.partner_id,
    )
    h = await world.start(
        org_id=org,
        customer=None,
        services=["calling", "meetings"],
        site_url="existing.webex.com",
        timezone="Europe/Oslo",
        setup="now",
        **kw,
    )
    return org, h


async def test_tr_e1_t7_and_t_notices_to_every_admin_exactly_once(world, run_worker, db):
    """TR-E1: 7 days before expiry and on the day, every customer admin (with the buy link) and
    every partner admin (with the expiring services and days left) gets one email each."""
    async with run_worker():
        _org, h = await _existing_org_trial(world)
        result = await h.result()
    customer_admins = {"boss@existing.test", "it@existing.test"}
    for kind in ("expiry_t_minus_7", "expiry_today"):
        got = await recipients(db, tid(h), kind)
        assert set(got) == customer_admins | PARTNER_ADMINS
        assert set(got.values()) == {1}
    t7 = {n.recipient: n for n in await notices(db, tid(h), "expiry_t_minus_7")}
    assert "https://" in t7["boss@existing.test"].body and "7" in t7["boss@existing.test"].subject
    partner_body = t7["sales@partner.test"].body
    assert "calling, meetings" in partner_body and "Days left: 7" in partner_body
    assert t7["boss@existing.test"].due_at == result.ends_at - 7 * DAY
    assert all(n.sent_at is not None and n.transport == "outbox" for n in t7.values())
    today = await notices(db, tid(h), "expiry_today")
    assert {n.due_at for n in today} == {result.ends_at}


async def test_tr_e2_converted_during_grace(world, run_worker, env, db):
    """TR-E2: after expiry a 30-day grace follows in which the trial can still convert."""
    async with run_worker():
        h = await world.start(setup="now", days=30)
        await env.sleep(45 * DAY)
        st = await until(h, lambda s: s.state == "grace")
        assert st.grace_ends_at and st.ends_at
        assert st.grace_ends_at - st.ends_at == 30 * DAY
        r = await h.execute_update(
            TrialLifecycle.convert,
            ConvertRequest(order_id="SO-1", provisioning_contact_email="admin@newco.test"),
        )
        assert r.state == "converted"
        result = await h.result()
    assert result.state == "converted" and result.free_org_id is None
    users = await rows(db, OrgUser, OrgUser.email == "admin@newco.test")
    assert users[0].org_id == result.customer_org_id and users[0].admin_role == "full"
    assert await notices(db, tid(h), "services_ended") == []


async def test_tr_e3_users_told_30_days_after_expiry(world, run_worker, db):
    """TR-E3: 30 days after expiry every user of the org is told the services ended."""
    async with run_worker():
        _org, h = await _existing_org_trial(world)
        result = await h.result()
    got = await recipients(db, tid(h), "services_ended")
    assert got == {
        e: 1
        for e in ("boss@existing.test", "it@existing.test", "u1@existing.test", "u2@existing.test")
    }
    due = {n.due_at for n in await notices(db, tid(h), "services_ended")}
    assert due == {result.ends_at + 30 * DAY}


async def test_tr_e4_users_moved_to_free_org_irreversibly(world, run_worker, env, db):
    """TR-E4: not converted by the end of grace, the users move to a new free org; the trial
    org loses licenses, site URL, admin roles and calling configuration."""
    async with run_worker():
        h = await world.start(
            setup="now",
            services=["meetings", "calling", "messaging"],
            site_url="newco.webex.com",
            timezone="UTC",
        )
        st = await until(h, lambda s: s.state == "active")
        await env.sleep(61 * DAY)  # past grace
        result = await h.result()  # no number was retained: nothing left to wait for
        with pytest.raises((WorkflowUpdateFailedError, RPCError)):  # irreversible: closed
            await h.execute_update(
                TrialLifecycle.convert,
                ConvertRequest(order_id="late", provisioning_contact_email="admin@newco.test"),
            )
    assert result.state == "migrated_to_free_org"
    assert result.numbers_release_at is None  # issue 9, 11: no 15-day wait for no numbers
    free = (await rows(db, Org, Org.id == result.free_org_id))[0]
    assert free.kind == "free"
    users = await rows(db, OrgUser, OrgUser.org_id == free.id)
    assert [(u.email, u.admin_role) for u in users] == [("admin@newco.test", None)]
    assert await rows(db, OrgUser, OrgUser.org_id == st.customer_org_id) == []
    trial_org = (await rows(db, Org, Org.id == st.customer_org_id))[0]
    assert (trial_org.site_url, trial_org.timezone, trial_org.calling_enabled) == (
        None,
        None,
        False,
    )
    assert await rows(db, License, License.org_id == st.customer_org_id) == []


async def test_tr_e4_paying_customer_keeps_its_org(world, run_worker, db):
    """TR-E4 applies to trial orgs: a paying customer's org (TR-S7) keeps its users and paid
    licenses; only the trial's licenses go, and the trial ends `expired`."""
    org = await world.org(paid={"messaging": 10}, managed_by=world.partner_id)
    async with run_worker():
        h = await world.start(org_id=org, customer=None, services=["calling"], setup="now")
        result = await h.result()
    assert result.state == "expired" and result.free_org_id is None
    lic = await rows(db, License, License.org_id == org)
    assert [(x.service, x.source) for x in lic] == [("messaging", "paid")]
    assert len(await rows(db, OrgUser, OrgUser.org_id == org)) == 3


async def test_tr_e5_numbers_retained_15_days_then_released(world, run_worker, env, db):
    """TR-E5: with calling, calling stops at the end of grace; the numbers stay reserved (no
    one else can be given them) for 15 more days, then are released."""
    async with run_worker():
        org, h = await _existing_org_trial(world, settings=Settings(trial_grace_days=30))
        st = await until(h, lambda s: s.state == "active")
        await env.sleep(61 * DAY)
        mid = await until(h, lambda s: s.numbers_release_at is not None)
        assert mid.numbers_released_at is None
        nums = await rows(db, PhoneNumber)
        assert {(n.state, n.org_id) for n in nums} == {("retained", org)}
        assert not (await rows(db, Org, Org.id == org))[0].calling_enabled
        from models.common.refusal import RuleError

        try:
            await world.org(
                name="Grabber", admins=[("g@grab.test", "full")], users=[], numbers=["+4721000000"]
            )
            raise AssertionError("a retained number was assignable")
        except RuleError as err:
            assert err.violations[0].rule == "TR-E5"
        result = await h.result()
    assert st.ends_at
    assert result.numbers_release_at == st.ends_at + 30 * DAY + 15 * DAY
    assert abs(result.numbers_released_at - result.numbers_release_at) < timedelta(minutes=1)
    assert {(n.state, n.org_id) for n in await rows(db, PhoneNumber)} == {("released", None)}
