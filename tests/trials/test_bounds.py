"""Issue 9 item 2: every value the contract accepts fits the store. What PostgreSQL cannot
hold is refused at the door naming the rule and the field, and nothing is written; what
slips past anyway fails for good (``StoreRefused``) instead of retrying for ever, and says
which constraint without quoting personal data."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from temporalio.exceptions import ApplicationError

from models.common.failures import STORE_REFUSED
from models.common.refusal import RuleError
from models.trials import store
from models.trials.contract import EndServices, NewCustomer, TrialInput, TrialPolicy
from models.trials.rules import parse_request
from tests.trials.helpers import Notice, Org, PhoneNumber, Trial, refused, rows, tid, until
from workflows.trials.workflow import TrialLifecycle


def _request(world, **overrides):
    """A start request as a caller sends it (JSON-shaped), with ``overrides``."""
    customer = dict(
        company_name="NewCo", admin_email="admin@newco.test", vertical="retail", country="US"
    )
    customer.update(overrides.pop("customer", {}))
    base = dict(
        partner_org_id=world.partner_id,
        started_by="sales@partner.test",
        customer=customer,
        services=["messaging"],
        license_count=25,
        days=30,
    )
    return {**base, **overrides}


async def _nothing_written(db) -> None:
    assert await rows(db, Trial) == []
    assert await rows(db, Org, Org.kind == "customer") == []


@pytest.mark.parametrize(
    ("overrides", "rule", "field"),
    [
        ({"customer": {"company_name": "C" * 5000}}, "TR-S2", "customer.company_name"),
        ({"license_count": 2147483648}, "TR-S3", "license_count"),
        ({"customer": {"admin_email": "a" * 290 + "@newco.test"}}, "TR-S2", "customer.admin_email"),
        ({"started_by": "s" * 290 + "@partner.test"}, "TR-S1", "started_by"),
        ({"customer": {"vertical": "v" * 81}}, "TR-S2", "customer.vertical"),
        ({"timezone": "Z" * 100}, "TR-S2", "timezone"),
        ({"site_url": "s" * 300 + ".webex.com"}, "TR-S2", "site_url"),
        ({"services": ["fax"]}, "TR-S2", "services.0"),
        ({"setup": "sometime"}, "TR-S2", "setup"),
    ],
)
async def test_tr_s2_start_values_beyond_the_columns_refused(world, db, overrides, rule, field):
    """TR-S2/TR-S3/TR-S1: a 5,000-character company, 2147483648 licenses, a 300-character
    email, a 100-character time zone or a 300-character site URL is refused naming its rule
    and field before anything starts; nothing is written."""
    with pytest.raises(RuleError) as err:
        parse_request(_request(world, **overrides))
    assert [(v.rule, v.field) for v in err.value.violations] == [(rule, field)]
    await _nothing_written(db)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (
            {"timezone": "Mars/Olympus", "services": ["meetings"], "site_url": "a.webex.com"},
            "timezone",
        ),
        ({"site_url": "not a url", "services": ["meetings"], "timezone": "UTC"}, "site_url"),
        ({"customer": {"company_name": "Bad\x00Co"}}, "customer.company_name"),
    ],
)
async def test_tr_s2_bad_time_zone_site_url_or_control_characters_refused(
    world, db, overrides, field
):
    """TR-S2: a time zone that is not an IANA zone, a site URL that is not a host name and a
    company name with control characters are refused by the start rules; nothing written."""
    with pytest.raises(RuleError) as err:
        await world.start(parse_request(_request(world, **overrides)))
    assert ("TR-S2", field) in [(v.rule, v.field) for v in err.value.violations]
    await _nothing_written(db)


async def test_tr_d3_change_services_values_beyond_the_columns_refused(world, run_worker, db):
    """TR-D3 (issue 9 item 2): `change_services` with 2147483648 licenses, a 100-character or
    unknown time zone, or a 300-character site URL is refused naming the field; the trial,
    its licenses and its org are unchanged, and a later valid change is still applied."""
    async with run_worker():
        h = await world.start(setup="now")
        before = await until(h, lambda s: s.state == "active")
        for payload, field in (
            ({"license_count": 2147483648}, "license_count"),
            ({"add": ["meetings"], "site_url": "a.webex.com", "timezone": "Z" * 100}, "timezone"),
            (
                {"add": ["meetings"], "site_url": "a.webex.com", "timezone": "Mars/Olympus"},
                "timezone",
            ),
            ({"add": ["meetings"], "site_url": "s" * 300, "timezone": "UTC"}, "site_url"),
        ):
            with refused("TR-D3", field):
                await h.execute_update(TrialLifecycle.change_services, payload)
        st = await h.query(TrialLifecycle.status)
        assert (st.state, st.services, st.license_count) == (
            "active",
            before.services,
            before.license_count,
        )
        (org,) = await rows(db, Org, Org.id == st.customer_org_id)
        assert (org.site_url, org.timezone) == (None, None)
        r = await h.execute_update(
            TrialLifecycle.change_services,
            {"add": ["meetings"], "site_url": "newco.webex.com", "timezone": "europe/oslo"},
        )
        assert r.state == "active"
        (org,) = await rows(db, Org, Org.id == st.customer_org_id)
        assert (org.site_url, org.timezone) == ("newco.webex.com", "Europe/Oslo")


async def test_tr_e5_number_of_another_org_refused_before_the_start(world, db):
    """TR-E5 (issue 9, "also seen"): a number assigned to another org is refused by the start
    checks, naming ``customer.numbers``; no workflow starts and nothing is written (it used
    to pass, then `open_trial` retried its unique-constraint failure for ever)."""
    holder = await world.org("Holder Co", numbers=["+14155550100"])
    customer = NewCustomer(
        company_name="NewCo",
        admin_email="admin@newco.test",
        vertical="retail",
        country="US",
        numbers=["+14155550100"],
    )
    with pytest.raises(RuleError) as err:
        await world.start(customer=customer)
    assert [(v.rule, v.field) for v in err.value.violations] == [("TR-E5", "customer.numbers")]
    assert await rows(db, Trial) == []
    (number,) = await rows(db, PhoneNumber)
    assert (number.org_id, number.state) == (holder, "assigned")
    assert await rows(db, Notice) == []


async def test_store_refuses_for_good_what_the_column_cannot_hold(world, db):
    """A value past the contract (built without validation) fails `open_trial` for good
    (non-retryable ``StoreRefused``) and the error names the constraint, not the value."""
    inp = TrialInput.model_construct(
        trial_id="t-long",
        partner_org_id=world.partner_id,
        partner_tier=1,
        customer_org_id="org-t-long",
        new_customer=True,
        needs_consent=False,
        paying_customer=False,
        customer_admin_email="admin@newco.test",
        started_by="sales@partner.test",
        services=["messaging"],
        license_count=5,
        days=30,
        setup="later",
        site_url=None,
        timezone=None,
        customer=NewCustomer.model_construct(
            company_name="Secret Company " * 400,
            admin_email="admin@newco.test",
            vertical="retail",
            country="US",
            numbers=[],
        ),
        policy=TrialPolicy(),
    )
    with pytest.raises(ApplicationError) as err:
        await store.open_trial(db, inp, "trial-t-long")
    assert err.value.type == STORE_REFUSED and err.value.non_retryable
    assert "Secret Company" not in str(err.value) and "admin@newco.test" not in str(err.value)
    await _nothing_written(db)


async def test_tr_e5_end_services_says_how_many_numbers_are_retained(world, run_worker, db):
    """TR-E5 / issue 9 item 11: `end_trial_services` answers how many numbers it retained, so
    a cancelled calling trial without numbers has nothing to wait 15 days for."""
    async with run_worker():
        h = await world.start(setup="now")  # calling, and the new customer has no numbers
        await until(h, lambda s: s.state == "active")
    at = datetime.now(UTC)
    req = EndServices(trial_id=tid(h), at=at, numbers_release_at=at)
    assert await store.end_trial_services(db, req) == 0
    assert await store.end_trial_services(db, req) == 0  # a retry: the same answer


async def test_missing_trial_fails_for_good_outside_a_retry_window(db):
    """No activity retries for ever: a trial that does not exist is ``NotFound``, non-retryable
    (inside an activity, after a few attempts: an update may race the first write)."""
    with pytest.raises(ApplicationError) as err:
        await store.record_consent(db, "no-such-trial", "full_admin")
    assert err.value.type == "NotFound" and err.value.non_retryable


async def test_tr_s2_org_set_up_refuses_what_the_columns_cannot_hold(world, db):
    """TR-S2/TR-S6 at org set-up (CLI `org create`, `partner create`): a 5,000-character
    name or 2147483648 paid licenses is refused naming the field; nothing is written."""
    with pytest.raises(RuleError) as err:
        await world.org("N" * 5000)
    assert [(v.rule, v.field) for v in err.value.violations] == [("TR-S2", "name")]
    with pytest.raises(RuleError) as err:
        await world.org("Fine Co", paid={"calling": 2147483648})
    assert [(v.rule, v.field) for v in err.value.violations] == [("TR-S6", "paid")]
    assert await rows(db, Org, Org.kind == "customer") == []
