"""SO-3..SO-13: the set-up wizard as validating updates and one commit."""

from __future__ import annotations

from datetime import UTC, datetime

from models.common.tables import License, Org, OrgUser, PartnerCustomer
from models.orders.store import request_full_admin
from models.orders.tables import MeetingSiteRow, OrderDocument, OrderService, OrgSubdomain
from tests.orders.conftest import new_partner_and_customer, refused
from workflows.orders.workflow import SubscriptionOrder


def oid(h) -> str:
    return h.id.removeprefix("order-")


async def test_so_3_an_abandoned_wizard_saves_nothing(orders):
    """SO-3: every step is checked (orgs found, a new org, services, licence split) and
    the store is byte-for-byte what it was; the next visit starts over from the link."""
    h = await orders.ready()
    before = await orders.snapshot()
    a = orders.answers_for()
    assert (await orders.step(h, "who", who="me")).next_step == "purpose"
    assert (await orders.step(h, "purpose", who="me", purpose="customer")).next_step == (
        "partner-org"
    )
    found = await orders.step(h, "partner-org", who="me", purpose="customer")
    assert found.partner_org.kind == "candidates"
    assert [c.org_id for c in found.partner_org.candidates] == [orders.partner]
    r = await orders.step(
        h,
        "customer-org",
        **{k: a[k] for k in ("who", "purpose", "partner_org")},
        customer_admin_email="admin@newco.test",
    )
    assert r.customer_org.kind == "none" and r.next_step == "customer-org"
    assert (await orders.step(h, "services", **a)).next_step == "review"
    assert (await orders.step(h, "review", **a)).next_step is None
    assert await orders.snapshot() == before
    st = await orders.status(h)
    assert st.state == "setup_in_progress" and st.partner_org_id is None
    # the next visit opens the wizard again from the start: nothing to resume
    await h.execute_update(SubscriptionOrder.begin_setup, {})
    assert (await orders.step(h, "who", who="me")).next_step == "purpose"
    assert await orders.snapshot() == before


async def test_so_3_a_refused_commit_writes_nothing(orders):
    """SO-3/SO-8: a commit with one wrong answer is refused whole."""
    h = await orders.ready()
    before = await orders.snapshot()
    bad = orders.answers_for()
    bad["services"]["meetings"] = {
        "sites": [
            {"name": "newco-a", "timezone": "Europe/Berlin", "licenses": 60},
            {"name": "newco-b", "timezone": "Europe/Berlin", "licenses": 30},
        ]
    }
    with refused("SO-8", "services.meetings.sites"):
        await orders.commit(h, **bad)
    assert await orders.snapshot() == before
    assert (await orders.status(h)).state == "setup_in_progress"


async def test_so_10_provision_and_start_billing(orders, db):
    """SO-10: the subscription is active, billing started for every purchased service set up
    (paid licences of the ordered quantities), a summary PDF is made, the contact is told
    once; the workflow ends provisioned. SO-12: "set up successfully" once both orgs are
    confirmed."""
    h = await orders.ready()
    r = await orders.commit(h, **orders.answers_for())
    assert r.state == "provisioned" and "set up successfully" in r.message
    result = await h.result()
    assert result.state == "provisioned" and result.deferred_services == []
    row = await orders.row(oid(h))
    assert row.subscription_status == "active" and row.partner_org_id == orders.partner
    customer = row.customer_org_id
    [org] = await orders.rows(Org, Org.id == customer)
    assert (org.name, org.kind, org.country, org.site_url) == (
        "NewCo",
        "customer",
        "DE",
        "newco.webex.com",
    )
    assert org.calling_enabled
    lic = await orders.rows(License, License.org_id == customer)
    assert sorted((x.service, x.quantity, x.source) for x in lic) == [
        ("calling", 50, "paid"),
        ("meetings", 100, "paid"),
    ]
    svc = await orders.rows(OrderService, OrderService.order_id == oid(h))
    assert all(x.status == "provisioned" and x.billing_started_at for x in svc)
    [site] = await orders.rows(MeetingSiteRow, MeetingSiteRow.order_id == oid(h))
    assert (site.name, site.licenses, site.timezone) == ("newco", 100, "Europe/Berlin")
    [doc] = await orders.rows(OrderDocument, OrderDocument.order_id == oid(h))
    assert doc.content.startswith(b"%PDF-") and doc.media_type == "application/pdf"
    [told] = await orders.notices(oid(h), "order_provisioned")
    assert told.recipient == "setup@acme.test" and told.sent_at
    [admin] = await orders.rows(OrgUser, OrgUser.org_id == customer)
    assert (admin.email, admin.admin_role) == ("admin@newco.test", "full")
    [pc] = await orders.rows(PartnerCustomer, PartnerCustomer.customer_org_id == customer)
    assert pc.partner_admin_level == "full_admin"  # a customer org the partner created


async def test_so_4_colleague_gets_the_hand_off(orders):
    """SO-4: another person of the partner company finishes: the hand-off email with a new
    link; the order waits for them (no new SO-2 alert: set-up had started)."""
    h = await orders.ready()
    r = await orders.commit(h, who="colleague", handoff_email="Colleague@acme.test")
    assert r.state == "awaiting_setup"
    row = await orders.row(oid(h))
    assert (row.contact_email, row.contact_version, row.setup_by) == (
        "colleague@acme.test",
        1,
        "colleague",
    )
    [mail] = await orders.notices(oid(h), "order_handoff")
    assert mail.recipient == "colleague@acme.test" and "token=" in mail.body
    await h.execute_update(SubscriptionOrder.begin_setup, {})
    with refused("SO-4", "handoff_email"):
        await orders.commit(h, who="colleague", handoff_email="colleague@acme.test")


async def test_so_4_customer_sets_up_a_wx_partner_loses_access(orders):
    """SO-4: in the A-WX/A-SPK flow the customer sets up and the partner cannot manage the
    customer org: the customer maps it for its own company; no partner relationship."""
    h = await orders.ready(offer="A-WX")
    r = await orders.commit(h, who="customer", customer_admin_email="boss@existing.test")
    assert r.state == "awaiting_setup"
    await h.execute_update(SubscriptionOrder.begin_setup, {})
    found = await orders.step(h, "customer-org", who="me", purpose="my_company")
    assert found.customer_org.kind == "exact"
    assert found.customer_org.proposed.org_id == orders.existing
    answers = {
        "who": "me",
        "purpose": "my_company",
        "customer_org": {"action": "confirm", "org_id": orders.existing},
        "services": {"meetings": {"setup": "later"}, "calling": {"setup": "later"}},
    }
    assert (await orders.commit(h, **answers)).state == "mapped"
    row = await orders.row(oid(h))
    assert row.partner_access == "none" and row.customer_org_id == orders.existing
    assert (
        await orders.rows(PartnerCustomer, PartnerCustomer.customer_org_id == orders.existing) == []
    )


async def test_so_4_suite_customer_sets_up_services_partner_keeps_access(orders):
    """SO-4 (Suite flow): "my customer will set up their own services": the partner maps
    both orgs and keeps access; the customer admin gets the service set-up link."""
    h = await orders.ready(offer="A-FLEX")
    answers = {
        **orders.answers_for(),
        "customer_admin_email": "boss@existing.test",
        "customer_org": {"action": "confirm", "org_id": orders.existing},
        "customer_sets_up_services": True,
        "services": None,
        "provision_and_start_billing": False,
    }
    r = await orders.commit(h, **answers)
    assert r.state == "mapped"
    [mail] = await orders.notices(oid(h), "order_customer_setup")
    assert mail.recipient == "boss@existing.test"
    row = await orders.row(oid(h))
    assert row.partner_access == "provisioning_admin"  # SO-7: an existing customer
    st = await orders.status(h)
    assert sorted(st.deferred_services) == ["calling", "meetings"]


async def test_so_5_exact_match_is_proposed_and_must_be_confirmed(orders):
    """SO-5: the contact's email belongs to an org: it is proposed; choosing another org or
    creating one is refused (SO-6: one org per user); confirming it maps the order."""
    h = await orders.ready(provisioning_contact_email="full@acme.test")
    r = await orders.step(h, "partner-org", who="me", purpose="customer")
    assert r.partner_org.kind == "exact" and r.partner_org.proposed.org_id == orders.partner
    assert r.partner_org.proposed.verified_domains == ["acme.test"]
    base = {"who": "me", "purpose": "customer"}
    with refused("SO-6", "partner_org"):
        await orders.step(
            h,
            "partner-org",
            **base,
            partner_org={
                "action": "create",
                "company_name": "X",
                "vertical": "it",
                "country": "US",
            },
        )
    with refused("SO-5", "partner_org.org_id"):
        await orders.step(
            h, "partner-org", **base, partner_org={"action": "confirm", "org_id": orders.existing}
        )
    ok = await orders.step(
        h, "partner-org", **base, partner_org={"action": "confirm", "org_id": orders.partner}
    )
    assert ok.next_step == "customer-org"


async def test_so_5_domain_candidates_with_domains_activity_and_why(orders):
    """SO-5: no exact match: the orgs of the email's domain are offered with verified or
    claimed domains, active users and last activity; an org with neither a verified domain
    nor activity in a year is marked unlikely and ranked last."""
    h = await orders.ready()
    base = {
        "who": "me",
        "purpose": "customer",
        "partner_org": {"action": "choose", "org_id": orders.partner},
    }
    r = await orders.step(
        h, "customer-org", **base, customer_admin_email="new.person@existing.test"
    )
    m = r.customer_org
    assert m.kind == "candidates"
    assert [c.org_id for c in m.candidates] == [orders.existing, orders.stale]
    first, last = m.candidates
    assert (first.likely, first.verified_domains, first.active_users) == (
        True,
        ["existing.test"],
        2,
    )
    assert "verified domain existing.test" in first.why
    assert last.likely is False and last.why.startswith("unlikely")
    with refused("SO-5", "customer_org.org_id"):
        await orders.step(
            h,
            "customer-org",
            **base,
            customer_admin_email="new.person@existing.test",
            customer_org={"action": "choose", "org_id": orders.partner},
        )


async def test_so_5_global_domain_search_offers_orgs_of_another_domain(orders):
    """SO-5: the customer admin's email matches no org (kind none); a global domain search
    at the same step offers the orgs whose domain matches, and the org chosen from it (the
    search sent with the choice) is mapped at the commit."""
    h = await orders.ready()
    base = {
        "who": "me",
        "purpose": "customer",
        "partner_org": {"action": "choose", "org_id": orders.partner},
        "customer_admin_email": "admin@elsewhere.test",
    }
    assert (await orders.step(h, "customer-org", **base)).customer_org.kind == "none"
    search = {"action": "choose", "domain_search": "existing.TEST "}
    r = await orders.step(h, "customer-org", **base, customer_org=search)
    assert r.next_step == "customer-org" and r.customer_org.kind == "candidates"
    assert [c.org_id for c in r.customer_org.candidates] == [orders.existing]
    chosen = {**search, "org_id": orders.existing}
    r = await orders.step(h, "customer-org", **base, customer_org=chosen)
    assert r.next_step == "services"
    with refused("SO-5", "customer_org.org_id"):  # without the search it is not among them
        await orders.step(
            h, "customer-org", **base, customer_org={"action": "choose", "org_id": orders.existing}
        )
    answers = {**orders.answers_for(), **base, "customer_org": chosen}
    assert (await orders.commit(h, **answers)).state == "provisioned"
    assert (await orders.row(oid(h))).customer_org_id == orders.existing


async def test_so_5_not_my_org_stops_the_wizard(orders):
    """SO-5: an org the partner does not recognise stops the wizard (contact Cisco)."""
    h = await orders.ready()
    with refused("SO-5", "partner_org"):
        await orders.step(
            h, "partner-org", who="me", purpose="customer", partner_org={"action": "not_mine"}
        )


async def test_so_6_a_user_belongs_to_one_org(orders):
    """SO-6: a new customer org cannot take an admin who is a user of another org, and the
    partner's contact cannot be the customer admin."""
    h = await orders.ready()
    a = orders.answers_for()
    a["customer_admin_email"] = "u1@existing.test"
    with refused("SO-6", "customer_org"):
        await orders.commit(h, **a)
    a["customer_admin_email"] = "setup@acme.test"
    with refused("SO-6", "customer_admin_email"):
        await orders.commit(h, **a)


async def test_so_7_provisioning_admin_then_full_admin_request_after_setup(orders, db):
    """SO-7: a partner provisioning an existing customer is its provisioning admin; full
    admin can be asked for only once service set-up is finished (the customer's full admins
    are asked)."""
    h = await orders.ready()
    a = orders.answers_for()
    a["customer_admin_email"] = "boss@existing.test"
    a["customer_org"] = {"action": "confirm", "org_id": orders.existing}
    a["services"]["calling"] = {"setup": "later"}
    assert (await orders.commit(h, **a)).state == "provisioned"
    [pc] = await orders.rows(PartnerCustomer, PartnerCustomer.customer_org_id == orders.existing)
    assert pc.partner_admin_level == "provisioning_admin"
    from models.common.refusal import RuleError

    async with db.session() as s:
        try:
            await request_full_admin(s, oid(h), datetime.now(UTC))
            raise AssertionError("SO-7 should refuse while calling waits")
        except RuleError as err:
            assert err.violations[0].rule == "SO-7"
    await h.execute_update(
        SubscriptionOrder.setup_services,
        {"services": {"calling": {"location_name": "HQ", "country": "US"}}},
    )
    await h.result()
    async with db.session() as s:
        await request_full_admin(s, oid(h), datetime.now(UTC))
    [ask] = await orders.notices(oid(h), "order_full_admin_request")
    assert ask.recipient == "boss@existing.test"


async def test_so_8_split_sites_calling_hq_and_subdomain(orders):
    """SO-8: extra sites split the licences (must sum to the purchase); calling needs its
    headquarters; the enterprise subdomain must be free across every org."""
    other = await orders.ready()
    a = orders.answers_for()
    a["services"]["subdomain"] = "newco"
    await orders.commit(other, **a)

    h = await orders.ready()
    b = new_partner_and_customer(
        partner_org={"action": "choose", "org_id": orders.partner},
        customer_admin_email="admin@second.test",
    )
    b["customer_org"]["company_name"] = "Second"
    b["services"]["subdomain"] = "newco"
    b["services"]["meetings"]["sites"] = [{"name": "second", "timezone": "Europe/Berlin"}]
    with refused("SO-8", "services.subdomain"):
        await orders.step(h, "services", **b)
    b["services"]["subdomain"] = "second"
    b["services"]["meetings"]["sites"] = [{"name": "newco", "timezone": "Europe/Berlin"}]
    with refused("SO-8", "services.meetings.sites[0].name"):
        await orders.step(h, "services", **b)
    b["services"]["calling"] = {"location_name": "", "country": "DE"}
    b["services"]["meetings"]["sites"] = [{"name": "second", "timezone": "Europe/Berlin"}]
    with refused("SO-8", "services.calling.location_name"):
        await orders.step(h, "services", **b)
    b["services"]["calling"] = {"location_name": "Munich", "country": "DE"}
    b["services"]["meetings"]["sites"] = [
        {"name": "second-a", "timezone": "Europe/Berlin", "licenses": 70, "early_adopter": True},
        {"name": "second-b", "timezone": "America/New_York", "licenses": 30},
    ]
    assert (await orders.commit(h, **b)).state == "provisioned"
    sites = await orders.rows(MeetingSiteRow, MeetingSiteRow.order_id == oid(h))
    assert sorted((x.name, x.licenses, x.early_adopter) for x in sites) == [
        ("second-a", 70, True),
        ("second-b", 30, False),
    ]
    subs = await orders.rows(OrgSubdomain)
    assert sorted(x.subdomain for x in subs) == ["newco", "second"]


async def test_so_9_set_up_later_provisions_nothing_and_resumes(orders):
    """SO-9: every service set up later: the orgs are mapped, nothing is provisioned or
    billed; set-up resumes later (setup_services) and then provisions."""
    h = await orders.ready()
    a = orders.answers_for()
    a["services"] = {"meetings": {"setup": "later"}, "calling": {"setup": "later"}}
    a["provision_and_start_billing"] = False
    assert (await orders.commit(h, **a)).state == "mapped"
    row = await orders.row(oid(h))
    assert row.subscription_status == "pending"
    assert await orders.rows(License, License.org_id == row.customer_org_id) == []
    assert await orders.notices(oid(h), "order_provisioned") == []
    with refused("SO-9", "provision_and_start_billing"):
        await h.execute_update(
            SubscriptionOrder.setup_services,
            {"services": {"meetings": {"setup": "later"}, "calling": {"setup": "later"}}},
        )
    await h.execute_update(
        SubscriptionOrder.setup_services,
        {
            "services": {
                "meetings": {"sites": [{"name": "resumed", "timezone": "UTC"}]},
                "calling": {"location_name": "HQ", "country": "US"},
            }
        },
    )
    assert (await h.result()).state == "provisioned"
    assert len(await orders.rows(License, License.org_id == row.customer_org_id)) == 2


async def test_so_13_a_service_set_up_later_stays_unbilled(orders):
    """SO-13: calling left for later: meetings provisioned and billed, calling neither,
    until set-up resumes for it."""
    h = await orders.ready()
    a = orders.answers_for()
    a["services"]["calling"] = {"setup": "later"}
    r = await orders.commit(h, **a)
    assert r.state == "provisioned"
    st = await orders.status(h)
    assert st.deferred_services == ["calling"]
    row = await orders.row(oid(h))
    lic = await orders.rows(License, License.org_id == row.customer_org_id)
    assert [(x.service, x.quantity) for x in lic] == [("meetings", 100)]
    with refused("SO-13", "services.meetings"):
        await h.execute_update(
            SubscriptionOrder.setup_services,
            {
                "services": {
                    "meetings": {"sites": [{"name": "again", "timezone": "UTC"}]},
                    "calling": {"location_name": "HQ", "country": "US"},
                }
            },
        )
    await h.execute_update(
        SubscriptionOrder.setup_services,
        {"services": {"calling": {"location_name": "HQ", "country": "US"}}},
    )
    assert (await h.result()).state == "provisioned"
    lic = await orders.rows(License, License.org_id == row.customer_org_id)
    assert sorted((x.service, x.quantity) for x in lic) == [("calling", 50), ("meetings", 100)]
    assert len(await orders.notices(oid(h), "order_provisioned")) == 2


async def test_so_11_for_my_company_maps_one_org(orders):
    """SO-11: declared for my company: one org (the buyer's own), with Cisco's advice shown."""
    h = await orders.ready(provisioning_contact_email="boss@existing.test")
    r = await orders.step(h, "purpose", who="me", purpose="my_company")
    assert r.next_step == "customer-org" and any("Cisco recommends" in i for i in r.info)
    with refused("SO-11", "partner_org"):
        await orders.step(
            h,
            "customer-org",
            who="me",
            purpose="my_company",
            partner_org={"action": "choose", "org_id": orders.partner},
        )
    a = {
        "who": "me",
        "purpose": "my_company",
        "customer_org": {"action": "confirm", "org_id": orders.existing},
        "services": {
            "meetings": {"sites": [{"name": "existing", "timezone": "UTC"}]},
            "calling": {"location_name": "HQ", "country": "US"},
        },
        "provision_and_start_billing": True,
    }
    assert (await orders.commit(h, **a)).state == "provisioned"
    row = await orders.row(oid(h))
    assert (row.partner_org_id, row.customer_org_id, row.purpose) == (
        None,
        orders.existing,
        "my_company",
    )


async def test_so_12_new_partner_org_password_and_purchased_steps_only(orders):
    """SO-12: a newly created partner org sets its password before service set-up; the
    service steps are those of the purchased services only."""
    async with orders.db.session() as s:
        from models.common.orgs import create_partner

        nobody = await create_partner(s, "Ordering Desk", 1, [("desk@desk.test", "full")])
    h = await orders.ready(
        submitted_by=nobody,
        provisioning_contact_email="first@brandnew.test",
        lines=[{"service": "messaging", "quantity": 10}],
    )
    a = {
        "who": "me",
        "purpose": "customer",
        "partner_org": {
            "action": "create",
            "company_name": "Brand New Partner",
            "vertical": "it",
            "country": "FR",
        },
        "customer_admin_email": "admin@client.test",
        "customer_org": {
            "action": "create",
            "company_name": "Client",
            "vertical": "it",
            "country": "FR",
        },
        "services": {"messaging": {"setup": "now"}},
        "provision_and_start_billing": True,
    }
    r = await orders.step(h, "purpose", who="me", purpose="customer")
    assert r.services == ["messaging"]
    with refused("SO-12", "partner_password"):
        await orders.step(h, "services", **a)
    extra = {"messaging": {}, "meetings": {"setup": "later"}}
    with refused("SO-12", "services.meetings"):
        await orders.step(
            h, "services", **{**a, "partner_password": "long-enough-secret", "services": extra}
        )
    a["partner_password"] = "long-enough-secret"
    assert (await orders.commit(h, **a)).state == "provisioned"
    row = await orders.row(oid(h))
    [partner] = await orders.rows(Org, Org.id == row.partner_org_id)
    assert (partner.kind, partner.name) == ("partner", "Brand New Partner")
    assert row.partner_password_hash.startswith("scrypt$")
