"""TR-V1..V3: an order that names a trial converts it, through the trial workflow's own
``convert`` update (called by the ``order_convert_trial`` activity), when billing starts."""

from __future__ import annotations

import asyncio

from models.common.tables import License
from models.trials.contract import NewCustomer, TrialRequest
from models.trials.tables import Trial
from tests.orders.conftest import Orders, refused
from workers.settings import Settings
from workers.starter import start_trial


async def _trial(orders: Orders, partner: str, by: str) -> tuple[str, str]:
    handle = await start_trial(
        orders.env.client,
        orders.db,
        Settings(),
        TrialRequest(
            partner_org_id=partner,
            started_by=by,
            customer=NewCustomer(
                company_name="TrialCo",
                admin_email="admin@trialco.test",
                vertical="retail",
                country="US",
            ),
            services=["meetings", "calling"],
            license_count=25,
            days=30,
            setup="now",
            site_url="trialco.webex.com",
            timezone="UTC",
        ),
        task_queue=orders.task_queue,
    )
    trial_id = handle.id.removeprefix("trial-")
    for _ in range(200):
        rows = await orders.rows(Trial, Trial.id == trial_id)
        if rows and rows[0].state == "active":
            return trial_id, rows[0].customer_org_id
        await asyncio.sleep(0.05)
    raise AssertionError("trial never active")


def _my_company(org_id: str) -> dict:
    return {
        "who": "me",
        "purpose": "my_company",
        "customer_org": {"action": "confirm", "org_id": org_id},
        "services": {
            "meetings": {"sites": [{"name": "trialco-paid", "timezone": "UTC"}]},
            "calling": {"location_name": "HQ", "country": "US"},
        },
        "provision_and_start_billing": True,
    }


async def test_tr_v1_order_converts_the_trial_when_billing_starts(orders: Orders):
    """TR-V1: the order names the trial; on provisioning the trial is converted (its own
    `convert` update), its licences become the paid subscription's (ordered quantities),
    nothing of the trial is deleted."""
    trial_id, org = await _trial(orders, orders.partner, "sales@acme.test")
    h = await orders.ready(trial_id=trial_id, provisioning_contact_email="admin@trialco.test")
    r = await orders.commit(h, **_my_company(org))
    assert r.state == "provisioned", r
    st = await orders.status(h)
    assert st.trial_converted
    [trial] = await orders.rows(Trial, Trial.id == trial_id)
    assert (trial.state, trial.order_id) == ("converted", h.id.removeprefix("order-"))
    lic = await orders.rows(License, License.org_id == org)
    assert sorted((x.service, x.quantity, x.source, x.trial_id) for x in lic) == [
        ("calling", 50, "paid", trial_id),
        ("meetings", 100, "paid", trial_id),
    ]
    row = await orders.row(h.id.removeprefix("order-"))
    assert row.trial_converted_at is not None


async def test_tr_v3_another_contact_is_refused_unless_confirmed(orders: Orders):
    """TR-V3: an order whose contact is not the trial's customer admin would create a new
    org: refused naming TR-V3, unless confirmed."""
    from models.common.refusal import RuleError

    trial_id, _ = await _trial(orders, orders.partner, "sales@acme.test")
    try:
        await orders.accept(trial_id=trial_id)
        raise AssertionError("TR-V3 should refuse")
    except RuleError as err:
        assert [(v.rule, v.field) for v in err.violations] == [
            ("TR-V3", "provisioning_contact_email")
        ]
    h = await orders.ready(trial_id=trial_id, confirm_new_org=True)
    assert (await orders.status(h)).trial_id == trial_id


async def test_tr_v2_tier2_partner_converts_through_its_distributor(orders: Orders):
    """TR-V2: a tier-2 partner's order must go through its distributor."""
    from models.common.refusal import RuleError

    async with orders.db.session() as s:
        from models.common.orgs import create_partner

        tier2 = await create_partner(s, "T2", 2, [("sales@t2.test", "sales")])
    trial_id, org = await _trial(orders, tier2, "sales@t2.test")
    try:
        await orders.accept(
            submitted_by=tier2, trial_id=trial_id, provisioning_contact_email="admin@trialco.test"
        )
        raise AssertionError("TR-V2 should refuse")
    except RuleError as err:
        assert err.violations[0].rule == "TR-V2"
    h = await orders.ready(
        submitted_by=tier2,
        trial_id=trial_id,
        provisioning_contact_email="admin@trialco.test",
        through_distributor=True,
    )
    assert (await orders.commit(h, **_my_company(org))).state == "provisioned"
    [trial] = await orders.rows(Trial, Trial.id == trial_id)
    assert trial.state == "converted"


async def test_tr_v1_a_trial_refusal_refuses_the_commit(orders: Orders):
    """TR-V1/TR-E2: a trial that can no longer convert (cancelled meanwhile) refuses the
    commit with its own rule; nothing of the order changes."""
    trial_id, org = await _trial(orders, orders.partner, "sales@acme.test")
    h = await orders.ready(trial_id=trial_id, provisioning_contact_email="admin@trialco.test")
    from workflows.trials.workflow import TrialLifecycle

    th = orders.env.client.get_workflow_handle(f"trial-{trial_id}")
    await th.signal(TrialLifecycle.cancel, {"by": "partner"})
    for _ in range(200):
        if (await orders.rows(Trial, Trial.id == trial_id))[0].state == "cancelled":
            break
        await asyncio.sleep(0.05)
    before = await orders.snapshot()
    with refused("TR-"):
        await orders.commit(h, **_my_company(org))
    assert await orders.snapshot() == before
    assert (await orders.status(h)).state == "setup_in_progress"
