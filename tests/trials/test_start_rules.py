"""TR-S*: who may start a trial, with what, and what a start writes (or refuses to)."""

from __future__ import annotations

import pytest

from models.common.refusal import RuleError
from models.trials.contract import NewCustomer, ProvisionRequest
from tests.trials.helpers import (
    License,
    Org,
    PartnerCustomer,
    Trial,
    recipients,
    refused,
    rows,
    tid,
    until,
)
from workflows.trials.workflow import TrialLifecycle


async def _nothing_written(db) -> None:
    assert await rows(db, Trial) == []
    assert await rows(db, Org, Org.kind == "customer") == []


async def test_tr_s1_only_sales_admins_start_trials(world, run_worker, db):
    """TR-S1: a read-only or full partner admin is refused; sales and sales-full may start."""
    for who in ("ro@partner.test", "full@partner.test", "nobody@partner.test"):
        with pytest.raises(RuleError) as err:
            await world.start(started_by=who)
        assert [v.rule for v in err.value.violations] == ["TR-S1"]
        assert err.value.violations[0].field == "started_by"
    await _nothing_written(db)
    async with run_worker():
        for who in ("sales@partner.test", "salesfull@partner.test"):
            h = await world.start(
                started_by=who,
                customer=NewCustomer(
                    company_name=f"Co {who}",
                    admin_email=f"a.{who}",
                    vertical="retail",
                    country="US",
                ),
            )
            assert (await until(h, lambda s: True)).state == "awaiting_provisioning"


async def test_tr_s1_admin_of_another_partner_is_refused(world):
    """TR-S1: the admin must belong to the partner org starting the trial."""
    with pytest.raises(RuleError) as err:
        await world.start(started_by="sales@tier2.test")
    assert err.value.violations[0].rule == "TR-S1"


async def test_tr_s2_missing_fields_are_named_and_nothing_is_written(world, db):
    """TR-S2: every missing field of a new-customer trial is named at once, with the rule."""
    with pytest.raises(RuleError) as err:
        await world.start(
            customer=NewCustomer(company_name="", admin_email=None, vertical=None, country=None),
            services=[],
            license_count=None,
            days=None,
        )
    fields = {v.field for v in err.value.violations}
    assert {v.rule for v in err.value.violations} == {"TR-S2"}
    assert fields == {
        "customer.company_name",
        "customer.admin_email",
        "customer.vertical",
        "customer.country",
        "services",
        "license_count",
        "days",
    }
    assert "TR-S2 (customer.country)" in str(err.value)
    await _nothing_written(db)


async def test_tr_s2_meetings_needs_site_url_and_timezone(world, db):
    """TR-S2: Meetings (Enterprise) also needs a site URL and a time zone."""
    with pytest.raises(RuleError) as err:
        await world.start(services=["meetings"])
    assert {(v.rule, v.field) for v in err.value.violations} == {
        ("TR-S2", "site_url"),
        ("TR-S2", "timezone"),
    }
    await _nothing_written(db)


async def test_tr_s2_country_decides_data_residency(world, run_worker, db):
    """TR-S2: the country decides the data-residency region of the new org."""
    async with run_worker():
        h = await world.start(
            customer=NewCustomer(
                company_name="Fjord AS", admin_email="a@fjord.test", vertical="energy", country="NO"
            ),
        )
        st = await until(h, lambda s: s.state == "awaiting_provisioning")
    org = (await rows(db, Org, Org.id == st.customer_org_id))[0]
    assert (org.country, org.region, org.name) == ("NO", "europe", "Fjord AS")


async def test_tr_s3_license_count_applies_to_every_service_but_devices(world, run_worker, db):
    """TR-S3: 200 licenses means 200 for each chosen service, none for devices."""
    async with run_worker():
        h = await world.start(
            services=["messaging", "calling", "devices"], license_count=200, setup="now"
        )
        st = await until(h, lambda s: s.state == "active")
    lic = await rows(db, License, License.org_id == st.customer_org_id)
    assert sorted((x.service, x.quantity, x.source) for x in lic) == [
        ("calling", 200, "trial"),
        ("messaging", 200, "trial"),
    ]


async def test_tr_s5_set_up_now_or_later_and_welcome_email(world, run_worker, db):
    """TR-S5: set up now activates at once; later waits for `provision`. The customer admin
    gets the welcome email when the services are provisioned, not before."""
    async with run_worker():
        now = await world.start(setup="now")
        st = await until(now, lambda s: s.state == "active")
        assert st.activated_at is not None and st.ends_at == st.activated_at + _days(30)
        assert await recipients(db, tid(now), "welcome") == {"admin@newco.test": 1}

        later = await world.start(
            setup="later",
            customer=NewCustomer(
                company_name="Later Co", admin_email="a@later.test", vertical="retail", country="US"
            ),
        )
        st = await until(later, lambda s: s.state == "awaiting_provisioning")
        assert st.ends_at is None
        assert await recipients(db, tid(later), "welcome") == {}
        r = await later.execute_update(TrialLifecycle.provision, ProvisionRequest())
        assert r.state == "active"
        assert await recipients(db, tid(later), "welcome") == {"a@later.test": 1}
        with refused("TR-S5", "state"):  # already provisioned
            await later.execute_update(TrialLifecycle.provision, ProvisionRequest())


def _days(n: int):
    from datetime import timedelta

    return timedelta(days=n)


async def test_tr_s6_only_services_not_bought_and_not_trialled(world, run_worker, db):
    """TR-S6: bought services and services another partner trials are refused."""
    org = await world.org(paid={"meetings": 50})
    with pytest.raises(RuleError) as err:
        await world.start(
            org_id=org,
            customer=None,
            services=["meetings", "calling"],
            site_url="x.webex.com",
            timezone="UTC",
        )
    assert [(v.rule, v.field) for v in err.value.violations] == [("TR-S6", "services")]
    assert "already bought meetings" in str(err.value)
    async with run_worker():
        other = await world.start(
            org_id=org,
            customer=None,
            started_by="sales@tier2.test",
            partner_org_id=world.tier2_partner_id,
            services=["calling"],
        )
        await until(other, lambda s: any(n.kind == "consent_request" for n in s.notices))
        with pytest.raises(RuleError, match="calling is already in a trial of another partner"):
            await world.start(org_id=org, customer=None, services=["calling"])
        ok = await world.start(org_id=org, customer=None, services=["messaging"])
        st = await until(ok, lambda s: any(n.kind == "consent_request" for n in s.notices))
        assert st.state == "pending_consent"
    assert len(await rows(db, Trial)) == 2


async def test_tr_s7_trial_on_paying_customer_emails_every_admin(world, run_worker, db):
    """TR-S7: a trial added to a paying customer's org (a sales relationship: no consent)
    emails every customer admin that the trial started."""
    org = await world.org(paid={"messaging": 10}, managed_by=world.partner_id)
    async with run_worker():
        h = await world.start(org_id=org, customer=None, services=["calling"])
        st = await until(h, lambda s: any(n.kind == "trial_started" for n in s.notices))
        assert st.state == "awaiting_provisioning"
        assert st.partner_admin_level == "full_admin"
    assert await recipients(db, tid(h), "trial_started") == {
        "boss@existing.test": 1,
        "ro@existing.test": 1,
    }
    assert await recipients(db, tid(h), "consent_request") == {}


async def test_tr_s8_partner_cannot_trial_for_itself(world, db):
    """TR-S8: the partner's own org (or one of its admins' emails) is refused."""
    with pytest.raises(RuleError) as err:
        await world.start(org_id=world.partner_id, customer=None)
    assert err.value.violations[0].rule == "TR-S8"
    with pytest.raises(RuleError) as err:
        await world.start(
            customer=NewCustomer(
                company_name="Me", admin_email="full@partner.test", vertical="it", country="US"
            )
        )
    assert err.value.violations[0].rule == "TR-S8"
    assert await rows(db, Trial) == [] and await rows(db, PartnerCustomer) == []
